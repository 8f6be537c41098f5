"""seller_weekly on tiny hand-built marketplaces; every expected number is worked out by hand."""
from __future__ import annotations

import datetime as dt
import random
from fractions import Fraction

import pandas as pd
import pytest

from conftest import compute
from dashboard.engine.context import Unavailable

W1, W2, W3 = "2026-01-05", "2026-01-12", "2026-01-19"  # Mondays
OLD = "2025-12-01 00:00:00"


def app_open(event_id: str, ts: str, user_id: str = "u1") -> dict:
    return {"event_id": event_id, "ts": ts, "user_id": user_id, "event_type": "app_open"}


def line(order_id: str, item_id: str, ts: str, price: str, quantity: int = 1, user_id: str = "u1", **extra) -> dict:
    return {
        "order_id": order_id, "item_id": item_id, "ts": ts, "user_id": user_id,
        "quantity": quantity, "price": price, **extra,
    }


def seller(seller_id: str, joined_at: str = OLD, left_at: str | None = None) -> dict:
    return {"seller_id": seller_id, "joined_at": joined_at, "left_at": left_at}


def item(item_id: str, seller_id: str, created_at: str | None = "2025-11-01 00:00:00", category: str = "A") -> dict:
    return {"item_id": item_id, "seller_id": seller_id, "category": category, "created_at": created_at}


def by_week(frame: pd.DataFrame) -> dict[str, dict]:
    return {str(row.week_start)[:10]: row._asdict() for row in frame.itertuples(index=False)}


def assert_null(value) -> None:
    assert pd.isna(value), f"expected NULL, got {value!r}"


# --- the whole table on one marketplace ---------------------------------------------------------

@pytest.fixture
def marketplace(make_source):
    return make_source({
        "events": [app_open("e1", "2026-01-05 10:00:00"), app_open("e2", "2026-01-25 10:00:00")],
        "sellers": [
            seller("S1"),
            seller("S2"),
            seller("S3", left_at="2026-01-14 00:00:00"),  # leaves in the middle of W2
            seller("S4", joined_at="2026-01-20 08:00:00"),  # joins in W3
            seller("S5"),  # never sells
        ],
        "items": [
            item("I1", "S1"),
            item("I6", "S1"),
            item("I7", "S1", created_at="2026-01-19 00:00:00"),  # listed at the very start of W3
            item("I2", "S2", created_at="2026-01-06 09:00:00"),  # W1
            item("I3", "S3"),
            item("I4", "S4", created_at="2026-01-21 09:00:00"),  # W3
            item("I5", "S5", created_at="2026-01-13 09:00:00"),  # W2
        ],
        "orders": [
            # W1
            line("o1", "I1", "2026-01-06 10:00:00", "10"),
            line("o2", "I1", "2026-01-07 10:00:00", "10", quantity=2, user_id="u2"),
            line("o2", "I6", "2026-01-07 10:00:00", "5", user_id="u2"),  # same order: one sale of S1
            line("o3", "I2", "2026-01-08 10:00:00", "10", user_id="u3"),
            line("o4", "I3", "2026-01-09 10:00:00", "60", user_id="u4", returned="true"),
            # W2
            line("o6", "I1", "2026-01-13 10:00:00", "10"),
            line("o7", "I3", "2026-01-13 09:00:00", "40", user_id="u2"),  # S3 before leaving
            # W3
            line("o8", "I1", "2026-01-20 10:00:00", "10"),
            line("o9", "I4", "2026-01-22 10:00:00", "30", user_id="u3"),
            line("o10", "I3", "2026-01-21 10:00:00", "5", user_id="u4"),  # S3 sells after leaving
        ],
        "reviews": [
            {"review_id": "R1", "item_id": "I1", "ts": "2026-01-06 10:00:00", "replied_at": "2026-01-13 10:00:00"},
            {"review_id": "R2", "item_id": "I3", "ts": "2026-01-07 10:00:00", "replied_at": "2026-01-14 10:00:01"},
            # reviews.seller_id wins over the item's seller (I1 is S1's)
            {"review_id": "R3", "item_id": "I1", "seller_id": "S2", "ts": "2026-01-20 10:00:00",
             "replied_at": "2026-01-21 10:00:00"},
            {"review_id": "R4", "item_id": "I3", "ts": "2026-01-22 10:00:00"},
        ],
    })


