"""A data source on Spark: its clean contract tables as DataFrames, and the load's report.

Two ways to get one:
- `dashboard.engine.spark.validate.load_source`: Spark reads and validates the source files itself
  (`validate --engine spark`, `export --engine spark`); DuckDB is not involved.
- `from_duckdb`: a source already loaded and validated by DuckDB, handed over as Parquet (the
  metric parity tests use it, so that both engines compute from the very same clean rows).

Either way every contract table (absent optional tables as empty ones, like DuckDB's) is a
global temporary view of the SparkContext with the contract's types, `_row` included
(offline_online breaks ties by it), and `register` makes them the plain table names of a
session. `has` and `has_column` answer from the load's report, so a metric is available on
Spark exactly when it is on DuckDB.
"""
from __future__ import annotations

import itertools
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.engine.contract import SQL_TYPES, TABLES
from dashboard.engine.loading import TableReport

# The contract's DuckDB types as Spark types (DuckDB's TIMESTAMP is a naive UTC instant, as is
# Spark's TIMESTAMP_NTZ).
SPARK_TYPES = {
    "VARCHAR": "string",
    "TIMESTAMP": "timestamp_ntz",
    "DECIMAL(18,4)": "decimal(18,4)",
    "BIGINT": "bigint",
    "BOOLEAN": "boolean",
    "DOUBLE": "double",
    "DATE": "date",
}


def table_schema(table: str) -> dict[str, str]:
    """{column: Spark type} of a loaded contract table, `_row` first as in DuckDB."""
    return {"_row": "bigint", **{c.name: SPARK_TYPES[SQL_TYPES[c.kind]] for c in TABLES[table].columns}}


BATCH_ROWS = 1_000_000
_SOURCE_NUMBERS = itertools.count(1)


@dataclass
class SparkSource:
    """What `MetricContext.source` offers (has, has_column, tables, name), with the data on Spark."""

    spark: object  # pyspark.sql.SparkSession
    path: Path
    tables: dict[str, TableReport]
    views: dict[str, str]  # contract table -> its global temporary view (`global_temp.<name>`)
    loaded_at: object = None
    folder: Path | None = None  # from_duckdb's Parquet hand-off, removed on close
    _cached: list = field(default_factory=list)

    @classmethod
    def from_frames(cls, spark, path: Path, tables: dict[str, TableReport], frames: dict, *, loaded_at=None,
                    cached: list | None = None, folder: Path | None = None) -> "SparkSource":
        """A source of these DataFrames (one per table given; the other contract tables empty)."""
        from pyspark.sql import functions as F

        prefix = f"recdash_source_{next(_SOURCE_NUMBERS)}"
        views = {}
        for table in TABLES:
            schema = table_schema(table)
            frame = frames.get(table)
            if frame is None:
                frame = spark.createDataFrame([], ", ".join(f"`{c}` {t}" for c, t in schema.items()))
            frame = frame.select(*[F.col(c).cast(t).alias(c) for c, t in schema.items()])
            views[table] = f"{prefix}_{table}"
            frame.createOrReplaceGlobalTempView(views[table])
        return cls(spark=spark, path=path, tables=tables, views=views, loaded_at=loaded_at, folder=folder,
                   _cached=list(cached or []))

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
        """The table as a DataFrame of `session` (a session of this source's SparkContext)."""
        return session.table(f"global_temp.{self.views[table]}")

    def register(self, session) -> None:
        """Every contract table as a temporary view of `session`, under its own name."""
        for table in TABLES:
            self.frame(session, table).createOrReplaceTempView(table)

    def cursor(self) -> "_SparkCursor":
        """A DB-API-like cursor for the few plain counts read off a source outside the metric SQL
        (families.py asks whether any impression has a propensity): SQL valid on both engines."""
        session = self.spark.newSession()
        self.register(session)
        return _SparkCursor(session)

    def close(self) -> None:
        for view in self.views.values():
            self.spark.catalog.dropGlobalTempView(view)
        for frame in self._cached:
            frame.unpersist()
        self._cached.clear()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


class _SparkCursor:
    def __init__(self, session):
        self._session, self._rows = session, []

    def execute(self, sql: str, params: dict | None = None) -> "_SparkCursor":
        self._rows = [tuple(row) for row in self._session.sql(sql, args=params or None).collect()]
        return self

    def fetchall(self) -> list[tuple]:
        return self._rows

    def close(self) -> None:
        self._rows = []


def from_duckdb(source, spark, work_dir: str | Path | None = None, cache: bool = True) -> SparkSource:
    """Hand a loaded (validated) DuckDB source to Spark.

    `work_dir`: where the Parquet hand-off goes (a new temporary folder inside it; the system
    temp folder by default). With a cluster master it must be a folder every executor reads at
    the same path (a shared mount). `cache`: keep the tables in Spark's memory (spilling to disk),
    as DuckDB keeps them, since every metric reads events several times.
    """
    import pyarrow.parquet as pq

    from dashboard.engine.source.keys import readable_sql  # (a DuckDB source: DuckDB is there)

    folder = Path(tempfile.mkdtemp(prefix="recdash-spark-", dir=str(work_dir) if work_dir else None))
    cursor = source.cursor()
    try:
        for table in TABLES:
            # the rows as the source gave them: ids as text, not the keys DuckDB stores them as
            rows = readable_sql(cursor, table, list(table_schema(table)))  # contract names only
            reader = cursor.sql(rows).to_arrow_reader(BATCH_ROWS)
            schema = _plain_schema(reader.schema)
            with pq.ParquetWriter(folder / f"{table}.parquet", schema) as writer:
                for batch in reader:
                    writer.write_batch(_plain_batch(batch, schema))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        cursor.close()
    frames, cached = {}, []
    for table in TABLES:
        ddl = ", ".join(f"`{column}` {kind}" for column, kind in table_schema(table).items())
        frame = spark.read.schema(ddl).parquet(str(folder / f"{table}.parquet"))
        if cache:
            from pyspark import StorageLevel

            frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
            cached.append(frame)
        frames[table] = frame
    return SparkSource.from_frames(spark, source.path, dict(source.tables), frames, loaded_at=source.loaded_at,
                                   cached=cached, folder=folder)


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

