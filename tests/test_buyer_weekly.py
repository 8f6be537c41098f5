"""buyer_weekly on a hand-built marketplace; every expected number is worked out in comments.

Weeks (UTC): A = 2026-03-02, B = 2026-03-09, C = 2026-03-16. Blocks: hf = home_feed,
si = similar_items. Attribution window 7 days.
"""
import math

import pandas as pd
import pytest

from conftest import compute

HF, SI = "home_feed", "similar_items"


def ev(event_id, ts, user, event_type, item=None, block=None, session="s"):
    return {"event_id": event_id, "ts": ts, "user_id": user, "session_id": session,
            "event_type": event_type, "item_id": item, "block": block}


def line(order_id, item, ts, user, quantity, price):
    return {"order_id": order_id, "item_id": item, "ts": ts, "user_id": user,
            "quantity": quantity, "price": price}


EVENTS = [
    ev("e01", "2026-03-02 09:00:00", "u1", "impression", "i1", HF),
    ev("e02", "2026-03-02 09:00:00", "u1", "impression", "i2", HF),
    ev("e03", "2026-03-02 09:01:00", "u1", "click", "i1", HF),
    ev("e04", "2026-03-02 09:05:00", "u1", "add_to_cart", "i1"),
    ev("e05", "2026-03-03 10:00:00", "u2", "impression", "i1", SI),
    ev("e06", "2026-03-03 10:00:00", "u2", "impression", "i3", HF),
    ev("e07", "2026-03-03 10:01:00", "u2", "click", "i1", SI),
    ev("e08", "2026-03-03 10:02:00", "u2", "click", "i3", HF),
    # a later click on the same item in another block: the last touch wins
    ev("e09", "2026-03-04 12:00:00", "u2", "click", "i1", HF),
    ev("e10", "2026-03-10 08:00:00", "u3", "impression", "i2", SI),
    ev("e11", "2026-03-10 08:01:00", "u3", "click", "i2", SI),
]
ORDERS = [
    line("o1", "i1", "2026-03-02 10:00:00", "u1", 2, "10"),  # touch e03 (hf): 20
    line("o2", "i1", "2026-03-05 09:00:00", "u2", 1, "30"),  # touch e09 (hf), not e07 (si): 30
    line("o2", "i3", "2026-03-05 09:00:00", "u2", 1, "5"),  # touch e08 (hf): 5
    line("o3", "i2", "2026-03-17 08:01:00", "u3", 3, "7"),  # e11 exactly 7 days before: si, 21
    line("o4", "i2", "2026-03-17 08:01:01", "u3", 1, "100"),  # 7 days + 1 s: not attributed
    line("o5", "i9", "2026-03-03 11:00:00", "u1", 1, "50"),  # no click at all: not attributed
]


@pytest.fixture
def source(make_source):
    return make_source({"events": EVENTS, "orders": ORDERS})


def row(frame, week, block):
    hit = frame[(frame.week_start == pd.Timestamp(week)) & (frame.block == block)]
    assert len(hit) == 1, f"expected one row for {week} {block}, got {len(hit)}"
    return hit.iloc[0]


def is_null(value):
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def test_grid_has_every_week_and_block_plus_all(source):
    frame = compute(source, "buyer_weekly")
    # 3 weeks (A, B and C, which only an order reaches) x (hf, si, ALL)
    assert len(frame) == 9
    assert list(frame.columns) == [
        "week_start", "block", "impressions", "clicks", "ctr", "rec_users", "converted_users",
        "buyer_conversion", "attributed_carts", "attributed_lines", "attributed_orders",
        "attributed_gmv", "click_conversion",
    ]


def test_week_a_home_feed(source):
    r = row(compute(source, "buyer_weekly"), "2026-03-02", HF)
    assert (r.impressions, r.clicks) == (3, 3)  # e01 e02 e06 / e03 e08 e09
    assert r.ctr == 1.0
    assert r.rec_users == 2  # u1, u2
    assert r.converted_users == 2 and r.buyer_conversion == 1.0  # both bought via hf in week A
    assert r.attributed_carts == 1  # e04 -> e03
    assert (r.attributed_lines, r.attributed_orders) == (3, 2)  # o1/i1, o2/i1, o2/i3
    assert r.attributed_gmv == 55  # 2*10 + 30 + 5
    assert r.click_conversion == 1.0  # e03, e08, e09 are touch clicks: 3/3


def test_week_a_similar_items_loses_the_last_touch(source):
    r = row(compute(source, "buyer_weekly"), "2026-03-02", SI)
    assert (r.impressions, r.clicks, r.rec_users) == (1, 1, 1)
    assert r.converted_users == 0 and r.buyer_conversion == 0.0
    assert (r.attributed_lines, r.attributed_orders, r.attributed_gmv) == (0, 0, 0)
    assert r.click_conversion == 0.0  # e07 was overtaken by e09: 0/1


def test_week_a_all_counts_each_event_once(source):
    r = row(compute(source, "buyer_weekly"), "2026-03-02", "ALL")
    assert (r.impressions, r.clicks, r.ctr) == (4, 4, 1.0)
    assert (r.rec_users, r.converted_users, r.buyer_conversion) == (2, 2, 1.0)
    assert (r.attributed_carts, r.attributed_lines, r.attributed_orders) == (1, 3, 2)
    assert r.attributed_gmv == 55
    assert r.click_conversion == 0.75  # 3 converted of 4 clicks