def test_columns_in_spec_order(marketplace):
    frame = compute(marketplace, "seller_weekly")
    assert list(frame.columns) == [
        "week_start", "active_sellers", "n_threshold", "sellers_gt_n", "share_gt_n", "sellers_with_sales",
        "seller_retention_next_week", "new_assortment_share", "review_sellers", "reply_share",
        "gmv_top10_share", "gmv_gini",
    ]
    assert [str(w)[:10] for w in frame.week_start] == [W1, W2, W3]
    for column in ("active_sellers", "n_threshold", "sellers_gt_n", "sellers_with_sales", "review_sellers"):
        assert pd.api.types.is_integer_dtype(frame[column]), column


def test_active_sellers(marketplace):
    weeks = by_week(compute(marketplace, "seller_weekly"))
    # W1: S1 S2 S3 S5 (S4 joins in W3)
    # W2: S1 S2 S3 S5 (S3 left 01-14 >= W2 start 01-12, so still active)
    # W3: S1 S2 S4 S5 (S3 left before W3 start; S4 joined 01-20 < W3 end 01-26)
    assert [weeks[w]["active_sellers"] for w in (W1, W2, W3)] == [4, 4, 4]


def test_sellers_gt_n_and_share(marketplace):
    weeks = by_week(compute(marketplace, "seller_weekly", n_sales=1))
    # sales (distinct orders) W1: S1 = {o1, o2} = 2, S2 = 1, S3 = 1, S5 = 0 -> only S1 has > 1
    assert weeks[W1]["n_threshold"] == 1
    assert weeks[W1]["sellers_gt_n"] == 1
    assert weeks[W1]["share_gt_n"] == pytest.approx(1 / 4)
    # W2: S1 = 1, S3 = 1 -> none > 1; 0 / 4 active is 0, not NULL
    assert weeks[W2]["sellers_gt_n"] == 0
    assert weeks[W2]["share_gt_n"] == 0.0


def test_sellers_with_sales(marketplace):
    weeks = by_week(compute(marketplace, "seller_weekly"))
    # W1: S1, S2, S3 (o4 is returned, still a sale); W2: S1, S3;
    # W3: S1, S4 (S3's o10 is not counted: S3 is no longer active)
    assert [weeks[w]["sellers_with_sales"] for w in (W1, W2, W3)] == [3, 2, 2]


def test_seller_retention_next_week(marketplace):
    weeks = by_week(compute(marketplace, "seller_weekly"))
    # W1 sellers S1, S2, S3; in W2 S1 (o6) and S3 (o7) sell again -> 2 / 3
    assert weeks[W1]["seller_retention_next_week"] == pytest.approx(2 / 3)
    # W2 sellers S1, S3; in W3 S1 (o8) and S3 (o10, no longer active: counts anyway) -> 2 / 2
    assert weeks[W2]["seller_retention_next_week"] == pytest.approx(1.0)
    # W3 is the last week of the range
    assert_null(weeks[W3]["seller_retention_next_week"])


def test_new_assortment_share(marketplace):
    weeks = by_week(compute(marketplace, "seller_weekly"))
    # W1: S2 listed I2 -> 1 / 4; W2: S5 listed I5 -> 1 / 4;
    # W3: S1 listed I7 (at 01-19 00:00, the week's first instant) and S4 listed I4 -> 2 / 4
    assert weeks[W1]["new_assortment_share"] == pytest.approx(0.25)
    assert weeks[W2]["new_assortment_share"] == pytest.approx(0.25)
    assert weeks[W3]["new_assortment_share"] == pytest.approx(0.5)


def test_review_sellers_and_reply_share(marketplace):
    weeks = by_week(compute(marketplace, "seller_weekly"))
    # W1: S1 (R1, reply after exactly 7 days: counts), S3 (R2, 7 days + 1 s: does not) -> 2, 1 / 2
    assert weeks[W1]["review_sellers"] == 2
    assert weeks[W1]["reply_share"] == pytest.approx(0.5)
    # W2: no reviews -> 0 sellers, share NULL
    assert weeks[W2]["review_sellers"] == 0
    assert_null(weeks[W2]["reply_share"])
    # W3: S2 (R3 names S2 itself; replied within a day), S3 (R4, inactive, never replied) -> 2, 1 / 2
    assert weeks[W3]["review_sellers"] == 2
    assert weeks[W3]["reply_share"] == pytest.approx(0.5)


