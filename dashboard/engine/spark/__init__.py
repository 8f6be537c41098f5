"""The metric tables on Apache Spark, from the same queries/ SQL (see docs/scale-out.md).

- `session.py`   the SparkSession (UTC, ANSI, Arrow; `local[*]` by default, nothing downloaded)
- `transpile.py` queries/*.sql -> Spark SQL: sqlglot plus named rewrites, or a Spark twin
                 from queries/spark/ where a DuckDB-only piece has no translation
- `source.py`    a DuckDB-validated source handed to Spark as Parquet
- `context.py`   SparkMetricContext: MetricContext's interface, so metric modules run unchanged
- `engine.py`    compute every table / export them, as dashboard.core.export does on DuckDB

The exported tables are read back by `dashboard.core.exported` (engine-neutral).
Nothing here is imported by the DuckDB path, and pyspark is imported only when Spark is used.
"""
