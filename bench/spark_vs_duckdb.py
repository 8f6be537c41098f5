"""Benchmark: every metric table on DuckDB and on Spark (local), same source, side by side.

    python bench/spark_vs_duckdb.py [--size 1M[,10M] | --data FOLDER] [--runs 2] [--master local[*]]

The source is bench/run.py's demo source of `--size` events (generated once into bench-data/,
gitignored, and reused), or any source folder given with --data. One engine after the other,
never both at once, `--runs` times each:

- DuckDB: load + validate the source, then every metric table in export order on one fresh
  MetricContext (as `export` does); each table's time includes the staging tables it is the
  first to need.
- Spark: the session is started once (the JVM); then per run: Spark reads and validates the
  source files itself (`dashboard/engine/spark/validate.py`, as `validate`/`export --engine spark`
  do; DuckDB plays no part), then every metric table on one fresh SparkMetricContext. The validation
  report must equal DuckDB's (printed).

With several sizes (`--size 1M,10M`) the figures of each size are printed, then how each step's
time grows from one size to the next (ratio of medians; 10x the events in 10x the time is linear).

Printed: progress lines while it runs (stderr), then per table and for the whole export (load
included, and load apart) the median over the runs on each engine and their ratio, each run's
figures, whether the engines' tables agree (the comparison of tests/test_spark_parity.py), and
the machine's load average over each engine's runs (others may share the cores).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))

from bench.run import ensure_source, parse_size  # noqa: E402
from dashboard.engine.metrics import METRIC_TABLES  # noqa: E402

# The demo lies in the past of this instant, so no row is rejected as "in the future".
NOW = dt.datetime(2030, 1, 1)
LOAD = "load"  # key of the load step in a run's timings
REPORT = "validation report"  # key of the load's report among a run's results


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class LoadSampler:
    """The 1-minute load average every few seconds, in a background thread, per named phase."""

    def __init__(self, every: float = 5.0):
        self.every, self.phase, self.samples = every, None, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            if self.phase:
                self.samples.setdefault(self.phase, []).append(os.getloadavg()[0])

    def summary(self, phase: str) -> str:
        values = self.samples.get(phase) or [os.getloadavg()[0]]
        return f"min {min(values):.1f}, median {statistics.median(values):.1f}, max {max(values):.1f}"


def timed_tables(compute_all, source, params, label: str) -> tuple[dict, dict[str, float]]:
    """compute_all(source, params, progress) with the time of each table, read off its progress
    calls (each one announces the next table)."""
    marks: list[tuple[float, str]] = []

    def progress(message: str) -> None:
        marks.append((time.perf_counter(), message.split()[-1]))
        say(f"{label}: {message}")

    tables, unavailable = compute_all(source, params, progress=progress)
    marks.append((time.perf_counter(), "end"))
    if unavailable:
        raise SystemExit(f"{label}: tables unavailable on this source: {unavailable}")
    seconds = {name: end[0] - start[0] for start, end in zip(marks, marks[1:]) for name in [start[1]]}
    return tables, seconds


def validation_report(source) -> dict:
    """What validate prints, as data: equal on both engines when they agree on the contract."""
    return {
        name: (r.rows_read, r.rows_loaded, r.duplicates_merged,
               [(p.column, p.reason, p.rows, p.examples) for p in r.problems], r.notes, r.rejected_experiments)
        for name, r in source.tables.items()
    }


def duckdb_run(folder: Path, params, label: str) -> tuple[dict, dict[str, float]]:
    from dashboard.engine.export import compute_all
    from dashboard.engine.source import load_source

    say(f"{label}: load + validate …")
    started = time.perf_counter()
    source = load_source(folder, now=NOW)
    load = time.perf_counter() - started
    say(f"{label}: loaded in {load:.1f} s")
    try:
        tables, seconds = timed_tables(compute_all, source, params, label)
        tables[REPORT] = validation_report(source)
    finally:
        source.con.close()
    return tables, {LOAD: load, **seconds}


def spark_run(folder: Path, params, spark, label: str) -> tuple[dict, dict[str, float]]:
    from dashboard.engine.spark import engine
    from dashboard.engine.spark.validate import load_source

    say(f"{label}: read + validate on Spark …")
    started = time.perf_counter()
    source = load_source(folder, spark, now=NOW)
    load = time.perf_counter() - started
    say(f"{label}: read and validated in {load:.1f} s")
    try:
        tables, seconds = timed_tables(engine.compute_all, source, params, label)
        tables[REPORT] = validation_report(source)
    finally:
        source.close()
    return tables, {LOAD: load, **seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=lambda text: [parse_size(t) for t in text.split(",")], default=[10_000_000],
                        help="events of bench/run.py's demo source; several sizes separated by commas (default 10M)")
    parser.add_argument("--data", type=Path, help="a source folder instead of the demo source of --size")
    parser.add_argument("--data-dir", type=Path, default=REPO / "bench-data", help="where demo sources are cached")
    parser.add_argument("--runs", type=int, default=2, help="runs per engine (medians)")
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--driver-memory", default="10g", help="Spark driver heap (local: all of Spark)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs: at least 1")

    from dashboard.engine.params import Params
    from dashboard.engine.spark.session import spark_session

    folders = [args.data] if args.data else [ensure_source(size, args.data_dir, say) for size in args.size]
    params = Params()
    results = []
    with LoadSampler() as sampler:
        say(f"Spark: starting {args.master} …")
        started = time.perf_counter()
        spark = spark_session(args.master, driver_memory=args.driver_memory)
        spark_start = time.perf_counter() - started
        version = spark.version
        say(f"Spark {version} started in {spark_start:.1f} s")
        try:
            for folder in folders:
                events = _count_events(folder)
                say(f"source {folder}: {events:,} events; {args.runs} runs per engine")
                duck_runs, spark_runs = [], []
                sampler.phase = f"duckdb {folder}"
                for run in range(1, args.runs + 1):
                    duck_tables, seconds = duckdb_run(folder, params, f"DuckDB run {run}/{args.runs}")
                    duck_runs.append(seconds)
                    say(f"DuckDB run {run}: {sum(seconds.values()):.1f} s in all")
                sampler.phase = f"spark {folder}"
                for run in range(1, args.runs + 1):
                    spark_tables, seconds = spark_run(folder, params, spark, f"Spark run {run}/{args.runs}")
                    spark_runs.append(seconds)
                    say(f"Spark run {run}: {sum(seconds.values()):.1f} s in all")
                sampler.phase = None
                same_report = duck_tables.pop(REPORT) == spark_tables.pop(REPORT)
                agree = _agree(duck_tables, spark_tables)
                print_report(events, folder, args, version, spark_start, duck_runs, spark_runs, agree, same_report,
                             sampler)
                results.append((events, duck_runs, spark_runs))
        finally:
            spark.stop()
    if len(results) > 1:
        print_growth(results)
    return 0


def print_growth(results) -> None:
    """How each step's median time grows from one size to the next."""
    def steps(runs):
        return {
            "load + validate": statistics.median(r[LOAD] for r in runs),
            "all tables": statistics.median(sum(v for k, v in r.items() if k != LOAD) for r in runs),
            "whole export": statistics.median(sum(r.values()) for r in runs),
        }

    print()
    print("# How time grows (median seconds; ratio to the previous size)")
    print()
    print("| step | engine | " + " | ".join(f"{events:,} events" for events, _, _ in results) + " |")
    print("|---|---|" + "---:|" * len(results))
    for engine, index in (("DuckDB", 1), ("Spark", 2)):
        per_size = [steps(result[index]) for result in results]
        for step in per_size[0]:
            cells = [f"{per_size[0][step]:.1f}"] + [
                f"{now[step]:.1f} ({now[step] / before[step]:.1f}x)" for before, now in zip(per_size, per_size[1:])]
            print(f"| {step} | {engine} | " + " | ".join(cells) + " |")


