"""business_weekly on a hand-built marketplace.

Weeks (UTC): W1 = 2026-03-02, W2 = 03-09, W3 = 03-16 (no activity at all), W4 = 03-23.
The data's date range is 03-02 .. 03-24 (last event), so W4 has 2 days in range and is incomplete.
"""
import datetime as dt
import math

import pandas as pd
import pytest

from conftest import compute


def ev(event_id, ts, user, event_type="app_open"):
    return {"event_id": event_id, "ts": ts, "user_id": user, "event_type": event_type}


def line(order_id, item, ts, user, quantity, price, commission="0", delivery="0", discount="0", returned="false"):
    return {"order_id": order_id, "item_id": item, "ts": ts, "user_id": user, "quantity": quantity,
            "price": price, "commission": commission, "delivery_cost": delivery,
            "discount": discount, "returned": returned}


EVENTS = [
    ev("e1", "2026-03-02 08:00:00", "u1"),
    ev("e2", "2026-03-03 08:00:00", "u1"),
    ev("e3", "2026-03-03 09:00:00", "u2"),
    ev("e4", "2026-03-10 09:00:00", "u3"),
    ev("e5", "2026-03-24 09:00:00", "u1"),
]
ORDERS = [
    line("o1", "i1", "2026-03-03 12:00:00", "u1", 1, "100", "10", "5", "2"),
    line("o1", "i2", "2026-03-03 12:00:00", "u1", 2, "25", "4", "0", "0", returned="true"),
    line("o2", "i1", "2026-03-04 12:00:00", "u2", 1, "40", "3", "4", "1"),
    line("o3", "i1", "2026-03-11 12:00:00", "u1", 1, "60", "6"),
]
AD_SPEND = [
    {"date": "2026-03-08", "seller_id": "s1", "amount": "7"},  # Sunday: W1
    {"date": "2026-03-09", "seller_id": "s1", "amount": "12"},  # Monday: W2
]


@pytest.fixture
def frame(make_source):
    return compute(make_source({"events": EVENTS, "orders": ORDERS, "ad_spend": AD_SPEND}), "business_weekly")


def week(frame, day):
    hit = frame[frame.week_start == pd.Timestamp(day)]
    assert len(hit) == 1
    return hit.iloc[0]


def is_null(value):
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def test_one_row_per_week_including_the_empty_one(frame):
    assert list(frame.week_start.dt.strftime("%Y-%m-%d")) == ["2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23"]
    assert list(frame.is_complete) == [True, True, True, False]  # W4's Sunday 03-29 is after 03-24


def test_audience_w1(frame):
    w = week(frame, "2026-03-02")
    # user-days: 03-02 {u1}, 03-03 {u1, u2} -> 3 over 7 days
    assert w.dau_avg == pytest.approx(3 / 7)
    assert (w.wau, w.mau) == (2, 2)
    assert w.stickiness == pytest.approx((3 / 7) / 2)


def test_money_w1(frame):
    w = week(frame, "2026-03-02")
    assert (w.buyers, w.new_buyers, w.orders) == (2, 2, 2)
    assert w.gmv == 190  # 100 + 2*25 + 40
    assert w.aov == 95  # 190 / 2
    assert (w.returns_gmv, w.net_gmv) == (50, 140)
    assert w.commission == 13  # 10 + 3; the returned line's 4 is refunded
    assert w.ad_revenue == 7
    assert w.revenue == 20
    assert (w.delivery_cost, w.discount) == (9, 3)  # over all lines, returned included
    assert w.contribution == 8  # 20 - 9 - 3
    assert w.margin == pytest.approx(8 / 140)
    assert w.rec_gmv_share == 0.0  # no clicks: nothing attributed