def test_gmv_top10_share(marketplace):
    weeks = by_week(compute(marketplace, "seller_weekly"))
    # W1 GMV of sellers with sales: S1 = 10 + 2*10 + 5 = 35, S2 = 10, S3 = 60 (returned, still GMV)
    # m = 3, top ceil(0.3) = 1 seller: 60 / 105
    assert weeks[W1]["gmv_top10_share"] == pytest.approx(60 / 105)
    # W2: S1 = 10, S3 = 40; top 1 of 2: 40 / 50
    assert weeks[W2]["gmv_top10_share"] == pytest.approx(0.8)
    # W3: S1 = 10, S4 = 30 (inactive S3's 5 left out): 30 / 40
    assert weeks[W3]["gmv_top10_share"] == pytest.approx(0.75)


def test_gmv_gini(marketplace):
    weeks = by_week(compute(marketplace, "seller_weekly"))
    # W1 over active sellers [S5 0, S2 10, S1 35, S3 60], n = 4, mean = 105 / 4
    # double sum: 2 * (10 + 35 + 60 + 25 + 50 + 25) = 410; 410 / (2 * 16 * 26.25) = 410 / 840
    assert weeks[W1]["gmv_gini"] == pytest.approx(410 / 840)
    # W2 [0, 0, 10, 40]: 2 * (10 + 10 + 40 + 40 + 30) = 260; 260 / (2 * 16 * 12.5) = 0.65
    assert weeks[W2]["gmv_gini"] == pytest.approx(0.65)
    # W3 [0, 0, 10, 30]: 2 * (10 + 10 + 30 + 30 + 20) = 200; 200 / (2 * 16 * 10) = 0.625
    assert weeks[W3]["gmv_gini"] == pytest.approx(0.625)


# --- edge cases named in the spec ------------------------------------------------------------------

def test_empty_week_in_the_middle(make_source):
    source = make_source({
        "events": [app_open("e1", "2026-01-05 10:00:00"), app_open("e2", "2026-01-20 10:00:00")],
        "sellers": [seller("S1"), seller("S2")],
        "items": [item("I1", "S1", created_at=None)],
        "orders": [line("o1", "I1", "2026-01-06 10:00:00", "10"), line("o2", "I1", "2026-01-20 10:00:00", "10")],
    })
    weeks = by_week(compute(source, "seller_weekly"))
    assert list(weeks) == [W1, W2, W3]
    w2 = weeks[W2]
    # Both sellers stay active with 0 sales in the week without any data.
    assert w2["active_sellers"] == 2
    assert w2["sellers_with_sales"] == 0
    assert w2["sellers_gt_n"] == 0
    assert w2["share_gt_n"] == 0.0
    # no seller had a sale: NULL, though W2 is not the last week
    assert_null(w2["seller_retention_next_week"])
    # GMV 0: no Gini; no seller with sales: no top share
    assert_null(w2["gmv_gini"])
    assert_null(w2["gmv_top10_share"])
    # W1's only seller S1 sold nothing in W2: 0 / 1
    assert weeks[W1]["seller_retention_next_week"] == 0.0


def test_seller_active_with_zero_sales_is_in_every_denominator(make_source):
    source = make_source({
        "events": [app_open("e1", "2026-01-05 10:00:00")],
        "sellers": [seller("S1"), seller("S2")],
        "items": [item("I1", "S1"), item("I2", "S2")],
        "orders": [line("o1", "I1", "2026-01-06 10:00:00", "100")],
    })
    row = by_week(compute(source, "seller_weekly", n_sales=0))[W1]
    assert row["active_sellers"] == 2
    assert row["sellers_with_sales"] == 1
    # S1 has 1 sale > 0, S2 has 0: 1 / 2
    assert row["share_gt_n"] == pytest.approx(0.5)
    # [0, 100]: double sum 2 * 100 = 200; 200 / (2 * 4 * 50) = 0.5 (without the zero it would be 0)
    assert row["gmv_gini"] == pytest.approx(0.5)
    # m counts sellers with sales only: top 1 of 1 -> 1.0
    assert row["gmv_top10_share"] == pytest.approx(1.0)


def test_seller_who_left_and_joined_at_week_boundaries(make_source):
    source = make_source({
        "events": [app_open("e1", "2026-01-05 10:00:00"), app_open("e2", "2026-01-20 10:00:00")],
        "sellers": [
            seller("S1", left_at="2026-01-12 00:00:00"),  # exactly W2's start: still active in W2
            seller("S2", left_at="2026-01-11 23:59:59"),  # one second before W2: active in W1 only
            seller("S3", joined_at="2026-01-19 00:00:00"),  # exactly W2's end: not active in W2
        ],
        "items": [item("I1", "S1")],
        "orders": [line("o1", "I1", "2026-01-06 10:00:00", "10")],
    })
    weeks = by_week(compute(source, "seller_weekly"))
    # W1: S1, S2; W2: S1; W3: S3
    assert [weeks[w]["active_sellers"] for w in (W1, W2, W3)] == [2, 1, 1]