def test_converted_clicks_count_in_the_week_of_the_click(source):
    frame = compute(source, "buyer_weekly")
    b = row(frame, "2026-03-09", SI)
    assert (b.impressions, b.clicks, b.rec_users) == (1, 1, 1)
    assert b.click_conversion == 1.0  # e11 converts o3, a week later
    assert b.converted_users == 0 and b.buyer_conversion == 0.0  # the purchase is in week C
    assert b.attributed_lines == 0


def test_attribution_window_edge_inclusive_and_one_second_beyond(source):
    c = row(compute(source, "buyer_weekly"), "2026-03-16", SI)
    assert c.attributed_lines == 1  # o3 at exactly 7 days; o4 at 7 days + 1 s is not
    assert c.attributed_gmv == 21
    # nobody saw a recommendation in week C: ratios without denominators are NULL
    assert c.rec_users == 0 and is_null(c.buyer_conversion)
    assert is_null(c.ctr) and is_null(c.click_conversion)


def test_shorter_window_drops_the_edge_purchase(source):
    c = row(compute(source, "buyer_weekly", window_days=6), "2026-03-16", SI)
    assert c.attributed_lines == 0


def test_empty_week_for_a_block_is_zero_filled_with_null_ratios(source):
    r = row(compute(source, "buyer_weekly"), "2026-03-09", HF)
    assert (r.impressions, r.clicks, r.rec_users, r.attributed_lines, r.attributed_gmv) == (0, 0, 0, 0, 0)
    assert is_null(r.ctr) and is_null(r.buyer_conversion) and is_null(r.click_conversion)


def test_block_filter_keeps_last_touch_and_narrows_all(source):
    frame = compute(source, "buyer_weekly", blocks=(SI,))
    assert set(frame.block) == {SI, "ALL"}
    a = row(frame, "2026-03-02", "ALL")
    # only si: e05 / e07; o2/i1's last touch is hf, so it is not si's even when hf is hidden
    assert (a.impressions, a.clicks, a.rec_users) == (1, 1, 1)
    assert (a.attributed_lines, a.attributed_gmv, a.converted_users) == (0, 0, 0)
    assert a.click_conversion == 0.0


def test_tie_on_click_time_goes_to_larger_event_id(make_source):
    source = make_source({
        "events": [
            ev("e12", "2026-03-11 09:00:00", "u4", "click", "i5", HF),
            ev("e13", "2026-03-11 09:00:00", "u4", "click", "i5", SI),
        ],
        "orders": [line("o6", "i5", "2026-03-11 10:00:00", "u4", 1, "1")],
    })
    frame = compute(source, "buyer_weekly")
    assert row(frame, "2026-03-09", SI).attributed_lines == 1
    assert row(frame, "2026-03-09", HF).attributed_lines == 0
    assert row(frame, "2026-03-09", SI).click_conversion == 1.0
    assert row(frame, "2026-03-09", HF).click_conversion == 0.0
    assert row(frame, "2026-03-09", "ALL").click_conversion == 0.5


def test_returned_lines_remain_purchases(make_source):
    source = make_source({
        "events": [ev("e1", "2026-03-02 09:00:00", "u1", "click", "i1", HF)],
        "orders": [dict(line("o1", "i1", "2026-03-02 10:00:00", "u1", 1, "9"), returned="true")],
    })
    r = row(compute(source, "buyer_weekly"), "2026-03-02", HF)
    assert (r.attributed_lines, r.attributed_gmv, r.click_conversion) == (1, 9, 1.0)


def test_duplicate_events_count_once(make_source):
    source = make_source({"events": [EVENTS[0], EVENTS[0], EVENTS[2]]})
    r = row(compute(source, "buyer_weekly"), "2026-03-02", HF)
    assert (r.impressions, r.clicks) == (1, 1)


def test_without_orders_purchase_columns_are_null_not_zero(make_source):
    source = make_source({"events": EVENTS})
    frame = compute(source, "buyer_weekly")
    r = row(frame, "2026-03-02", HF)
    assert (r.impressions, r.clicks, r.attributed_carts) == (3, 3, 1)
    for column in ("converted_users", "buyer_conversion", "attributed_lines", "attributed_orders",
                   "attributed_gmv", "click_conversion"):
        assert frame[column].isna().all(), column


def test_platform_filter_narrows_events(make_source):
    # one session per user; u1 is on ios, everyone else on the web
    events = [dict(e, session_id=e["user_id"], platform="ios" if e["user_id"] == "u1" else "web") for e in EVENTS]
    orders = [dict(o, session_id=o["user_id"]) for o in ORDERS]
    frame = compute(make_source({"events": events, "orders": orders}), "buyer_weekly", platform="ios")
    a = row(frame, "2026-03-02", "ALL")
    # u1 only: e01 e02 impressions, e03 click; o1 (its session is on ios) attributed 20; o5 not attributed
    assert (a.impressions, a.clicks, a.rec_users, a.converted_users) == (2, 1, 1, 1)
    assert (a.attributed_lines, a.attributed_gmv) == (1, 20)


def test_date_filter_reports_whole_weeks_in_range(source):
    frame = compute(source, "buyer_weekly", start=__import__("datetime").date(2026, 3, 11))
    assert sorted(set(frame.week_start.dt.strftime("%Y-%m-%d"))) == ["2026-03-09", "2026-03-16"]
    # the purchase in week C still finds its click in the hidden week B
    assert row(frame, "2026-03-16", SI).attributed_lines == 1
