"""The metric tables on Apache Spark, from the same queries/ SQL (see docs/scale-out.md).

- `session.py`   the SparkSession (UTC, ANSI, Arrow; `local[*]` by default, nothing downloaded)
- `transpile.py` queries/*.sql -> Spark SQL: sqlglot plus named rewrites, or a Spark twin
                 from queries/spark/ where a DuckDB-only piece has no translation
- `validate.py`  the data contract on Spark: reads and checks the source files, DuckDB's report
- `source.py`    SparkSource: the clean tables as views (and `from_duckdb`, used by parity tests)
- `context.py`   SparkMetricContext: MetricContext's interface, so metric modules run unchanged
- `engine.py`    compute every table / export them, as dashboard.engine.export does on DuckDB

The exported tables are read back by `dashboard.review.exported` (engine-neutral).
Nothing here is imported by the DuckDB path, pyspark is imported only when Spark is used, and
`validate`/`export --engine spark` never import DuckDB (tests/test_spark_validation.py).
"""
