"""A data source on Spark: validated by the DuckDB loader, handed to Spark as Parquet.

The data contract (types, defaults, rejected rows, duplicate keys, rules across tables) has
one implementation, `dashboard.core.source.load_source`. Spark gets its result: every contract
table (absent optional tables as empty ones, like DuckDB's) written as one Parquet file per
table into a work folder, read back with the contract's types, `_row` included (offline_online
breaks ties by it). `has` and `has_column` answer from the DuckDB load's report, so a metric is
available on Spark exactly when it is on DuckDB.

Written through Arrow record batches, not DuckDB's `COPY … TO`: the loaded source may read and
write no file (`enable_external_access = false`, configuration locked; see source.py).

At a billion events a week this hand-off is the bottleneck, because the validation runs on one
machine: see docs/scale-out.md for what a Spark-side validation would need.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.engine.contract import SQL_TYPES, TABLES
from dashboard.engine.source import Source, TableReport

# The contract's DuckDB types as Spark types. A DuckDB TIMESTAMP is a naive UTC instant, and so
# is Spark's TIMESTAMP_NTZ (sqlglot maps DuckDB `timestamp` to it and `timestamptz` to Spark's
# TIMESTAMP; with the session in UTC the two agree on every instant).
SPARK_TYPES = {
    "VARCHAR": "string",
    "TIMESTAMP": "timestamp_ntz",
    "DECIMAL(18,4)": "decimal(18,4)",
    "BIGINT": "bigint",
    "BOOLEAN": "boolean",
    "DOUBLE": "double",
    "DATE": "date",
}
BATCH_ROWS = 1_000_000


def table_schema(table: str) -> dict[str, str]:
    """{column: Spark type} of a loaded contract table, `_row` first as in DuckDB."""
    return {"_row": "bigint", **{c.name: SPARK_TYPES[SQL_TYPES[c.kind]] for c in TABLES[table].columns}}


@dataclass
class SparkSource:
    """What `MetricContext.source` offers (has, has_column, tables, name), with the data on Spark."""

    spark: object  # pyspark.sql.SparkSession
    path: Path
    tables: dict[str, TableReport]
    folder: Path  # the Parquet hand-off: one file per contract table
    loaded_at: object = None
    _owns_folder: bool = True
    _cached: list = field(default_factory=list)

    def has(self, *tables: str) -> bool:
        return all(t in self.tables for t in tables)

    def has_column(self, table: str, column: str) -> bool:
        return table in self.tables and column in self.tables[table].columns_present

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def schema(self) -> dict[str, dict[str, str]]:
        return {table: table_schema(table) for table in TABLES}

    def frame(self, session, table: str):
        """The table as a DataFrame of `session`, with the contract's types.

        The schema is given, not inferred: the files were written from these very types, and
        reading no footer keeps a run's registration of 13 tables cheap.
        """
        ddl = ", ".join(f"`{column}` {kind}" for column, kind in table_schema(table).items())
        return session.read.schema(ddl).parquet(str(self.folder / f"{table}.parquet"))

    def register(self, session) -> None:
        """Every contract table as a temporary view of `session` (a session of this source's
        SparkContext). The plans equal those cached at load, so Spark reads them from memory."""
        for table in TABLES:
            self.frame(session, table).createOrReplaceTempView(table)

    def close(self) -> None:
        for frame in self._cached:
            frame.unpersist()
        self._cached.clear()
        if self._owns_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def from_duckdb(source: Source, spark, work_dir: str | Path | None = None, cache: bool = True) -> SparkSource:
    """Hand a loaded (validated) DuckDB source to Spark.

    `work_dir`: where the Parquet hand-off goes (a new temporary folder inside it; the system
    temp folder by default). With a cluster master it must be a folder every executor reads at
    the same path (a shared mount). `cache`: keep the tables in Spark's memory (spilling to disk),
    as DuckDB keeps them, since every metric reads events several times.
    """
    import pyarrow.parquet as pq

    folder = Path(tempfile.mkdtemp(prefix="recdash-spark-", dir=str(work_dir) if work_dir else None))
    cursor = source.cursor()
    try:
        for table in TABLES:
            columns = ", ".join(table_schema(table))  # contract names only
            reader = cursor.sql(f"SELECT {columns} FROM {table}").to_arrow_reader(BATCH_ROWS)
            schema = _plain_schema(reader.schema)
            with pq.ParquetWriter(folder / f"{table}.parquet", schema) as writer:
                for batch in reader:
                    writer.write_batch(_plain_batch(batch, schema))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        cursor.close()
    spark_source = SparkSource(spark=spark, path=source.path, tables=dict(source.tables), folder=folder,
                               loaded_at=source.loaded_at)
    if cache:
        from pyspark import StorageLevel

        for table in TABLES:
            frame = spark_source.frame(spark, table).persist(StorageLevel.MEMORY_AND_DISK)
            spark_source._cached.append(frame)
    return spark_source


def _plain_schema(schema):
    """Arrow types every Parquet reader knows: DuckDB may hand out string views."""
    import pyarrow as pa

    fields = []
    for f in schema:
        kind = f.type
        if pa.types.is_string_view(kind) or pa.types.is_large_string(kind):
            kind = pa.string()
        fields.append(pa.field(f.name, kind))
    return pa.schema(fields)


def _plain_batch(batch, schema):
    return batch if batch.schema.equals(schema) else batch.cast(schema)

