"""Every metric table on Spark, and `export` with `--engine spark`.

The same metric modules and the same CSV writer as the DuckDB path (`dashboard.core.export`);
only the context differs.
"""
from __future__ import annotations

import importlib.util
import os
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


# Where the validated tables are written for Spark (default: the system temp folder).
HANDOFF_DIR_ENV = "RECDASH_SPARK_HANDOFF_DIR"


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
    """The files `dashboard.core.export.export_tables` writes, with engine "spark"."""
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


def export(data: str | Path, params: Params, out_dir: str | Path, *, master: str | None = None,
           progress: Callable[[str], None] | None = None, zip_name: str | None = None) -> ExportResult:
    """`python -m dashboard export --engine spark`: validate, hand to Spark, compute, write.

    Raises SourceError for an unusable source, EngineUnavailable when Spark cannot run. Both are
    found before the JVM starts where they can be: what is installed, then the source (DuckDB
    validates it), then Spark.
    """
    from dashboard.engine.source import load_source

    say = progress or (lambda message: None)
    check_available()
    started = time.perf_counter()
    say(f"loading and validating {data}")
    validated = load_source(data)
    try:
        spark = start(master)
        say(f"Spark {spark.version} on {spark.sparkContext.master}")
        from dashboard.engine.spark.source import from_duckdb

        # With a cluster master, the hand-off folder must be one every executor reads at the same path.
        source = from_duckdb(validated, spark, work_dir=os.environ.get(HANDOFF_DIR_ENV) or None)
    finally:
        validated.con.close()  # Spark has its own copy; free DuckDB's memory before Spark computes
    say(f"loaded, validated and handed to Spark in {time.perf_counter() - started:.1f} s")
    try:
        return write_tables(source, params, out_dir, progress, zip_name=zip_name)
    finally:
        source.close()
