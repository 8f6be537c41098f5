"""price_weekly: quantity-weighted price index and share of lines below the market price."""
from __future__ import annotations

import pandas as pd
import pytest

from dashboard.engine.context import Unavailable
from tests.conftest import compute

TABLE = "price_weekly"
EVENTS = [{"event_id": "e1", "ts": "2026-03-02 09:00:00", "user_id": "u1", "event_type": "app_open"}]


def line(order_id, item, ts, price, quantity=1, market_price=None):
    return {"order_id": order_id, "item_id": item, "ts": ts, "user_id": "u1", "quantity": quantity,
            "price": price, "market_price": market_price}


def row(frame: pd.DataFrame, week: str) -> pd.Series:
    hit = frame[frame.week_start == pd.Timestamp(week)]
    assert len(hit) == 1, f"expected one row for {week}, got {len(hit)}"
    return hit.iloc[0]


def test_index_with_quantities_and_item_fallback(make_source):
    source = make_source({
        "events": EVENTS,
        "items": [
            {"item_id": "a", "seller_id": "s1", "market_price": "99.00"},  # overridden by the line's own
            {"item_id": "b", "seller_id": "s1", "market_price": "10.00"},  # used: the line has none
            {"item_id": "c", "seller_id": "s1", "market_price": None},     # no market price anywhere
            {"item_id": "d", "seller_id": "s1", "market_price": "10.00"},
        ],
        "orders": [
            line("o1", "a", "2026-03-03 10:00:00", "8.00", quantity=3, market_price="10.00"),  # below
            line("o2", "b", "2026-03-03 11:00:00", "12.00"),                                   # above
            line("o3", "c", "2026-03-04 10:00:00", "5.00"),                                    # left out
            line("o4", "d", "2026-03-05 10:00:00", "10.00", quantity=2, market_price="10.00"),  # equal
        ],
    })
    r = row(compute(source, TABLE), "2026-03-02")
    assert r.lines_with_market_price == 3  # o1, o2, o4
    # paid 8*3 + 12*1 + 10*2 = 56; market 10*3 + 10*1 + 10*2 = 60; 56 / 60
    # (unweighted it would be (8 + 12 + 10) / 30 = 1.0; with item a's 99 it would be far lower)
    assert r.price_index == pytest.approx(56 / 60)
    # lines, not units: 1 of 3 lines is below (equal is not below)
    assert r.share_below_market == pytest.approx(1 / 3)


def test_fallback_when_orders_have_no_market_price_column(make_source):
    orders = [line("o1", "a", "2026-03-03 10:00:00", "9.00", quantity=2)]
    for o in orders:
        del o["market_price"]
    source = make_source({
        "events": EVENTS,
        "items": [{"item_id": "a", "seller_id": "s1", "market_price": "12.00"}],
        "orders": orders,
    })
    r = row(compute(source, TABLE), "2026-03-02")
    assert r.lines_with_market_price == 1
    assert r.price_index == pytest.approx(0.75)  # 18 / 24
    assert r.share_below_market == 1.0


def test_lines_without_market_price_are_excluded(make_source):
    # no items table and no market_price on the lines: nothing is known
    source = make_source({
        "events": EVENTS,
        "orders": [line("o1", "a", "2026-03-03 10:00:00", "9.00"), line("o2", "b", "2026-03-03 10:00:00", "1.00")],
    })
    r = row(compute(source, TABLE), "2026-03-02")
    assert r.lines_with_market_price == 0
    assert pd.isna(r.price_index)
    assert pd.isna(r.share_below_market)


def test_weeks_are_zero_filled(make_source):
    source = make_source({
        "events": EVENTS,
        "orders": [
            line("o1", "a", "2026-03-03 10:00:00", "9.00", market_price="10.00"),
            line("o2", "a", "2026-03-17 10:00:00", "11.00", market_price="10.00"),
        ],
    })
    frame = compute(source, TABLE)
    assert list(frame.columns) == ["week_start", "lines_with_market_price", "price_index", "share_below_market"]
    assert [str(d.date()) for d in frame.week_start] == ["2026-03-02", "2026-03-09", "2026-03-16"]
    empty = row(frame, "2026-03-09")
    assert empty.lines_with_market_price == 0
    assert pd.isna(empty.price_index) and pd.isna(empty.share_below_market)
    later = row(frame, "2026-03-16")
    assert later.price_index == pytest.approx(1.1)  # 11 / 10
    assert later.share_below_market == 0.0
    assert frame.lines_with_market_price.dtype.kind == "i"


def test_lines_count_in_the_week_of_the_order_in_the_time_zone(make_source):
    # Sunday 2026-03-08 23:30 UTC is Monday 00:30 in Berlin
    source = make_source({
        "events": EVENTS,
        "orders": [line("o1", "a", "2026-03-08 23:30:00", "9.00", market_price="10.00")],
    })
    assert row(compute(source, TABLE), "2026-03-02").lines_with_market_price == 1
    berlin = compute(source, TABLE, tz="Europe/Berlin")
    assert row(berlin, "2026-03-02").lines_with_market_price == 0
    assert row(berlin, "2026-03-09").lines_with_market_price == 1


def test_zero_market_value_gives_null_index(make_source):
    # a known market price of 0 counts as known, but the index has nothing to divide by
    source = make_source({
        "events": EVENTS,
        "orders": [line("o1", "a", "2026-03-03 10:00:00", "0.00", market_price="0.00")],
    })
    r = row(compute(source, TABLE), "2026-03-02")
    assert r.lines_with_market_price == 1
    assert pd.isna(r.price_index)
    assert r.share_below_market == 0.0


def test_unavailable_without_orders(make_source):
    with pytest.raises(Unavailable, match="orders"):
        compute(make_source({"events": EVENTS}), TABLE)
