"""The SparkSession the metric SQL runs in, configured so that it means what DuckDB means.

- `spark.sql.session.timeZone = UTC`: like DuckDB's `SET TimeZone = 'UTC'` in
  `dashboard.engine.source.new_connection`. Instants are UTC; a zone only makes local weeks and
  days, through `from_utc_timestamp` / `to_utc_timestamp` (see `transpile.py`).
- ANSI mode on (Spark 4's default, set explicitly): an overflow or a bad cast is an error, as
  in DuckDB, never a silent NULL or a wrapped number.
- Arrow for `toPandas()`; no fallback to the slow row-by-row path.
- Nothing is downloaded: no `spark.jars.packages`, no Ivy; the jars are those of the pyspark wheel.
- Local masters bind to 127.0.0.1 and keep their scratch files in the system temp folder.
- The JVM's own output (launcher messages, stack traces) goes to `recdash-spark/spark-driver.log`
  in the system temp folder, and Spark logs errors only (`log4j2.properties`): the CLI prints its
  own lines, and a JVM that does not start is reported in one (SparkStartError).
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from pathlib import Path

DEFAULT_MASTER = "local[*]"
APP_NAME = "recdash-metrics"
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")
# What the JVM prints (launcher messages, errors), in the scratch folder, appended to by every run.
DRIVER_LOG = "spark-driver.log"
# For many queries on tiny data (the parity tests): there, Spark's time is its fixed cost per
# query, not the rows. Measured on the parity tests' demo (600 users, all ten tables, 2 shared
# cores), these settings together halve the JVM's CPU time:
# - no code generation: compiling Java for every plan costs more than running it interpreted;
# - the C1 JIT only: a short-lived JVM never earns back C2's compile time (with a code cache
#   of its own size: C1 alone gets 48 MB, which Spark fills within a minute, and a full cache
#   switches the JIT off for the rest of the run);
# - the serial collector: no GC threads competing for two cores.
# The same results either way (generated and interpreted code are tested alike by Spark); at
# scale (bench/spark_vs_duckdb.py, the CLI) Spark's defaults are kept.
SMALL_DATA_CONF = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m -XX:+UseSerialGC",
}
# pyspark 4.x warns on every conversion that it "does not yet fully support pandas >= 3"; the
# conversions used here (Arrow, flat columns of plain types) are covered by the parity tests.
_PANDAS_WARNING = r"PySpark does not yet fully support pandas >= 3"


def spark_session(master: str | None = None, *, driver_memory: str | None = None,
                  shuffle_partitions: int | None = None, conf: dict[str, str] | None = None):
    """Get (or create) the process's SparkSession for `master` (default `local[*]`).

    `driver_memory` (e.g. "4g") only takes effect when this call starts the JVM; default
    `$RECDASH_SPARK_DRIVER_MEMORY`, else 2g. Shuffle partitions default to 2 per core on a local
    master (Spark's 200 is meant for clusters and makes small local jobs slow) and to Spark's
    own setting on a cluster. `conf`: more Spark settings (they win over the ones here).
    """
    from pyspark.sql import SparkSession

    warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
    master = master or DEFAULT_MASTER
    local = master.startswith("local")
    scratch = os.path.join(tempfile.gettempdir(), "recdash-spark")
    if local:
        # Before the JVM starts: no lookup of the machine's public name, no warning about it;
        # shuffle and spill files in the system temp folder, not the working directory.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("SPARK_LOCAL_DIRS", os.path.join(scratch, "local"))
    builder = (
        SparkSession.builder.master(master)
        .appName(APP_NAME)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.fallback.enabled", "false")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.warehouse.dir", os.path.join(scratch, "warehouse"))
        .config("spark.driver.memory", driver_memory or os.environ.get("RECDASH_SPARK_DRIVER_MEMORY", "2g"))
        .config("spark.driver.extraJavaOptions", _java_options(conf))
    )
    if local:
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.shuffle.partitions", str(shuffle_partitions or max(4, 2 * (os.cpu_count() or 2))))
        )
    elif shuffle_partitions:
        builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
    for key, value in (conf or {}).items():
        if key != "spark.driver.extraJavaOptions":  # merged into _java_options
            builder = builder.config(key, value)
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None:  # the JVM runs already
        session = builder.getOrCreate()
    else:
        log = Path(scratch) / DRIVER_LOG
        log.parent.mkdir(parents=True, exist_ok=True)
        before = log.stat().st_size if log.exists() else 0
        try:
            with _jvm_output_to(log):
                session = builder.getOrCreate()
        except Exception as exc:
            raise SparkStartError(_start_failure(exc, log, before)) from exc
    session.sparkContext.setLogLevel("ERROR")  # into the driver log, with log4j2.properties
    return session


class SparkStartError(RuntimeError):
    """The JVM or the SparkContext did not start; the message is one line saying why."""


@contextlib.contextmanager
def _jvm_output_to(log: Path):
    """Point this process's stdout and stderr at `log` while the JVM is launched, so that the
    JVM (which inherits them) writes its launcher messages and stack traces there for its whole
    life instead of between the CLI's lines; Python's own streams are restored afterwards."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for fd in saved:
            os.dup2(target, fd)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(target)


def _start_failure(exc: Exception, log: Path, offset: int) -> str:
    """One line: the JVM's own reason from the log (an exception or error line), else pyspark's."""
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            f.seek(offset)
            lines = [line.strip() for line in f.read().splitlines() if line.strip()]
    except OSError:
        lines = []
    reasons = [line for line in lines if ("Exception" in line or "Error" in line) and not line.startswith("at ")]
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return f"{reasons[0] if reasons else first} (Spark's output: {log})"


def _java_options(conf: dict[str, str] | None) -> str:
    """The driver JVM's options: Spark's log output limited to errors from the start (its own
    default prints INFO and WARN lines before setLogLevel can run), then those of `conf`."""
    options = []
    if LOG4J_CONFIG.is_file():
        options.append(f"-Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()}")
    given = (conf or {}).get("spark.driver.extraJavaOptions")
    if given:
        options.append(given)
    return " ".join(options)


def java_problem() -> str | None:
    """Why Spark's launcher would find no Java (None when it would): it runs $JAVA_HOME/bin/java
    when JAVA_HOME is set, else `java` on PATH."""
    import shutil

    home = os.environ.get("JAVA_HOME")
    if home:
        java = os.path.join(home, "bin", "java")
        return None if os.access(java, os.X_OK) else f"JAVA_HOME={home} has no bin/java"
    return None if shutil.which("java") else "no java on PATH and JAVA_HOME is not set"
