"""time_to_purchase_weekly: hand-computed quantiles of click→purchase and open→purchase minutes."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from dashboard.engine.context import Unavailable
from tests.conftest import compute

TABLE = "time_to_purchase_weekly"
T0 = dt.datetime(2026, 3, 3, 8, 0, 0)  # a Tuesday; its week starts Monday 2026-03-02


def at(base: dt.datetime = T0, **delta) -> str:
    return (base + dt.timedelta(**delta)).strftime("%Y-%m-%d %H:%M:%S")


def click(event_id, ts, user, item, block, platform=None):
    return {"event_id": event_id, "ts": ts, "user_id": user, "event_type": "click",
            "item_id": item, "block": block, "platform": platform}


def app_open(event_id, ts, user, platform=None):
    return {"event_id": event_id, "ts": ts, "user_id": user, "event_type": "app_open", "platform": platform}


def line(order_id, item, ts, user, session=None):
    return {"order_id": order_id, "item_id": item, "ts": ts, "user_id": user, "session_id": session,
            "quantity": 1, "price": "10.00"}


def row(frame: pd.DataFrame, week: str, block: str, measure: str) -> pd.Series:
    hit = frame[(frame.week_start == pd.Timestamp(week)) & (frame.block == block) & (frame.measure == measure)]
    assert len(hit) == 1, f"expected one row for {week} {block} {measure}, got {len(hit)}"
    return hit.iloc[0]


def assert_empty(r: pd.Series) -> None:
    assert r.n == 0
    assert pd.isna(r.median_min) and pd.isna(r.p75_min) and pd.isna(r.p90_min)


@pytest.fixture
def quantile_source(make_source):
    # block 'home': 5 lines bought 10, 20, 30, 40, 100 min after their click;
    # block 'similar': 4 lines bought 5, 15, 25, 55 min after their click.
    home = [10, 20, 30, 40, 100]
    similar = [5, 15, 25, 55]
    events, orders = [], []
    for n, minutes in enumerate(home):
        events.append(click(f"h{n}", at(), "u1", f"h-item{n}", "home"))
        orders.append(line(f"oh{n}", f"h-item{n}", at(minutes=minutes), "u1"))
    for n, minutes in enumerate(similar):
        events.append(click(f"s{n}", at(), "u1", f"s-item{n}", "similar"))
        orders.append(line(f"os{n}", f"s-item{n}", at(minutes=minutes), "u1"))
    # an impression two weeks later leaves week 2026-03-09 empty in between
    events.append({"event_id": "late", "ts": "2026-03-17 09:00:00", "user_id": "u2",
                   "event_type": "impression", "item_id": "x", "block": "home"})
    return make_source({"events": events, "orders": orders})


def test_click_to_purchase_quantiles_per_block(quantile_source):
    frame = compute(quantile_source, TABLE)
    home = row(frame, "2026-03-02", "home", "click_to_purchase")
    # sorted [10, 20, 30, 40, 100], position h = (n - 1) p = 4p
    # median h = 2 -> 30; p75 h = 3 -> 40; p90 h = 3.6 -> 40 + 0.6 * (100 - 40) = 76
    assert home.n == 5
    assert home.median_min == pytest.approx(30.0)
    assert home.p75_min == pytest.approx(40.0)
    assert home.p90_min == pytest.approx(76.0)
    similar = row(frame, "2026-03-02", "similar", "click_to_purchase")
    # sorted [5, 15, 25, 55], h = 3p
    # median h = 1.5 -> 15 + 0.5 * 10 = 20; p75 h = 2.25 -> 25 + 0.25 * 30 = 32.5;
    # p90 h = 2.7 -> 25 + 0.7 * 30 = 46
    assert similar.n == 4
    assert similar.median_min == pytest.approx(20.0)
    assert similar.p75_min == pytest.approx(32.5)
    assert similar.p90_min == pytest.approx(46.0)


def test_click_to_purchase_all_pools_every_line_once(quantile_source):
    frame = compute(quantile_source, TABLE)
    pooled = row(frame, "2026-03-02", "ALL", "click_to_purchase")
    # sorted [5, 10, 15, 20, 25, 30, 40, 55, 100], h = 8p
    # median h = 4 -> 25; p75 h = 6 -> 40; p90 h = 7.2 -> 55 + 0.2 * (100 - 55) = 64
    assert pooled.n == 9
    assert pooled.median_min == pytest.approx(25.0)
    assert pooled.p75_min == pytest.approx(40.0)
    assert pooled.p90_min == pytest.approx(64.0)


def test_zero_filled_grid(quantile_source):
    frame = compute(quantile_source, TABLE)
    assert list(frame.columns) == ["week_start", "block", "measure", "n", "median_min", "p75_min", "p90_min"]
    # 3 weeks x (click_to_purchase for home, similar, ALL + open_to_purchase for ALL)
    assert len(frame) == 3 * 4
    assert set(frame[frame.measure == "open_to_purchase"].block) == {"ALL"}
    for block in ("home", "similar", "ALL"):
        assert_empty(row(frame, "2026-03-09", block, "click_to_purchase"))
    assert_empty(row(frame, "2026-03-09", "ALL", "open_to_purchase"))
    # no app_open at all: open_to_purchase is empty even in the week with orders
    assert_empty(row(frame, "2026-03-02", "ALL", "open_to_purchase"))
    assert frame.n.dtype.kind == "i"


def test_minutes_are_unrounded_seconds_over_60(make_source):
    source = make_source({
        "events": [click("c1", at(), "u1", "i1", "home")],
        "orders": [line("o1", "i1", at(seconds=90), "u1")],
    })
    r = row(compute(source, TABLE), "2026-03-02", "ALL", "click_to_purchase")
    assert r.n == 1
    assert r.median_min == pytest.approx(1.5)  # 90 s / 60


def test_attribution_window_edge_inclusive_and_one_second_beyond(make_source):
    click_ts = dt.datetime(2026, 3, 2, 12, 0, 0)
    source = make_source({
        "events": [
            click("c1", at(click_ts), "u1", "edge", "home"),
            click("c2", at(click_ts), "u1", "beyond", "home"),
        ],
        "orders": [
            line("o1", "edge", at(click_ts, days=7), "u1"),              # exactly 7 x 24 h: attributed
            line("o2", "beyond", at(click_ts, days=7, seconds=1), "u1"),  # 7 days + 1 s: not
        ],
    })
    frame = compute(source, TABLE)
    for block in ("home", "ALL"):
        r = row(frame, "2026-03-09", block, "click_to_purchase")
        assert r.n == 1
        assert r.median_min == pytest.approx(7 * 24 * 60)  # 10080 min


def test_window_days_parameter_moves_the_edge(make_source):
    source = make_source({
        "events": [click("c1", "2026-03-02 12:00:00", "u1", "i1", "home")],
        "orders": [line("o1", "i1", "2026-03-04 12:00:00", "u1")],  # 2 days after the click
    })
    assert row(compute(source, TABLE, window_days=1), "2026-03-02", "ALL", "click_to_purchase").n == 0
    r = row(compute(source, TABLE, window_days=2), "2026-03-02", "ALL", "click_to_purchase")
    assert r.n == 1 and r.median_min == pytest.approx(2 * 24 * 60)


def test_last_touch_across_blocks(make_source):
    source = make_source({
        "events": [
            click("c1", at(), "u1", "i1", "home"),
            click("c2", at(minutes=20), "u1", "i1", "similar"),
        ],
        "orders": [line("o1", "i1", at(minutes=50), "u1")],
    })
    frame = compute(source, TABLE)
    # the later click (similar, at +20) is the touch: 50 - 20 = 30 min, nothing for home
    assert_empty(row(frame, "2026-03-02", "home", "click_to_purchase"))
    similar = row(frame, "2026-03-02", "similar", "click_to_purchase")
    assert similar.n == 1 and similar.median_min == pytest.approx(30.0)
    pooled = row(frame, "2026-03-02", "ALL", "click_to_purchase")
    assert pooled.n == 1 and pooled.median_min == pytest.approx(30.0)


def test_clicks_at_the_same_instant_go_to_the_larger_event_id(make_source):
    source = make_source({
        "events": [
            click("c1", at(), "u1", "i1", "similar"),
            click("c2", at(), "u1", "i1", "home"),
        ],
        "orders": [line("o1", "i1", at(minutes=10), "u1")],
    })
    frame = compute(source, TABLE)
    assert row(frame, "2026-03-02", "home", "click_to_purchase").n == 1
    assert row(frame, "2026-03-02", "similar", "click_to_purchase").n == 0


def test_purchase_without_click_has_no_click_to_purchase_value(make_source):
    source = make_source({
        "events": [
            click("c1", at(), "u1", "other", "home"),  # a click on another item
            click("c2", at(), "u2", "i1", "home"),     # another user's click on the item
        ],
        "orders": [line("o1", "i1", at(minutes=5), "u1")],
    })
    frame = compute(source, TABLE)
    for block in ("home", "ALL"):
        assert_empty(row(frame, "2026-03-02", block, "click_to_purchase"))


def test_click_after_the_order_does_not_count(make_source):
    source = make_source({
        "events": [click("c1", at(minutes=1), "u1", "i1", "home")],
        "orders": [line("o1", "i1", at(), "u1")],
    })
    assert_empty(row(compute(source, TABLE), "2026-03-02", "ALL", "click_to_purchase"))


def test_click_at_the_order_instant_counts_with_zero_minutes(make_source):
    source = make_source({
        "events": [click("c1", at(), "u1", "i1", "home")],
        "orders": [line("o1", "i1", at(), "u1")],
    })
    r = row(compute(source, TABLE), "2026-03-02", "ALL", "click_to_purchase")
    assert r.n == 1 and r.median_min == 0.0


def test_click_to_purchase_counts_in_the_week_of_the_order(make_source):
    source = make_source({
        "events": [click("c1", "2026-03-08 23:00:00", "u1", "i1", "home")],  # Sunday
        "orders": [line("o1", "i1", "2026-03-09 01:00:00", "u1")],           # Monday
    })
    frame = compute(source, TABLE)
    assert row(frame, "2026-03-02", "ALL", "click_to_purchase").n == 0
    r = row(frame, "2026-03-09", "ALL", "click_to_purchase")
    assert r.n == 1 and r.median_min == pytest.approx(120.0)


def test_order_week_follows_the_time_zone(make_source):
    # 2026-03-08 23:30 UTC is Monday 2026-03-09 00:30 in Berlin (UTC+1 in March); the click,
    # 22:00 UTC, is still Sunday 23:00 there
    source = make_source({
        "events": [click("c1", "2026-03-08 22:00:00", "u1", "i1", "home")],
        "orders": [line("o1", "i1", "2026-03-08 23:30:00", "u1")],
    })
    utc = compute(source, TABLE)
    assert row(utc, "2026-03-02", "ALL", "click_to_purchase").n == 1
    berlin = compute(source, TABLE, tz="Europe/Berlin")
    assert row(berlin, "2026-03-02", "ALL", "click_to_purchase").n == 0
    r = row(berlin, "2026-03-09", "ALL", "click_to_purchase")
    assert r.n == 1 and r.median_min == pytest.approx(90.0)  # 23:30 - 22:00


def test_one_value_per_line_quantity_ignored(make_source):
    source = make_source({
        "events": [click("c1", at(), "u1", "a", "home"), click("c2", at(), "u1", "b", "home")],
        "orders": [
            {**line("o1", "a", at(minutes=10), "u1"), "quantity": 5},
            {**line("o1", "b", at(minutes=40), "u1"), "quantity": 1},
        ],
    })
    r = row(compute(source, TABLE), "2026-03-02", "ALL", "click_to_purchase")
    # two lines of one order: [10, 40], median h = 0.5 -> 25 (quantity 5 does not repeat 10)
    assert r.n == 2
    assert r.median_min == pytest.approx(25.0)


def test_block_filter_keeps_selected_blocks_only(make_source):
    source = make_source({
        "events": [
            click("c1", at(), "u1", "i1", "home"),
            click("c2", at(minutes=20), "u1", "i1", "similar"),
            click("c3", at(), "u1", "i2", "home"),
        ],
        "orders": [line("o1", "i1", at(minutes=50), "u1"), line("o2", "i2", at(minutes=10), "u1")],
    })
    frame = compute(source, TABLE, blocks=("home",))
    assert set(frame.block) == {"home", "ALL"}
    # i1's last touch is in 'similar', which is not selected: only i2's 10 min remains
    r = row(frame, "2026-03-02", "ALL", "click_to_purchase")
    assert r.n == 1 and r.median_min == pytest.approx(10.0)


# --- open_to_purchase ----------------------------------------------------------------------------

def test_open_to_purchase_24h_edge(make_source):
    order_ts = dt.datetime(2026, 3, 4, 12, 0, 0)
    source = make_source({
        "events": [
            app_open("a1", at(order_ts, hours=-24), "u1"),             # exactly 24 h before: counts
            app_open("a2", at(order_ts, hours=-24, seconds=-1), "u2"),  # 24 h + 1 s before: does not
        ],
        "orders": [line("o1", "i1", at(order_ts), "u1"), line("o2", "i1", at(order_ts), "u2")],
    })
    r = row(compute(source, TABLE), "2026-03-02", "ALL", "open_to_purchase")
    assert r.n == 1  # o2 has no app_open in its 24 h and is left out
    assert r.median_min == pytest.approx(24 * 60)  # 1440


def test_open_to_purchase_uses_the_latest_open_of_the_same_user(make_source):
    order_ts = dt.datetime(2026, 3, 4, 12, 0, 0)
    source = make_source({
        "events": [
            app_open("a1", at(order_ts, hours=-5), "u1"),
            app_open("a2", at(order_ts, minutes=-30), "u1"),  # latest before: 30 min
            app_open("a3", at(order_ts, minutes=1), "u1"),    # after the order: ignored
            app_open("a4", at(order_ts, minutes=-2), "u2"),   # another user: ignored
        ],
        "orders": [line("o1", "i1", at(order_ts), "u1")],
    })
    r = row(compute(source, TABLE), "2026-03-02", "ALL", "open_to_purchase")
    assert r.n == 1
    assert r.median_min == pytest.approx(30.0)


def test_open_at_the_order_instant_counts(make_source):
    order_ts = dt.datetime(2026, 3, 4, 12, 0, 0)
    source = make_source({
        "events": [app_open("a1", at(order_ts), "u1")],
        "orders": [line("o1", "i1", at(order_ts), "u1")],
    })
    r = row(compute(source, TABLE), "2026-03-02", "ALL", "open_to_purchase")
    assert r.n == 1 and r.median_min == 0.0


def test_open_to_purchase_one_value_per_order_from_its_earliest_line(make_source):
    source = make_source({
        "events": [app_open("a1", "2026-03-08 23:20:00", "u1")],
        "orders": [
            # one order whose lines straddle midnight Sunday -> Monday: ts = 23:50 Sunday
            line("o1", "i1", "2026-03-08 23:50:00", "u1"),
            line("o1", "i2", "2026-03-09 00:10:00", "u1"),
        ],
    })
    frame = compute(source, TABLE)
    r = row(frame, "2026-03-02", "ALL", "open_to_purchase")
    assert r.n == 1  # not 2: one value per order
    assert r.median_min == pytest.approx(30.0)  # 23:50 - 23:20
    assert_empty(row(frame, "2026-03-09", "ALL", "open_to_purchase"))


def test_open_to_purchase_quantiles(make_source):
    # four orders of four users, opened 10, 20, 40, 80 min before
    order_ts = dt.datetime(2026, 3, 4, 12, 0, 0)
    events, orders = [], []
    for n, minutes in enumerate([10, 20, 40, 80]):
        events.append(app_open(f"a{n}", at(order_ts, minutes=-minutes), f"u{n}"))
        orders.append(line(f"o{n}", "i1", at(order_ts), f"u{n}"))
    r = row(compute(make_source({"events": events, "orders": orders}), TABLE), "2026-03-02", "ALL", "open_to_purchase")
    # sorted [10, 20, 40, 80], h = 3p: median h = 1.5 -> 30; p75 h = 2.25 -> 40 + 0.25 * 40 = 50;
    # p90 h = 2.7 -> 40 + 0.7 * 40 = 68
    assert r.n == 4
    assert r.median_min == pytest.approx(30.0)
    assert r.p75_min == pytest.approx(50.0)
    assert r.p90_min == pytest.approx(68.0)


def test_open_to_purchase_under_platform_filter_needs_an_open_on_that_platform(make_source):
    # chosen rule: app_opens pass the platform filter like the orders (order platform = its session's)
    order_ts = dt.datetime(2026, 3, 4, 12, 0, 0)
    source = make_source({
        "events": [
            {**app_open("a1", at(order_ts, minutes=-10), "u1", platform="web"), "session_id": "s-web"},
            {**app_open("a2", at(order_ts, hours=-2), "u1", platform="ios"), "session_id": "s-ios"},
        ],
        "orders": [line("o1", "i1", at(order_ts), "u1", session="s-ios")],
    })
    everything = row(compute(source, TABLE), "2026-03-02", "ALL", "open_to_purchase")
    assert everything.n == 1 and everything.median_min == pytest.approx(10.0)
    ios = row(compute(source, TABLE, platform="ios"), "2026-03-02", "ALL", "open_to_purchase")
    assert ios.n == 1 and ios.median_min == pytest.approx(120.0)
    web = row(compute(source, TABLE, platform="web"), "2026-03-02", "ALL", "open_to_purchase")
    assert web.n == 0  # the order is an iOS order


def test_unavailable_without_orders(make_source):
    source = make_source({"events": [click("c1", at(), "u1", "i1", "home")]})
    with pytest.raises(Unavailable, match="orders"):
        compute(source, TABLE)
