"""One measured process of the benchmark: `python -m bench.worker KIND --data SOURCE --result FILE`.

Each run of each kind is a fresh process, so that "cold" means cold and peak memory is that
run's own (the parent reads it with os.wait4). A worker prints one line per step and writes its
timings (seconds) as JSON to --result.

- engine:   load the source; export every table (cold: first computation in the process); the
            four headline tables on a fresh MetricContext (the engine side of the pandas ratio);
            business_weekly for one block and the last 8 weeks (the SQL of a filter change); the
            export again (warm: second computation, fresh MetricContext).
- pandas:   the pandas baseline on the same Parquet files, compared with the engine's tables.
- polars:   the Polars baseline (lazy API) on the same files, compared the same way.
- cache:    the source through its validated copy (dashboard/engine/cache.py, in the folder of
            RECDASH_VALIDATED_CACHE): with --write, load + validate + write the copy; without,
            the load from the copy (a restart) and then the export, cold.
- page:     dashboard/views/business.py through dashboard/app.py in streamlit's AppTest: first
            run (load + compute), a rerun with the table caches cleared (compute), cached reruns,
            a filter change (one block, last 8 weeks: new SQL) and its cached rerun. With
            --first-only, the first run alone (the parent runs it with a warm validated copy).
- generate: write a demo source (the parent streams the progress lines).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADLINE = ("buyer_weekly", "business_weekly", "seller_weekly", "retention")
PAGE = "views/business.py"
FILTER_WEEKS = 8
CACHED_RERUNS = 5


def say(message: str) -> None:
    print(message, flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def last_weeks_params(source, weeks: int = FILTER_WEEKS):
    """One block (the first in name order) and the last `weeks` weeks of the data."""
    from dashboard.engine.params import Params

    cur = source.cursor()
    try:
        block = cur.execute("select min(block) from events where block is not null").fetchone()[0]
        last = cur.execute("select cast(max(ts) as date) from (select ts from events union all select ts from orders)").fetchone()[0]
    finally:
        cur.close()
    return Params(blocks=(block,) if block else None, start=last - dt.timedelta(days=7 * weeks - 1))


def timed_export(source, params) -> dict:
    """export_tables with the time of each table (from its progress call to the next)."""
    from dashboard.engine.export import export_tables
    from dashboard.engine.metrics import METRIC_TABLES

    marks: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as out:
        start, cpu = time.perf_counter(), time.process_time()
        result = export_tables(source, params, out, progress=lambda _message: marks.append(time.perf_counter()))
        end, cpu = time.perf_counter(), time.process_time() - cpu
    bounds = marks + [end]
    tables = {name: bounds[i + 1] - bounds[i] for i, name in enumerate(METRIC_TABLES[: len(marks)])}
    return {"export": end - start, "cpu": cpu, "tables": tables, "unavailable": sorted(result.unavailable)}


def engine(data: Path, save_headline: Path | None) -> dict:
    from dashboard.engine.context import MetricContext, shared_staging
    from dashboard.engine.metrics import compute_table
    from dashboard.engine.params import Params
    from dashboard.engine import stats
    from dashboard.engine.source import load_source

    out: dict = {}
    start, cpu = time.perf_counter(), time.process_time()
    stats.warm_up()  # as the export command does: scipy.stats is imported while the source loads
    source = load_source(data)
    out["load"], out["load_cpu"] = time.perf_counter() - start, time.process_time() - cpu
    out["peak_rss_after_load_mb"] = peak_rss_mb()
    say(f"loaded in {out['load']:.2f} s (peak RSS so far {out['peak_rss_after_load_mb']:.0f} MB)")

    params = Params()
    out["cold"] = timed_export(source, params)
    say(f"export, cold: {out['cold']['export']:.2f} s ({out['cold']['cpu']:.2f} s CPU)")

    # The headline tables from the loaded tables alone, as the pandas baseline computes them from
    # its frames: none of the staging the export shared with later runs (context.py) is reused.
    cursor = source.cursor()
    shared_staging(source).drop_all(cursor)
    cursor.close()
    ctx = MetricContext(source, params)
    start, cpu = time.perf_counter(), time.process_time()
    frames, out["headline_tables"] = {}, {}
    for name in HEADLINE:  # in this order each table builds the staging it is first to need
        began = time.perf_counter()
        frames[name] = compute_table(name, ctx)
        out["headline_tables"][name] = time.perf_counter() - began
    out["headline"], out["headline_cpu"] = time.perf_counter() - start, time.process_time() - cpu
    ctx.close()
    say(f"headline tables (fresh MetricContext): {out['headline']:.2f} s")
    if save_headline:
        save_headline.write_bytes(pickle.dumps(frames))

    # A filter change on a page comes after the page's unfiltered tables: the staging they shared
    # (per time zone and platform) is there, as it is here after the headline tables.
    filtered = last_weeks_params(source)
    ctx = MetricContext(source, filtered)
    start = time.perf_counter()
    compute_table("business_weekly", ctx)
    out["filter_sql"] = time.perf_counter() - start
    ctx.close()
    say(f"business_weekly for {filtered.blocks} from {filtered.start}: {out['filter_sql']:.2f} s")

    out["warm"] = timed_export(source, params)
    say(f"export, warm: {out['warm']['export']:.2f} s ({out['warm']['cpu']:.2f} s CPU)")
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def pandas(data: Path, engine_headline: Path | None) -> dict:
    from bench import pandas_baseline

    tables, timings = pandas_baseline.run(data)
    out = {"read": timings["read"], "compute": sum(v for k, v in timings.items() if k != "read"), "steps": timings}
    say(f"read {out['read']:.2f} s, compute {out['compute']:.2f} s")
    if engine_headline and engine_headline.exists():
        problems = pandas_baseline.compare(pickle.loads(engine_headline.read_bytes()), tables)
        out["problems"] = problems
        say("pandas baseline equals the engine" if not problems else f"pandas baseline DIFFERS: {problems[:3]}")
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def polars(data: Path, engine_headline: Path | None) -> dict:
    from bench import pandas_baseline, polars_baseline

    tables, timings = polars_baseline.run(data)
    out = {"read": timings["read"], "compute": sum(v for k, v in timings.items() if k != "read"), "steps": timings}
    say(f"read {out['read']:.2f} s, compute {out['compute']:.2f} s")
    if engine_headline and engine_headline.exists():
        problems = pandas_baseline.compare(pickle.loads(engine_headline.read_bytes()), tables)
        out["problems"] = problems
        say("Polars baseline equals the engine" if not problems else f"Polars baseline DIFFERS: {problems[:3]}")
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def cached(data: Path, write: bool) -> dict:
    from dashboard.engine import cache
    from dashboard.engine.params import Params

    start, cpu = time.perf_counter(), time.process_time()
    source = cache.load(data, reload=write, say=say)
    out: dict = {"load": time.perf_counter() - start, "load_cpu": time.process_time() - cpu}
    if write:  # the copy is written in the background: until it is there
        cache.wait()
        out["written"] = time.perf_counter() - start
    state = cache.status(source)
    if state is None or state.from_copy == write or (write and state.copy is None):
        raise RuntimeError(f"expected {'to write' if write else 'to use'} a validated copy: {state}")
    if write:
        say(f"load + validate: {out['load']:.2f} s; and the validated copy written: {out['written']:.2f} s")
    else:
        say(f"load from the validated copy: {out['load']:.2f} s")
        exported = timed_export(source, Params())
        out["export"], out["export_cpu"] = exported["export"], exported["cpu"]
        say(f"export after it, cold: {out['export']:.2f} s")
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def page(data: Path, first_only: bool = False) -> dict:
    # AppTest runs without a server; streamlit then warns about a missing runtime on every run.
    os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    # `streamlit run dashboard/app.py -- --data SOURCE`: the app reads --data from sys.argv.
    sys.argv = ["app.py", "--data", str(data)]
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=3600)
    at.switch_page(PAGE)

    def rerun(label: str) -> float:
        start = time.perf_counter()
        at.run()
        took = time.perf_counter() - start
        if at.exception:
            raise RuntimeError(f"{PAGE} ({label}): {[e.value for e in at.exception]}")
        return took

    out: dict = {"first": rerun("first run")}
    say(f"page, first run (load + compute): {out['first']:.2f} s")
    if first_only:
        out["peak_rss_mb"] = peak_rss_mb()
        return out
    st.cache_data.clear()  # the tables, not the loaded source (st.cache_resource)
    out["uncached"] = rerun("uncached")
    say(f"page rerun without cached tables: {out['uncached']:.2f} s")
    out["cached"] = statistics.median(rerun("cached") for _ in range(CACHED_RERUNS))
    say(f"page rerun on cached tables: {out['cached'] * 1000:.0f} ms (median of {CACHED_RERUNS})")

    blocks = at.sidebar.multiselect(key="blocks")
    dates = at.sidebar.date_input(key="dates")
    first, last = dates.value
    start = max(first, last - dt.timedelta(days=7 * FILTER_WEEKS - 1))
    blocks.set_value([blocks.options[0]] if blocks.options else [])
    dates.set_value((start, last))
    out["filter"] = rerun("filter change")
    say(f"page rerun after a filter change (one block, last {FILTER_WEEKS} weeks): {out['filter'] * 1000:.0f} ms")
    out["filter_cached"] = statistics.median(rerun("filter, cached") for _ in range(CACHED_RERUNS))
    say(f"page rerun on the filter's cached tables: {out['filter_cached'] * 1000:.0f} ms")
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def generate(out: Path, users: int, weeks: int, seed: int) -> dict:
    from dashboard.engine.demo import generate as write_demo

    start = time.perf_counter()
    rows = write_demo(out, users=users, weeks=weeks, seed=seed, progress=say)
    return {"rows": rows, "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("kind", choices=("engine", "pandas", "polars", "cache", "page", "generate"))
    parser.add_argument("--data", type=Path, required=True, help="source folder (generate: folder to write)")
    parser.add_argument("--result", type=Path, required=True, help="JSON file for the timings")
    parser.add_argument("--headline", type=Path, help="engine: pickle the headline tables here; pandas: compare with them")
    parser.add_argument("--write", action="store_true", help="cache: validate and write the copy")
    parser.add_argument("--first-only", action="store_true", help="page: measure the first run only")
    parser.add_argument("--users", type=int)
    parser.add_argument("--weeks", type=int, default=26)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.kind == "engine":
        result = engine(args.data, args.headline)
    elif args.kind == "pandas":
        result = pandas(args.data, args.headline)
    elif args.kind == "polars":
        result = polars(args.data, args.headline)
    elif args.kind == "cache":
        result = cached(args.data, args.write)
    elif args.kind == "page":
        result = page(args.data, args.first_only)
    else:
        result = generate(args.data, args.users, args.weeks, args.seed)
    args.result.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
