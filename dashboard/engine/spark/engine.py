"""Every metric table on Spark, and `export` with `--engine spark`.

The same metric modules and the same CSV writer as the DuckDB path (`dashboard.engine.export`);
only the context differs.
"""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Callable

import pandas as pd

from dashboard.engine import export as export_files  # (`export` is this module's command)
from dashboard.engine.export import ExportResult
from dashboard.engine.metrics import METRIC_TABLES
from dashboard.engine.params import Params

# pyspark and sqlglot are imported only once Spark is known to be usable (check_available), so
# that a machine without them gets a one-line error from the CLI, never an ImportError.


class EngineUnavailable(Exception):
    """Spark cannot run here (pyspark or Java missing); the message says what to install."""


def compute_all(source, params: Params, progress: Callable[[str], None] | None = None,
                tables: tuple[str, ...] = METRIC_TABLES) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Every metric table that the source can feed, and the reasons for the others."""
    from dashboard.engine.spark.context import SparkMetricContext

    return export_files.compute_all(source, params, progress, tables, new_context=SparkMetricContext)


def write_tables(source, params: Params, out_dir: str | Path,
                 progress: Callable[[str], None] | None = None, tables: tuple[str, ...] = METRIC_TABLES,
                 zip_name: str | None = None) -> ExportResult:
    """The files `dashboard.engine.export.export_tables` writes, with engine "spark"."""
    computed, unavailable = compute_all(source, params, progress, tables)
    about = {**export_files.describe_params(source.name, params),
             "engine": f"Spark {source.spark.version} ({source.spark.sparkContext.master})"}
    return export_files.write_export(out_dir, computed, unavailable, source.name, params, "spark", zip_name, about)


def check_available() -> None:
    """EngineUnavailable unless pyspark, sqlglot and a Java runtime are installed (no JVM started)."""
    missing = [name for name in ("pyspark", "sqlglot") if importlib.util.find_spec(name) is None]
    if missing:
        raise EngineUnavailable(f"--engine spark needs {' and '.join(missing)}: pip install pyspark sqlglot")
    from dashboard.engine.spark.session import java_problem

    problem = java_problem()
    if problem:
        raise EngineUnavailable(f"--engine spark needs a Java runtime (17 or newer): {problem}")


def start(master: str | None = None):
    """The SparkSession, or EngineUnavailable with what is missing or why the JVM did not start."""
    check_available()
    from dashboard.engine.spark.session import DEFAULT_MASTER, SparkStartError, spark_session

    try:
        return spark_session(master)
    except SparkStartError as exc:  # a JVM that did not start (too old a Java?), an unusable master URL
        raise EngineUnavailable(f"Spark did not start on {master or DEFAULT_MASTER}: {exc}") from None


def validate(data: str | Path, *, master: str | None = None, progress: Callable[[str], None] | None = None,
             now=None, spark=None):
    """`python -m dashboard validate --engine spark`: Spark reads and checks the source files.

    Returns the SparkSource (its report in `.tables`; close it when done). Raises SourceError for
    an unusable source, EngineUnavailable when Spark cannot run; what can be found before the
    JVM starts (what is installed, a missing path, a .duckdb file) is found first.
    """
    say = progress or (lambda message: None)
    check_available()
    from dashboard.engine.spark.validate import check_path, load_source

    check_path(Path(data))
    spark = spark or start(master)
    say(f"Spark {spark.version} on {spark.sparkContext.master}: reading and validating {data}")
    started = time.perf_counter()
    source = load_source(data, spark, now)
    say(f"read and validated on Spark in {time.perf_counter() - started:.1f} s")
    return source


def export(data: str | Path, params: Params, out_dir: str | Path, *, master: str | None = None,
           progress: Callable[[str], None] | None = None, zip_name: str | None = None, now=None) -> ExportResult:
    """`python -m dashboard export --engine spark`: validate on Spark, compute, write.

    DuckDB plays no part: Spark reads the source files, applies the data contract
    (`spark/validate.py`) and computes every table. Raises SourceError for an unusable source,
    EngineUnavailable when Spark cannot run.
    """
    source = validate(data, master=master, progress=progress, now=now)
    try:
        return write_tables(source, params, out_dir, progress, zip_name=zip_name)
    finally:
        source.close()