def test_returned_lines_still_count_as_sales(make_source):
    source = make_source({
        "events": [app_open("e1", "2026-01-05 10:00:00")],
        "sellers": [seller("S1"), seller("S2")],
        "items": [item("I1", "S1"), item("I2", "S2")],
        "orders": [
            line("o1", "I1", "2026-01-06 10:00:00", "50", returned="true"),
            line("o2", "I2", "2026-01-06 11:00:00", "50"),
        ],
    })
    row = by_week(compute(source, "seller_weekly", n_sales=0))[W1]
    assert row["sellers_with_sales"] == 2
    assert row["sellers_gt_n"] == 2
    # GMV [50, 50]: top 1 of 2 -> 50 / 100; equal sellers -> Gini 0
    assert row["gmv_top10_share"] == pytest.approx(0.5)
    assert row["gmv_gini"] == pytest.approx(0.0)


def test_n_threshold_is_strictly_greater_and_follows_the_parameter(make_source):
    orders = [line(f"a{k}", "I1", f"2026-01-06 1{k}:00:00", "1") for k in range(5)]  # S1: 5 sales
    orders += [line(f"b{k}", "I2", f"2026-01-07 1{k}:00:00", "1") for k in range(6)]  # S2: 6 sales
    # S3: one order of two lines is one sale
    orders += [line("c0", "I3", "2026-01-08 10:00:00", "1"), line("c0", "I4", "2026-01-08 10:00:00", "1")]
    source = make_source({
        "events": [app_open("e1", "2026-01-05 10:00:00")],
        "sellers": [seller("S1"), seller("S2"), seller("S3")],
        "items": [item("I1", "S1"), item("I2", "S2"), item("I3", "S3"), item("I4", "S3")],
        "orders": orders,
    })
    default = by_week(compute(source, "seller_weekly"))[W1]
    # n = 5 (default): 5 is not > 5, 6 is -> S2 only
    assert default["n_threshold"] == 5
    assert default["sellers_gt_n"] == 1
    assert default["share_gt_n"] == pytest.approx(1 / 3)
    four = by_week(compute(source, "seller_weekly", n_sales=4))[W1]
    # n = 4: S1 (5) and S2 (6)
    assert four["n_threshold"] == 4
    assert four["sellers_gt_n"] == 2
    assert four["share_gt_n"] == pytest.approx(2 / 3)
    one = by_week(compute(source, "seller_weekly", n_sales=1))[W1]
    # n = 1: S1, S2; S3's two lines are one order, so 1 sale, not 2
    assert one["sellers_gt_n"] == 2
    zero = by_week(compute(source, "seller_weekly", n_sales=0))[W1]
    assert zero["sellers_gt_n"] == 3


def test_without_sellers_table_activity_comes_from_items_and_orders(make_source):
    source = make_source({
        "events": [app_open("e1", "2026-01-05 10:00:00"), app_open("e2", "2026-01-20 10:00:00")],
        "items": [
            item("I1", "S1", created_at=None),  # unknown listing date: S1 is a seller since always,
            item("I8", "S1", created_at="2026-01-13 09:00:00"),  # though its other dates are later
            item("I2", "S2", created_at="2026-01-13 09:00:00"),  # lists in W2
            item("I3", "S3", created_at="2026-01-21 09:00:00"),  # lists in W3, but sells in W2 first
        ],
        "orders": [
            line("o1", "I1", "2026-01-20 10:00:00", "10"),
            line("o2", "I3", "2026-01-14 10:00:00", "10"),
            # I9 is in no items row: the line's own seller_id names S4, first seen in W3
            line("o3", "I9", "2026-01-20 10:00:00", "10", seller_id="S4"),
        ],
    })
    weeks = by_week(compute(source, "seller_weekly"))
    # W1: S1; W2: S1, S2, S3 (first order line 01-14 is earlier than its listing); W3: + S4
    assert [weeks[w]["active_sellers"] for w in (W1, W2, W3)] == [1, 3, 4]
    # W1 none; W2 S3 (o2); W3 S1 (o1), S4 (o3)
    assert [weeks[w]["sellers_with_sales"] for w in (W1, W2, W3)] == [0, 1, 2]
    # listings: W1 none (I1's date unknown) 0 / 1; W2 S1 (I8), S2 (I2) 2 / 3; W3 S3 1 / 4
    assert weeks[W1]["new_assortment_share"] == 0.0
    assert weeks[W2]["new_assortment_share"] == pytest.approx(2 / 3)
    assert weeks[W3]["new_assortment_share"] == pytest.approx(1 / 4)


