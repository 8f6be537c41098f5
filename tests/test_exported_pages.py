"""The pages on a folder of exported metric tables (what a scheduled Spark or DuckDB export wrote).

A small demo is exported with non-default parameters; the app pointed at the folder must show
the exported numbers (not recompute them), narrow weekly tables by the date filter exactly as a
computation with those dates would, and say which analyses need the raw events.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from conftest import TEST_NOW
from dashboard.core import exported
from dashboard.core.context import MetricContext
from dashboard.core.export import EXPORT_INFO, export_tables
from dashboard.core.metrics import compute_table
from dashboard.core.params import Params
from dashboard.core.source import load_source
from test_pages import PAGES, app_for, assert_clean, messages, open_page, table_with

EXPORTED_WITH = Params(tz="Europe/Berlin", window_days=3, n_sales=2)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from dashboard.core.demo import generate

    folder = tmp_path_factory.mktemp("exported-demo")
    generate(folder, users=600, weeks=8, seed=5)
    return folder


@pytest.fixture(scope="module")
def export_dir(demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("exported-tables")
    export_tables(load_source(demo, now=TEST_NOW + dt.timedelta(days=60)), EXPORTED_WITH, out)
    return out


def test_export_records_its_parameters(export_dir):
    source = exported.load_exported_source(export_dir)
    assert (export_dir / EXPORT_INFO).is_file()
    assert source.params == EXPORTED_WITH
    assert source.about["engine"] == "duckdb"
    assert set(source.tables) == {"buyer_weekly", "time_to_purchase_weekly", "convenience_weekly", "price_weekly",
                                  "retention", "seller_weekly", "business_weekly", "offline_metrics", "experiments",
                                  "offline_online", "off_policy"}


def test_a_folder_without_export_json_opens_with_unknown_parameters(export_dir, tmp_path):
    (tmp_path / "business_weekly.csv").write_bytes((export_dir / "business_weekly.csv").read_bytes())
    source = exported.load_exported_source(tmp_path)
    assert source.params is None and list(source.tables) == ["business_weekly"]


def test_a_broken_export_json_is_named(export_dir, tmp_path):
    (tmp_path / "business_weekly.csv").write_bytes((export_dir / "business_weekly.csv").read_bytes())
    (tmp_path / EXPORT_INFO).write_text('{"params": {"tz": "Mars/Olympus"}}', encoding="utf-8")
    with pytest.raises(exported.ExportedError, match="export.json"):
        exported.load_exported_source(tmp_path)


@pytest.mark.parametrize("table", sorted(exported.WEEKLY_COLUMN))
def test_narrowing_exported_weeks_equals_computing_with_those_dates(demo, export_dir, table):
    source = exported.load_exported_source(export_dir)
    start, end = dt.date(2026, 9, 24), dt.date(2026, 10, 14)  # mid-week dates: whole weeks 09-21 .. 10-12
    narrowed, reason = exported.exported_table(source, table, start, end)
    assert reason is None
    loaded = load_source(demo, now=TEST_NOW + dt.timedelta(days=60))
    ctx = MetricContext(loaded, Params(tz="Europe/Berlin", window_days=3, n_sales=2, start=start, end=end))
    computed = compute_table(table, ctx)
    assert len(narrowed) == len(computed) > 0
    column = exported.WEEKLY_COLUMN[table]
    assert narrowed[column].min() == pd.Timestamp("2026-09-21") and narrowed[column].max() == pd.Timestamp("2026-10-12")
    keys = [c for c in ("week_start", "block", "measure", "feature", "basis", "category", "cohort_week", "weeks_since")
            if c in computed]
    got = narrowed.sort_values(keys).reset_index(drop=True)
    want = computed.sort_values(keys).reset_index(drop=True)
    for c in want.columns:
        if pd.api.types.is_numeric_dtype(want[c]) and not pd.api.types.is_bool_dtype(want[c]):
            pd.testing.assert_series_equal(got[c].astype("float64"), want[c].astype("float64"), rtol=1e-9,
                                           check_names=False)
        else:
            assert got[c].astype(str).tolist() == want[c].astype(str).tolist(), c


def test_every_page_draws_the_exported_tables(export_dir, monkeypatch):
    at = app_for(export_dir, monkeypatch)
    for page in PAGES:
        open_page(at, page)
        assert_clean(at, page)
    # The Business table is the exported file's, unchanged.
    open_page(at, "business")
    shown = table_with(at, "week_start", "gmv", "net_gmv")
    exported_rows = exported.load_exported_source(export_dir).tables["business_weekly"]
    assert shown["gmv"].round(6).tolist() == exported_rows["gmv"].round(6).tolist()
    # Analyses that need the events say so instead of failing.
    open_page(at, "experiments")
    assert any("exported metric tables" in m for m in messages(at))


def test_the_sidebar_shows_the_export_parameters_and_narrows_dates(export_dir, monkeypatch):
    at = app_for(export_dir, monkeypatch)
    open_page(at, "business")
    captions = " ".join(str(c.value) for c in at.sidebar.caption)
    assert "time zone Europe/Berlin" in captions and "attribution window 3 days" in captions and "N 2" in captions
    dates = at.sidebar.date_input(key="dates")
    first, last = dates.value
    dates.set_value((last - dt.timedelta(days=13), last)).run()
    shown = table_with(at, "week_start", "gmv", "net_gmv")
    assert len(shown) == 2


@pytest.mark.parametrize("params", [
    Params(),
    Params(tz="Asia/Kolkata", window_days=0, n_sales=0, k=3, start=dt.date(2026, 9, 2), end=dt.date(2026, 10, 1),
           blocks=("home_feed", "cart_upsell"), platform="ios"),
    Params(pre_days=14, seq_tuning=500, cap_quantile=0.99),
])
def test_parameters_round_trip_through_their_options(params):
    assert Params.from_options(params.as_options()) == params


def test_export_info_without_experiment_options_reads_their_defaults():
    # export.json written before --pre-days, --seq-tuning and --cap-quantile existed
    old = {k: v for k, v in Params().as_options().items() if k not in ("pre_days", "seq_tuning", "cap_quantile")}
    assert Params.from_options(old) == Params()
