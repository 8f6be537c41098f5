"""A metric run on Spark, with the interface of `dashboard.engine.context.MetricContext`.

The metric modules (`dashboard/engine/metrics/*.py`) call `ctx.require`, `ctx.query`,
`ctx.source.has`/`has_column` and `ctx.params`; this class answers all of them, so the same
modules run unchanged on Spark:

- `stage(name)` runs the staging query (translated, or its Spark twin) and keeps the result as
  a cached temporary view named like DuckDB's temp table;
- `query(name)` runs a metric query and returns a pandas DataFrame with the dtypes DuckDB's
  `.df()` gives (converted from Arrow to the same dtypes), so the Python statistics,
  the CSV writer and the tests see the same values and types from either engine.

Each context works in its own Spark session (`newSession()`: its own temporary views, shared
SparkContext and cache), as each DuckDB MetricContext has its own cursor and temp tables.
"""
from __future__ import annotations

import pandas as pd

from dashboard.engine.context import MetricContext
from dashboard.engine.params import Params
from dashboard.engine.spark import transpile
from dashboard.engine.spark.source import SparkSource


class SparkMetricContext:
    def __init__(self, source: SparkSource, params: Params | None = None):
        self.source = source
        self.params = params or Params()
        self.spark = source.spark.newSession()
        source.register(self.spark)
        self._bound = self.params.sql()
        self._staged: dict[str, object] = {}
        self._results: dict[tuple, pd.DataFrame] = {}
        self._schema: dict[str, dict[str, str]] = dict(source.schema)

    # Same wording of "unavailable" as on DuckDB.
    require = MetricContext.require

    def stage(self, name: str) -> None:
        """Materialise staging view `name` (and what it depends on) once per run."""
        if name in self._staged:
            return
        query = f"staging/{name}"
        for dependency in transpile.dependencies(query):
            self.stage(dependency)
        from pyspark import StorageLevel

        frame = self._frame(query, self._bound).persist(StorageLevel.MEMORY_AND_DISK)
        frame.createOrReplaceTempView(name)
        self._schema[name] = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
        self._staged[name] = frame

    def query(self, name: str, **extra) -> pd.DataFrame:
        """Run `queries/metrics/<name>.sql` after building the staging views it reads.

        A run's data and parameters are fixed, so a query asked for again (offline_online asks
        for offline_metrics, which the export computed already) is answered from memory: on
        Spark every query costs seconds of scheduling even on small data.
        """
        key = (name, tuple(sorted(extra.items())))
        if key not in self._results:
            query = f"metrics/{name}"
            for dependency in transpile.dependencies(query):
                self.stage(dependency)
            self._results[key] = to_pandas(self._frame(query, {**self._bound, **extra}))
        return self._results[key].copy()

    def spark_sql(self, name: str) -> str:
        """The Spark SQL that runs for `queries/<name>.sql` in this context (for reading)."""
        return transpile.spark_sql(name, self._visible_schema(name))

    def _frame(self, query: str, params: dict):
        needed = transpile.parameter_names(query)
        missing = needed - params.keys()
        if missing:
            raise KeyError(f"queries/{query}.sql needs parameters {sorted(missing)} that were not given")
        try:
            text = transpile.spark_sql(query, self._visible_schema(query))
            # Values reach Spark only as bound parameters (Spark's named parameter markers).
            return self.spark.sql(text, args={n: _spark_value(params[n]) for n in sorted(needed)})
        except Exception as exc:
            exc.add_note(f"while running queries/{query}.sql on Spark (see ctx.spark_sql({query!r}))")
            raise

    def _visible_schema(self, query: str) -> dict[str, dict[str, str]]:
        # The base tables plus the staging views the query declares: the same schema for the
        # same query in every run, so that its translation is cached once.
        names = set(self.source.schema) | set(transpile.dependencies(query))
        return {n: self._schema[n] for n in names if n in self._schema}

    def close(self) -> None:
        for frame in self._staged.values():
            frame.unpersist()
        self._staged.clear()


def _spark_value(value):
    """A parameter value as pyspark turns it into a SQL literal (lists become arrays)."""
    return list(value) if isinstance(value, tuple) else value


def to_pandas(frame) -> pd.DataFrame:
    """The DataFrame as DuckDB's `.df()` would give it, converted by Arrow alone: DATE and
    TIMESTAMP as datetime64[us] (naive UTC), DECIMAL as float64, integers and booleans nullable
    (pandas' Int64/boolean) only when they hold a NULL, text as pandas' string dtype."""
    return arrow_to_pandas(frame.toArrow())


def arrow_to_pandas(table) -> pd.DataFrame:
    """An Arrow table as pandas with the dtypes of DuckDB's `.df()` (tests/test_spark_validation.py
    compares the two conversions column type by column type)."""
    import pyarrow as pa

    columns = {}
    for name, column in zip(table.column_names, table.columns):
        kind = column.type
        if pa.types.is_timestamp(kind):
            if kind.tz is not None:  # Spark's TIMESTAMP (an instant) arrives tz-aware in UTC
                column = column.cast(pa.timestamp(kind.unit, tz="UTC")).cast(pa.timestamp(kind.unit))
            column = column.cast(pa.timestamp("us"))
        elif pa.types.is_date(kind):
            column = column.cast(pa.timestamp("us"))
        elif pa.types.is_decimal(kind):
            column = column.cast(pa.float64())
        elif pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            column = column.cast(pa.string())
        kind = column.type
        if column.null_count and (pa.types.is_integer(kind) or pa.types.is_boolean(kind)):
            dtype = pd.BooleanDtype() if pa.types.is_boolean(kind) else pd.api.types.pandas_dtype(
                f"{'U' if pa.types.is_unsigned_integer(kind) else ''}Int{kind.bit_width}")
            series = column.to_pandas(types_mapper={kind: dtype}.get)
        else:
            series = column.to_pandas()
        columns[name] = series.reset_index(drop=True)
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))