def test_without_reviews_and_created_at_those_columns_are_null(make_source):
    source = make_source({
        "events": [app_open("e1", "2026-01-05 10:00:00")],
        "items": [{"item_id": "I1", "seller_id": "S1"}],  # no created_at column
        "orders": [line("o1", "I1", "2026-01-06 10:00:00", "10")],
    })
    row = by_week(compute(source, "seller_weekly"))[W1]
    assert_null(row["review_sellers"])
    assert_null(row["reply_share"])
    assert_null(row["new_assortment_share"])
    # the rest is still computed: S1 is active (no created_at = always) and sold once
    assert row["active_sellers"] == 1
    assert row["sellers_with_sales"] == 1


def test_review_reply_at_exactly_seven_days_counts_one_second_later_does_not(make_source):
    source = make_source({
        "events": [app_open("e1", "2026-01-05 10:00:00")],
        "items": [item("I1", "S1"), item("I2", "S2"), item("I3", "S3")],
        "orders": [line("o1", "I1", "2026-01-06 10:00:00", "10")],
        "reviews": [
            {"review_id": "R1", "item_id": "I1", "ts": "2026-01-06 10:00:00", "replied_at": "2026-01-13 10:00:00"},
            {"review_id": "R2", "item_id": "I1", "ts": "2026-01-07 10:00:00"},  # S1 again, unanswered
            {"review_id": "R3", "item_id": "I2", "ts": "2026-01-06 10:00:00", "replied_at": "2026-01-13 10:00:01"},
            {"review_id": "R4", "item_id": "I3", "ts": "2026-01-06 10:00:00"},
        ],
    })
    row = by_week(compute(source, "seller_weekly"))[W1]
    # reviewed sellers S1, S2, S3; only S1 replied to one of its reviews within 7 x 24 h -> 1 / 3
    assert row["review_sellers"] == 3
    assert row["reply_share"] == pytest.approx(1 / 3)


def test_top10_share_takes_the_ceiling_over_sellers_with_sales_only(make_source):
    # W1: 11 sellers with sales 10, 20, ..., 110 -> top ceil(1.1) = 2: (110 + 100) / 660
    # W2: 10 of them sell 10..100, S11 is active with no sale -> m = 10, top 1: 100 / 550
    sellers = [seller(f"S{k}") for k in range(1, 12)]
    items = [item(f"I{k}", f"S{k}") for k in range(1, 12)]
    orders = [line(f"a{k}", f"I{k}", "2026-01-06 10:00:00", str(10 * k)) for k in range(1, 12)]
    orders += [line(f"b{k}", f"I{k}", "2026-01-13 10:00:00", str(10 * k)) for k in range(1, 11)]
    source = make_source({"events": [app_open("e1", "2026-01-05 10:00:00")], "sellers": sellers,
                          "items": items, "orders": orders})
    weeks = by_week(compute(source, "seller_weekly"))
    assert weeks[W1]["gmv_top10_share"] == pytest.approx(210 / 660)
    assert weeks[W2]["gmv_top10_share"] == pytest.approx(100 / 550)


def test_gini_sorted_formula_equals_the_spec_double_sum(make_source):
    rng = random.Random(20260105)
    gmv = [0, 0, 0] + [rng.randint(1, 500) for _ in range(17)] + [rng.randint(1, 500)] * 2  # zeros and ties
    sellers = [seller(f"S{k}") for k in range(len(gmv))]
    items = [item(f"I{k}", f"S{k}") for k in range(len(gmv))]
    orders = [line(f"o{k}", f"I{k}", "2026-01-06 10:00:00", str(x)) for k, x in enumerate(gmv) if x > 0]
    source = make_source({"events": [app_open("e1", "2026-01-05 10:00:00")], "sellers": sellers,
                          "items": items, "orders": orders})
    row = by_week(compute(source, "seller_weekly"))[W1]
    n = len(gmv)
    # the spec's definition, exactly, as the oracle
    expected = Fraction(sum(abs(a - b) for a in gmv for b in gmv)) / (2 * n * n * Fraction(sum(gmv), n))
    assert row["gmv_gini"] == pytest.approx(float(expected), rel=1e-12)