def test_w2_repeat_buyer_is_not_new_and_mau_spans_four_weeks(frame):
    w = week(frame, "2026-03-09")
    assert w.dau_avg == pytest.approx(1 / 7)
    assert (w.wau, w.mau) == (1, 3)  # u3 this week; u1, u2 in W1 are within 28 days
    assert (w.buyers, w.new_buyers, w.orders, w.gmv) == (1, 0, 1, 60)
    assert (w.commission, w.ad_revenue, w.revenue, w.contribution) == (6, 12, 18, 18)
    assert w.margin == pytest.approx(0.3)


def test_empty_week_is_zero_filled_with_null_ratios(frame):
    w = week(frame, "2026-03-16")
    assert (w.dau_avg, w.wau, w.mau) == (0, 0, 3)
    assert w.stickiness == 0
    assert (w.buyers, w.orders, w.gmv, w.revenue, w.contribution) == (0, 0, 0, 0, 0)
    assert is_null(w.aov) and is_null(w.margin) and is_null(w.rec_gmv_share)


def test_partial_last_week_averages_over_days_in_range(frame):
    w = week(frame, "2026-03-23")
    assert w.dau_avg == pytest.approx(0.5)  # 1 user-day over 03-23 and 03-24
    assert (w.wau, w.mau) == (1, 3)


def test_rec_gmv_share_counts_attributed_lines(make_source):
    events = EVENTS + [{"event_id": "c1", "ts": "2026-03-02 09:00:00", "user_id": "u2",
                        "event_type": "click", "item_id": "i1", "block": "home_feed"}]
    frame = compute(make_source({"events": events, "orders": ORDERS}), "business_weekly")
    assert week(frame, "2026-03-02").rec_gmv_share == pytest.approx(40 / 190)  # o2 follows c1


def test_without_ad_spend_ad_revenue_is_null_and_revenue_uses_zero(make_source):
    frame = compute(make_source({"events": EVENTS, "orders": ORDERS}), "business_weekly")
    w = week(frame, "2026-03-02")
    assert is_null(w.ad_revenue)
    assert (w.revenue, w.contribution) == (13, 1)


def test_without_orders_money_columns_are_null(make_source):
    frame = compute(make_source({"events": EVENTS}), "business_weekly")
    assert frame.gmv.isna().all() and frame.orders.isna().all() and frame.margin.isna().all()
    assert week(frame, "2026-03-02").wau == 2


def test_dst_week_in_berlin(make_source):
    # 2026-03-29 is the switch to summer time in Berlin (UTC+1 -> UTC+2).
    events = [
        ev("a", "2026-03-22 23:30:00", "u1"),  # UTC week 03-16; Berlin 03-23 00:30 -> week 03-23
        ev("b", "2026-03-29 22:30:00", "u2"),  # UTC week 03-23; Berlin 03-30 00:30 CEST -> week 03-30
        ev("c", "2026-03-29 21:30:00", "u3"),  # Berlin 03-29 23:30 CEST -> still week 03-23
    ]
    utc = compute(make_source({"events": events}), "business_weekly")
    assert dict(zip(utc.week_start.dt.strftime("%Y-%m-%d"), utc.wau)) == {"2026-03-16": 1, "2026-03-23": 2}
    berlin = compute(make_source({"events": events}), "business_weekly", tz="Europe/Berlin")
    assert dict(zip(berlin.week_start.dt.strftime("%Y-%m-%d"), berlin.wau)) == {"2026-03-23": 2, "2026-03-30": 1}


def test_new_buyers_use_the_first_order_ever_whatever_the_date_filter(make_source):
    frame = compute(make_source({"events": EVENTS, "orders": ORDERS}), "business_weekly", start=dt.date(2026, 3, 9))
    assert list(frame.week_start.dt.strftime("%Y-%m-%d")) == ["2026-03-09", "2026-03-16", "2026-03-23"]
    assert week(frame, "2026-03-09").new_buyers == 0  # u1 bought first in W1, before the filter
    assert week(frame, "2026-03-09").mau == 3  # lookbacks read the weeks before the filter
