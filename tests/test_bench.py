"""The benchmark (bench/): the pandas and Polars baselines give the engine's numbers, and one
small run of bench/run.py measures and writes every figure.

Timings are written, never asserted: the machine is shared, so a time limit in a test would
fail for reasons that have nothing to do with the code. What is checked is that the benchmark
runs end to end and that its speed-up is measured between equal answers.
"""
from __future__ import annotations

import csv

import pytest

from bench import pandas_baseline, polars_baseline, run
from conftest import TEST_NOW
from dashboard.core.context import MetricContext
from dashboard.core.demo import generate
from dashboard.core.metrics import METRIC_TABLES, compute_table
from dashboard.core.params import Params
from dashboard.core.source import load_source


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench-demo")
    generate(folder, users=1500, weeks=8, seed=11)
    return folder


@pytest.fixture(scope="module")
def engine_tables(demo):
    ctx = MetricContext(load_source(demo, now=TEST_NOW), Params())
    try:
        return {name: compute_table(name, ctx) for name in pandas_baseline.TABLES}
    finally:
        ctx.close()


def test_pandas_baseline_equals_engine(demo, engine_tables):
    baseline, timings = pandas_baseline.run(demo)
    assert pandas_baseline.compare(engine_tables, baseline) == []
    assert set(timings) == {"read", "prepare", *pandas_baseline.TABLES}
    # The comparison is not vacuous: attribution, sellers and both retention bases have data.
    assert baseline["buyer_weekly"]["attributed_lines"].sum() > 0
    assert baseline["seller_weekly"]["gmv_gini"].notna().any()
    assert set(baseline["retention"]["basis"]) == {"purchase", "visit"}


def test_polars_baseline_equals_engine(demo, engine_tables):
    baseline, timings = polars_baseline.run(demo)
    assert pandas_baseline.compare(engine_tables, baseline) == []
    assert set(timings) == {"read", "prepare", *pandas_baseline.TABLES}
    # Not vacuous: attribution, sellers and both retention bases have data, and the numbers that
    # take the most code (attributed lines, Gini, top-10 share, MAU) are those of pandas too.
    assert baseline["buyer_weekly"]["attributed_lines"].sum() > 0
    assert baseline["seller_weekly"]["gmv_top10_share"].notna().any()
    assert set(baseline["retention"]["basis"]) == {"purchase", "visit"}
    pandas_tables, _ = pandas_baseline.run(demo)
    assert pandas_baseline.compare(pandas_tables, baseline) == []


def test_polars_gini_and_top_share_on_a_hand_made_week():
    # One week, four active sellers with GMV 0, 10, 30, 60 (three selling), N = 5 threshold unused here.
    # Gini over all four, x ascending = 0, 10, 30, 60, n = 4, Σx = 100:
    #   Σ (2i − n − 1) x_i = (−3)·0 + (−1)·10 + 1·30 + 3·60 = 200  ->  200 / (4 · 100) = 0.5
    # Top 10 % of the three selling sellers: ceil(3 / 10) = 1 seller -> 60 / 100 = 0.6
    import datetime as dt

    import polars as pl

    week = dt.datetime(2026, 3, 2)
    shared = {
        "weeks": pl.DataFrame({"week_start": [week], "is_complete": [True], "days_in_range": [7]}),
        "lines": pl.DataFrame({"week_start": [week] * 3, "seller_id": ["s2", "s3", "s4"], "order_id": ["o1", "o2", "o3"],
                               "line_value": [10.0, 30.0, 60.0]}),
    }
    data = {
        "sellers": pl.DataFrame({"seller_id": ["s1", "s2", "s3", "s4"], "joined_at": [None] * 4, "left_at": [None] * 4},
                                schema={"seller_id": pl.String, "joined_at": pl.Datetime("us"), "left_at": pl.Datetime("us")}),
        "items": pl.DataFrame({"item_id": ["i1"], "seller_id": ["s1"], "created_at": [None]},
                              schema={"item_id": pl.String, "seller_id": pl.String, "created_at": pl.Datetime("us")}),
        "reviews": pl.DataFrame({"item_id": [], "seller_id": [], "ts": [], "replied_at": []},
                                schema={"item_id": pl.String, "seller_id": pl.String, "ts": pl.Datetime("us"),
                                        "replied_at": pl.Datetime("us")}),
    }
    row = polars_baseline.seller_weekly(shared, data).row(0, named=True)
    assert (row["active_sellers"], row["sellers_with_sales"]) == (4, 3)
    assert row["gmv_gini"] == pytest.approx(0.5) and row["gmv_top10_share"] == pytest.approx(0.6)


def test_compare_names_a_difference(demo, engine_tables):
    baseline, _ = pandas_baseline.run(demo)
    baseline["business_weekly"].loc[3, "gmv"] *= 1 + 1e-6  # beyond the 1e-9 tolerance
    baseline["retention"] = baseline["retention"].iloc[:-1]
    problems = pandas_baseline.compare(engine_tables, baseline)
    assert any(p.startswith("business_weekly.gmv: 1 of") and "row 3" in p for p in problems)
    assert any(p.startswith("retention:") and "rows" in p for p in problems)


