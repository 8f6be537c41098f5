"""Benchmark: every metric table on DuckDB and on Spark (local), same source, side by side.

    python bench/spark_vs_duckdb.py [--users 110000] [--weeks 26] [--runs 3] [--master local[*]]

The source (~10M events at the defaults) is generated once into bench-data/ (gitignored) and
reused. Then, one engine after the other, never both at once:

1. DuckDB: load + validate the source; compute all ten tables `--runs` times (one fresh
   MetricContext each, as `export` does).
2. Spark: start the session; hand the validated tables to Spark (Parquet, see
   dashboard/core/spark/source.py); compute all ten tables `--runs` times (one fresh
   SparkMetricContext each; the first run also fills Spark's cache of the base tables).

Printed: each phase's median, the first Spark run apart, and whether the two engines' tables
agree (same comparison as tests/test_spark_parity.py). docs/scale-out.md has the figures.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def timed(label: str, function, *args, **kwargs):
    say(f"{label} …")
    started = time.perf_counter()
    result = function(*args, **kwargs)
    seconds = time.perf_counter() - started
    say(f"{label}: {seconds:.1f} s")
    return result, seconds


def ensure_source(folder: Path, users: int, weeks: int, seed: int) -> int:
    """Generate the demo source unless it is there; return its number of events."""
    import duckdb

    if not (folder / "events.parquet").exists():
        from dashboard.core.demo import generate

        say(f"generating {users:,} users × {weeks} weeks into {folder} (once)")
        timed("generate", generate, folder, users=users, weeks=weeks, seed=seed, progress=say)
    with duckdb.connect() as con:
        return con.execute("SELECT count(*) FROM read_parquet($p)", {"p": str(folder / "events.parquet")}).fetchone()[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=110_000)
    parser.add_argument("--weeks", type=int, default=26)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--driver-memory", default="12g", help="Spark driver heap (local: the whole Spark)")
    parser.add_argument("--data", type=Path, help="source folder (default bench-data/spark-u<users>-w<weeks>-s<seed>)")
    args = parser.parse_args(argv)

    from dashboard.core.export import compute_all
    from dashboard.core.params import Params
    from dashboard.core.source import load_source

    folder = args.data or REPO / "bench-data" / f"spark-u{args.users}-w{args.weeks}-s{args.seed}"
    events = ensure_source(folder, args.users, args.weeks, args.seed)
    say(f"source {folder}: {events:,} events")
    params = Params()
    now = dt.datetime(2030, 1, 1)  # the demo lies in the past of this; no row is "in the future"

    # --- DuckDB ----------------------------------------------------------------------------
    duck, duck_load = timed("DuckDB: load + validate", load_source, folder, now=now)
    duck_runs, duck_tables = [], None
    for run in range(1, args.runs + 1):
        (duck_tables, _), seconds = timed(f"DuckDB: all tables, run {run}/{args.runs}", compute_all, duck, params)
        duck_runs.append(seconds)

    # --- Spark -----------------------------------------------------------------------------
    from dashboard.core.spark import engine
    from dashboard.core.spark.session import spark_session
    from dashboard.core.spark.source import from_duckdb

    spark, spark_start = timed(f"Spark: start {args.master}", spark_session, args.master,
                               driver_memory=args.driver_memory)
    on_spark, handoff = timed("Spark: hand-off (DuckDB → Parquet → Spark)", from_duckdb, duck, spark)
    duck.con.close()  # Spark has its own copy now; free DuckDB's memory before Spark runs
    spark_runs, spark_tables = [], None
    for run in range(1, args.runs + 1):
        (spark_tables, _), seconds = timed(f"Spark: all tables, run {run}/{args.runs}", engine.compute_all,
                                           on_spark, params, progress=say)
        spark_runs.append(seconds)

    agree = _agree(duck_tables, spark_tables)
    on_spark.close()
    spark.stop()

    warm = spark_runs[1:] or spark_runs
    cpu = _cpu_name()
    print()
    print(f"# Spark vs DuckDB — {dt.date.today()}, {events:,} events ({args.users:,} users × {args.weeks} weeks), "
          f"{os.cpu_count()} cores ({cpu}), {_memory_gib()} GiB, Python {platform.python_version()}")
    print(f"# DuckDB {_version('duckdb')}, Spark {spark.version} ({args.master}, driver {args.driver_memory}), "
          f"medians of {args.runs} runs")
    print()
    print(f"| phase                                  | DuckDB     | Spark (local)  |")
    print(f"|----------------------------------------|-----------:|---------------:|")
    print(f"| start the engine                       | {0:>8.1f} s | {spark_start:>12.1f} s |")
    print(f"| load + validate the source             | {duck_load:>8.1f} s | {duck_load:>10.1f} s ¹ |")
    print(f"| hand-off to Spark (Parquet)            | {'—':>10} | {handoff:>12.1f} s |")
    print(f"| all ten tables, first run              | {duck_runs[0]:>8.1f} s | {spark_runs[0]:>12.1f} s |")
    print(f"| all ten tables, median of warm runs    | {statistics.median(duck_runs[1:] or duck_runs):>8.1f} s "
          f"| {statistics.median(warm):>12.1f} s |")
    print()
    print("¹ the same DuckDB validation: Spark is handed the validated tables.")
    print(f"tables agree between the engines (rtol 1e-9): {agree}")
    return 0


def _agree(expected: dict, actual: dict) -> str:
    sys.path.insert(0, str(REPO / "tests"))
    from test_spark_parity import assert_same_table

    if list(expected) != list(actual):
        return f"no: DuckDB computed {list(expected)}, Spark {list(actual)}"
    try:
        for name in expected:
            assert_same_table(expected[name], actual[name], name)
    except AssertionError as exc:
        return f"no: {str(exc).splitlines()[0]}"
    return f"yes, all {len(expected)} tables"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> int:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    except (ValueError, OSError):
        return 0


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except (ImportError, AttributeError):
        return "?"


if __name__ == "__main__":
    sys.exit(main())