def print_report(events, folder, args, version, spark_start, duck_runs, spark_runs, agree, same_report,
                 sampler) -> None:
    def median(runs, key):
        return statistics.median(run[key] for run in runs)

    def all_tables(run):
        return sum(v for k, v in run.items() if k != LOAD)

    rows = [("load + validate (Spark: from the files, on Spark)", median(duck_runs, LOAD), median(spark_runs, LOAD))]
    rows += [(f"  {name}", median(duck_runs, name), median(spark_runs, name)) for name in METRIC_TABLES]
    rows += [
        ("all tables (load apart)", statistics.median(map(all_tables, duck_runs)),
         statistics.median(map(all_tables, spark_runs))),
        ("whole export (load included)", statistics.median(sum(r.values()) for r in duck_runs),
         statistics.median(sum(r.values()) for r in spark_runs)),
    ]
    print()
    print(f"# Spark vs DuckDB, {dt.date.today()}: {events:,} events ({folder.name}), "
          f"{os.cpu_count()} cores ({_cpu_name()}), {_memory_gib():.1f} GiB, Python {platform.python_version()}")
    print(f"# DuckDB {_version('duckdb')}; Spark {version} ({args.master}, driver {args.driver_memory}, "
          f"started once in {spark_start:.1f} s, not included below); medians of {args.runs} runs, seconds")
    print()
    print("| step | DuckDB (s) | Spark (s) | Spark / DuckDB |")
    print("|---|---:|---:|---:|")
    for label, duck, spark in rows:
        ratio = f"{spark / duck:.1f}x" if duck >= 0.005 else "—"
        print(f"| {label} | {_seconds(duck)} | {_seconds(spark)} | {ratio} |")
    print()
    for name, runs in (("DuckDB", duck_runs), ("Spark", spark_runs)):
        print(f"{name} runs: " + "; ".join(
            f"load {r[LOAD]:.1f} + tables {all_tables(r):.1f} = {sum(r.values()):.1f} s" for r in runs))
    print(f"tables agree between the engines (rtol 1e-9): {agree}")
    print(f"validation reports equal (rows read, loaded, merged, every problem and warning): "
          f"{'yes' if same_report else 'NO'}")
    print(f"load average (1 min) during the DuckDB runs: {sampler.summary(f'duckdb {folder}')}; "
          f"during Spark: {sampler.summary(f'spark {folder}')} ({os.cpu_count()} cores: above that, other "
          f"processes shared them)")


def _seconds(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _count_events(folder: Path) -> int:
    import pyarrow.parquet as pq

    file = folder / "events.parquet"
    return pq.ParquetFile(file).metadata.num_rows if file.exists() else 0


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


def _memory_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return 0.0


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except (ImportError, AttributeError):
        return "?"


if __name__ == "__main__":
    sys.exit(main())