def test_time_zone_local_week_boundaries_across_dst(make_source):
    # Europe/Berlin switches to summer time on Sunday 2026-03-29; its Monday 2026-03-30 00:00
    # CEST is 2026-03-29 22:00 UTC (not 23:00 as with the winter offset).
    source = make_source({
        "events": [app_open("e1", "2026-03-24 12:00:00"), app_open("e2", "2026-04-01 12:00:00")],
        "sellers": [
            seller("S0"),
            seller("S1", joined_at="2026-03-29 22:30:00"),  # Berlin: Monday 00:30 -> week 03-30
            seller("S2", joined_at="2026-03-29 21:30:00"),  # Berlin: Sunday 23:30 -> week 03-23
        ],
        "items": [item("I0", "S0"), item("I2", "S2")],
        "orders": [
            line("o1", "I0", "2026-03-24 12:00:00", "10"),
            line("o2", "I2", "2026-03-29 22:30:00", "10"),  # Berlin week 03-30, UTC week 03-23
        ],
    })
    berlin = by_week(compute(source, "seller_weekly", tz="Europe/Berlin"))
    assert berlin["2026-03-23"]["active_sellers"] == 2  # S0, S2
    assert berlin["2026-03-30"]["active_sellers"] == 3
    assert berlin["2026-03-23"]["sellers_with_sales"] == 1  # S0
    assert berlin["2026-03-30"]["sellers_with_sales"] == 1  # S2
    utc = by_week(compute(source, "seller_weekly"))
    assert utc["2026-03-23"]["active_sellers"] == 3  # S1 joined before Monday 00:00 UTC
    assert utc["2026-03-23"]["sellers_with_sales"] == 2  # S0, S2
    assert utc["2026-03-30"]["sellers_with_sales"] == 0


def test_date_filter_selects_weeks_and_next_week_still_counts(marketplace):
    frame = compute(marketplace, "seller_weekly", start=dt.date(2026, 1, 14), end=dt.date(2026, 1, 14))
    assert [str(w)[:10] for w in frame.week_start] == [W2]
    # W2's sellers S1, S3 both sell in W3, outside the filter but inside the data: 2 / 2
    assert frame.seller_retention_next_week.iloc[0] == pytest.approx(1.0)


def test_platform_filter_narrows_sales_not_the_seller_base(make_source):
    source = make_source({
        "events": [app_open("e1", "2026-01-05 10:00:00")],
        "users": [{"user_id": "u1", "platform": "ios"}, {"user_id": "u2", "platform": "android"}],
        "sellers": [seller("S1"), seller("S2")],
        "items": [item("I1", "S1"), item("I2", "S2")],
        "orders": [
            line("o1", "I1", "2026-01-06 10:00:00", "10", user_id="u1"),
            line("o2", "I2", "2026-01-06 10:00:00", "30", user_id="u2"),
        ],
    })
    row = by_week(compute(source, "seller_weekly", platform="ios"))[W1]
    assert row["active_sellers"] == 2
    assert row["sellers_with_sales"] == 1  # S1's iOS sale only
    # [0, 10]: 2 * 10 / (2 * 4 * 5) = 0.5
    assert row["gmv_gini"] == pytest.approx(0.5)


def test_unavailable_without_orders(make_source):
    source = make_source({"events": [app_open("e1", "2026-01-05 10:00:00")], "sellers": [seller("S1")]})
    with pytest.raises(Unavailable, match="orders"):
        compute(source, "seller_weekly")


def test_unavailable_without_a_seller_for_order_lines(make_source):
    source = make_source({
        "events": [app_open("e1", "2026-01-05 10:00:00")],
        "sellers": [seller("S1")],
        "orders": [line("o1", "I1", "2026-01-06 10:00:00", "10")],
    })
    with pytest.raises(Unavailable, match="seller"):
        compute(source, "seller_weekly")


def test_reviews_without_any_way_to_their_seller_are_null_not_zero(make_source):
    # no reviews.seller_id column and no items table: whose review it is cannot be known
    source = make_source({
        "events": [app_open("e1", "2026-01-05 10:00:00")],
        "orders": [line("o1", "I1", "2026-01-06 10:00:00", "10", seller_id="S1")],
        "reviews": [{"review_id": "R1", "item_id": "I1", "ts": "2026-01-06 10:00:00"}],
    })
    row = by_week(compute(source, "seller_weekly"))[W1]
    assert_null(row["review_sellers"])
    assert_null(row["reply_share"])
    assert row["active_sellers"] == 1