def test_sizes_and_growth_exponent():
    assert run.parse_size("10M") == 10_000_000
    assert run.parse_size("250k") == 250_000
    assert run.size_label(50_000_000) == "50M" and run.size_label(1_500_000) == "1.5M"
    assert run.users_for(10_000_000) == round(10_000_000 / run.EVENTS_PER_USER)
    # time = c * n^1.5 exactly: the slope of log time against log size is 1.5
    assert run.exponent([(1_000, 2.0), (4_000, 16.0), (16_000, 128.0)]) == pytest.approx(1.5)
    assert run.exponent([(1_000, 2.0)]) is None


def test_benchmark_runs_end_to_end(tmp_path, capsys):
    out, data = tmp_path / "results", tmp_path / "bench-data"
    code = run.main(["--sizes", "20k,40k", "--runs", "1", "--compare-up-to", "20k",
                     "--out", str(out), "--data-dir", str(data)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "generating a demo source" in printed and "export, cold" in printed
    assert "growth exponent of export_cold_s" in printed

    rows = list(csv.DictReader(open(out / "results.csv", encoding="utf-8")))
    figures = {(r["size"], r["figure"]): r for r in rows}
    for figure in ["load_s", "export_cold_s", "export_warm_s", "headline_engine_s", "engine_peak_rss_mb",
                   *(f"{t}_cold_s" for t in METRIC_TABLES), *(f"{t}_warm_s" for t in METRIC_TABLES)]:
        assert ("20k", figure) in figures and ("40k", figure) in figures, figure
    # the baseline and the page only up to --compare-up-to
    for figure in ["pandas_compute_s", "pandas_ratio", "page_first_s", "page_cached_ms", "page_filter_ms",
                   "polars_compute_s", "polars_ratio", "page_first_warm_s",
                   *(f"{t}_{k}_ratio" for t in pandas_baseline.TABLES for k in ("pandas", "polars"))]:
        assert ("20k", figure) in figures and ("40k", figure) not in figures, figure
    # the validated copy (written, then read by a restart) at every size
    for figure in ["cache_first_load_s", "cache_write_s", "cache_load_s", "cache_export_cold_s", "cache_load_plus_export_s",
                   *(f"{t}_engine_s" for t in pandas_baseline.TABLES)]:
        assert ("20k", figure) in figures and ("40k", figure) in figures, figure
    assert float(figures[("20k", "pandas_equal")]["median"]) == 1.0
    assert float(figures[("20k", "polars_equal")]["median"]) == 1.0
    assert "Polars / engine, compute" in printed
    assert float(figures[("20k", "engine_peak_rss_mb")]["median"]) > 50  # a real process's memory
    assert (out / "results.md").read_text(encoding="utf-8").startswith("# Benchmark results")
    assert (out / "runs.json").exists()

    # Sources are cached under the data folder, which ignores itself for git, and reused.
    assert (data / ".gitignore").read_text() == "*\n"
    assert len([p for p in data.iterdir() if p.is_dir()]) == 2
    code = run.main(["--sizes", "20k", "--runs", "1", "--compare-up-to", "1", "--out", str(out), "--data-dir", str(data)])
    assert code == 0 and "reusing the source" in capsys.readouterr().out


def test_experiment_simulation_runs_small_and_prints_every_figure(capsys):
    """bench/sim_experiments.py on a tiny size: it runs and prints each figure with its interval."""
    from bench import sim_experiments

    assert sim_experiments.main(["--sims", "20", "--users", "60", "--per-week", "30"]) == 0
    out = capsys.readouterr().out
    for figure in ("false-positive rate, raw", "false-positive rate, CUPED", "coverage, relative interval (delta method",
                   "old relative interval", "any-look false-positive rate, fixed", "any-look false-positive rate, always-valid",
                   "median interval-width reduction", "capped at pooled q0.99"):
        assert figure in out, figure
    assert "(n = 20)" in out and "[" in out


def test_wilson_interval_by_hand():
    from bench.sim_experiments import wilson

    # 5 of 100, z = 1.959964: centre (0.05 + 3.841459/200)/(1 + 0.0384146) = 0.069207/1.038415 = 0.066647
    # half = 1.959964·√(0.0475/100 + 3.841459/40000)/1.038415 = 1.959964 × 0.023897/1.038415 = 0.045103
    lo, hi = wilson(5, 100)
    assert lo == pytest.approx(0.021544, abs=1e-5)  # 0.066647 − 0.045103
    assert hi == pytest.approx(0.111750, abs=1e-5)


def test_offline_online_simulation_runs_and_prints_every_rate(capsys):
    # A tiny run of bench/sim_offline_online.py: what is checked is that it runs the product's
    # functions end to end and prints every rate with its interval, not the rates themselves.
    from bench import sim_offline_online

    assert sim_offline_online.main(["--worlds", "8", "--experiments", "6", "--weeks", "12", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    for field in ("false positives of p_value (v2", "false positives of the v1 p-value",
                  "v1 review rule names a noise", "v2 rule (is_proxy) names a noise proxy",
                  "predictive metric beats the baseline", "trend-only offline metric: changes beat the baseline",
                  "trend-only offline metric: levels correlate"):
        line = next(line for line in out.splitlines() if field in line)
        assert "/8" in line and "95 % Wilson" in line
