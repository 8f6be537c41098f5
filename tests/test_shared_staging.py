"""Staging shared between runs of one source gives the same tables as staging built per run.

A page computes every table on its own `MetricContext`; the staging tables that depend on
neither the block nor the date filter are built once per source and parameter values and
reused. Reuse must never change a number: every comparison below is against a source loaded
anew (nothing shared yet) and computed with the same parameters.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from dashboard.engine import context
from dashboard.engine.context import MetricContext, is_shareable, shared_staging
from dashboard.engine.demo import generate
from dashboard.engine.metrics import compute_table
from dashboard.engine.params import Params
from dashboard.engine.source import load_source

NOW = dt.datetime(2026, 11, 29)  # after the demo's last event
TABLES = ("buyer_weekly", "business_weekly", "time_to_purchase_weekly", "convenience_weekly", "retention")


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shared-staging")
    generate(folder, users=400, weeks=8, seed=11)
    return folder


def _table(source, name: str, params: Params) -> pd.DataFrame:
    ctx = MetricContext(source, params)
    try:
        return compute_table(name, ctx)
    finally:
        ctx.close()


def test_only_filter_independent_staging_is_shared():
    assert {n for n in ("stg_tz", "stg_clicks", "stg_lines", "stg_touches", "stg_sessions") if is_shareable(n)} == {
        "stg_tz", "stg_clicks", "stg_lines", "stg_touches", "stg_sessions"}
    # Block and date filters change from one page view to the next: never shared.
    for name in ("stg_activity", "stg_blocks", "stg_visits", "stg_weeks", "stg_attributed_lines", "stg_attributed_carts"):
        assert not is_shareable(name), name


def test_reused_staging_gives_the_tables_of_a_fresh_source(small_demo):
    shared = load_source(small_demo, now=NOW)
    runs = [
        Params(),
        Params(blocks=("home_feed",)),
        Params(tz="Europe/Berlin", window_days=1),
        Params(tz="Europe/Berlin", platform="ios", start=dt.date(2026, 10, 5)),
        Params(),  # back to the first: every shared table is reused
    ]
    for params in runs:
        for name in TABLES:
            fresh = load_source(small_demo, now=NOW)
            expected = _table(fresh, name, params)
            got = _table(shared, name, params)
            pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
    # One copy per (table, values it reads): stg_clicks reads nothing, so one copy;
    # stg_tz and stg_sessions read the zone (2 zones); stg_lines and stg_touches the zone and
    # the platform (UTC/all, Berlin/all, Berlin/ios).
    names = shared_staging(shared).names()
    counts = {n: sum(1 for t in names if t.startswith(f"_staged_{n}_")) for n in
              ("stg_tz", "stg_clicks", "stg_lines", "stg_touches", "stg_sessions")}
    assert counts == {"stg_tz": 2, "stg_clicks": 1, "stg_lines": 3, "stg_touches": 3, "stg_sessions": 2}


def test_past_the_bound_a_run_builds_its_own_copy(small_demo, monkeypatch):
    monkeypatch.setattr(context, "MAX_SHARED_VERSIONS", 1)
    shared = load_source(small_demo, now=NOW)
    _table(shared, "business_weekly", Params())
    berlin = Params(tz="Europe/Berlin")
    got = _table(shared, "business_weekly", berlin)
    # The Berlin copies were not shared (the UTC ones hold the only slot) ...
    assert sum(t.startswith("_staged_stg_tz_") for t in shared_staging(shared).names()) == 1
    # ... and the table is still right.
    expected = _table(load_source(small_demo, now=NOW), "business_weekly", berlin)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)


def test_dropping_the_shared_tables_starts_cold_and_stays_right(small_demo):
    shared = load_source(small_demo, now=NOW)
    expected = _table(shared, "buyer_weekly", Params())
    cursor = shared.cursor()
    shared_staging(shared).drop_all(cursor)
    cursor.close()
    assert shared_staging(shared).names() == []
    left = shared.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_staged_%'").fetchone()[0]
    assert left == 0
    pd.testing.assert_frame_equal(_table(shared, "buyer_weekly", Params()), expected)
