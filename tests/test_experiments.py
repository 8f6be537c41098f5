"""experiments: per-user metrics per variant, deltas against the control, SRM.

Expected numbers are worked out by hand in the comments (Φ from a normal table, z = 1.959964).
"""
from __future__ import annotations

import pandas as pd
import pytest

from dashboard.core.context import Unavailable
from tests.conftest import compute

COLUMNS = [
    "experiment_id", "variant", "metric", "users", "mean", "delta_abs", "delta_rel",
    "ci_low", "ci_high", "p_value", "srm_p_value",
    "ci_low_rel", "ci_high_rel", "p_adj_bh", "pre_p_value",
    "delta_abs_cuped", "ci_low_cuped", "ci_high_cuped", "p_value_cuped", "variance_reduction",
    "ci_low_seq", "ci_high_seq",
]


def click(event_id, ts, user, item, block="home_feed", platform="web"):
    return dict(event_id=event_id, ts=ts, user_id=user, event_type="click", item_id=item,
                block=block, platform=platform)


def line(order_id, item, ts, user, quantity, price):
    return dict(order_id=order_id, item_id=item, ts=ts, user_id=user, quantity=quantity, price=price)


# E1 on home_feed, [2026-03-02 00:00, 2026-03-09 00:00); control A (m0) and B (m1), 50/50.
E1_EXPERIMENTS = [dict(experiment_id="E1", name="ranker v1", block="home_feed",
                       start_ts="2026-03-02 00:00:00", end_ts="2026-03-09 00:00:00")]
E1_VARIANTS = [
    dict(experiment_id="E1", variant="A", model_version="m0", is_control="true", traffic_share=0.5),
    dict(experiment_id="E1", variant="B", model_version="m1", is_control="false", traffic_share=0.5),
]
E1_ASSIGNMENTS = [
    dict(experiment_id="E1", user_id="a1", variant="A", assigned_ts=None),  # window from start_ts
    dict(experiment_id="E1", user_id="a2", variant="A", assigned_ts="2026-03-05 00:00:00"),
    dict(experiment_id="E1", user_id="a3", variant="A", assigned_ts="2026-03-02 00:00:00"),
    dict(experiment_id="E1", user_id="a4", variant="A", assigned_ts="2026-03-02 00:00:00"),
    dict(experiment_id="E1", user_id="b1", variant="B", assigned_ts="2026-03-02 00:00:00"),
    dict(experiment_id="E1", user_id="b2", variant="B", assigned_ts="2026-03-02 00:00:00"),
    dict(experiment_id="E1", user_id="b3", variant="B", assigned_ts="2026-03-02 00:00:00"),
    dict(experiment_id="E1", user_id="b4", variant="B", assigned_ts="2026-03-02 00:00:00"),
]
E1_EVENTS = [
    click("c0", "2026-03-01 10:00:00", "a1", "i2"),  # before start_ts: not counted
    click("c1", "2026-03-03 10:00:00", "a1", "i1"),
    click("c2", "2026-03-04 10:00:00", "a1", "i2"),
    click("c3", "2026-03-04 10:00:00", "a2", "i3"),  # before a2's assigned_ts: not a click, but o3's touch
    click("c4", "2026-03-03 09:00:00", "a4", "i4", block="similar_items"),  # other block
    click("c5", "2026-03-03 09:00:00", "b1", "i5", platform="ios"),
    click("c6", "2026-03-03 09:30:00", "b1", "i5"),
    click("c7", "2026-03-03 10:00:00", "b1", "i5"),
    click("c8", "2026-03-04 10:00:00", "b2", "i6"),
    click("c9", "2026-03-05 10:00:00", "b3", "i7"),
    click("c10", "2026-03-09 00:00:00", "b4", "i8"),  # exactly end_ts: excluded
]
E1_ORDERS = [
    line("o1", "i1", "2026-03-03 12:00:00", "a1", 1, "10.00"),  # touch c1 (home_feed)
    line("o2", "i9", "2026-03-04 12:00:00", "a2", 1, "100.00"),  # before a2's assigned_ts: ignored
    line("o3", "i3", "2026-03-06 12:00:00", "a2", 2, "5.00"),  # 10; touch c3, an earlier click
    line("o4", "i4", "2026-03-03 12:00:00", "a4", 1, "20.00"),  # touch c4 in similar_items: not rec
    line("o5", "i10", "2026-03-09 00:00:00", "a4", 1, "50.00"),  # exactly end_ts: excluded
    line("o6", "i5", "2026-03-03 12:00:00", "b1", 1, "30.00"),  # touch c7
    line("o7", "i6", "2026-03-04 12:00:00", "b2", 2, "10.00"),  # 20; touch c8
    line("o8", "i7", "2026-03-05 12:00:00", "b3", 1, "10.00"),  # touch c9
]


@pytest.fixture
def e1_source(make_source):
    return make_source({
        "events": E1_EVENTS, "orders": E1_ORDERS, "experiments": E1_EXPERIMENTS,
        "experiment_variants": E1_VARIANTS, "assignments": E1_ASSIGNMENTS,
    })


def row(frame: pd.DataFrame, variant: str, metric: str, experiment_id: str = "E1") -> pd.Series:
    hit = frame[(frame.experiment_id == experiment_id) & (frame.variant == variant) & (frame.metric == metric)]
    assert len(hit) == 1, f"expected one row for {experiment_id}/{variant}/{metric}, got {len(hit)}"
    return hit.iloc[0]


def is_null(value) -> bool:
    return value is None or pd.isna(value)


def test_experiments_shape_and_order(e1_source):
    frame = compute(e1_source, "experiments")
    assert list(frame.columns) == COLUMNS
    assert list(zip(frame.variant, frame.metric)) == [
        (v, m) for v in ("A", "B") for m in ("conversion", "rec_conversion", "gmv_per_user", "clicks_per_user")
    ]
    assert (frame.users == 4).all()
    # Every assigned user, zeros included, in each variant: 4 vs 4 at 50/50 → χ² = 0 → p = 1.
    assert frame.srm_p_value.tolist() == pytest.approx([1.0] * 8)


def test_experiments_control_rows_have_null_deltas(e1_source):
    frame = compute(e1_source, "experiments")
    control = frame[frame.variant == "A"]
    for column in ("delta_abs", "delta_rel", "ci_low", "ci_high", "p_value"):
        assert control[column].isna().all(), column


# Per-user values (window [max(start, assigned), end)):
#   control A: a1, a2, a3, a4          treatment B: b1, b2, b3, b4
#   conversion      1, 1, 0, 1                     1, 1, 1, 0
#   rec_conversion  1, 1, 0, 0                     1, 1, 1, 0
#   gmv_per_user   10,10, 0,20                    30,20,10, 0
#   clicks_per_user 2, 0, 0, 0                     3, 1, 1, 0
# a2: c3 and o2 lie before assigned_ts (ignored), o3 = 2 × 5 = 10 after it is attributed to c3.
# a3 and b4 have no activity in their windows and count with 0. a4's o5 and b4's c10 lie at end_ts.


def test_experiments_conversion_equal_means(e1_source):
    r = row(compute(e1_source, "experiments"), "B", "conversion")
    # means 3/4 = 0.75 both; s² = (3·0.25² + 0.75²)/3 = 0.75/3 = 0.25 both
    # delta 0, delta_rel 0/0.75 = 0; se = √(0.25/4 + 0.25/4) = √0.125 = 0.353553
    # CI = 0 ∓ 1.959964 × 0.353553 = ∓0.692952; z = 0 → p = 1
    assert r["mean"] == pytest.approx(0.75)
    assert r.delta_abs == pytest.approx(0.0)
    assert r.delta_rel == pytest.approx(0.0)
    assert r.ci_low == pytest.approx(-0.692952, abs=1e-6)
    assert r.ci_high == pytest.approx(0.692952, abs=1e-6)
    assert r.p_value == pytest.approx(1.0)


def test_experiments_rec_conversion(e1_source):
    frame = compute(e1_source, "experiments")
    assert row(frame, "A", "rec_conversion")["mean"] == pytest.approx(0.5)
    r = row(frame, "B", "rec_conversion")
    # control: mean 0.5, s² = 4 × 0.25 / 3 = 1/3; treatment: mean 0.75, s² = 0.25
    # delta = 0.25, delta_rel = 0.25 / 0.5 = 0.5
    # se = √(0.25/4 + (1/3)/4) = √(0.0625 + 0.083333) = √0.145833 = 0.381881
    # CI = 0.25 ∓ 1.959964 × 0.381881 = 0.25 ∓ 0.748474 = [-0.498474, 0.998474]
    # z = 0.25 / 0.381881 = 0.654654, Φ(0.654654) = 0.743655 → p = 2 × 0.256345 = 0.512691
    assert r["mean"] == pytest.approx(0.75)
    assert r.delta_abs == pytest.approx(0.25)
    assert r.delta_rel == pytest.approx(0.5)
    assert r.ci_low == pytest.approx(-0.498474, abs=1e-6)
    assert r.ci_high == pytest.approx(0.998474, abs=1e-6)
    assert r.p_value == pytest.approx(0.512691, abs=1e-6)


def test_experiments_gmv_per_user(e1_source):
    frame = compute(e1_source, "experiments")
    assert row(frame, "A", "gmv_per_user")["mean"] == pytest.approx(10.0)
    r = row(frame, "B", "gmv_per_user")
    # control: mean 40/4 = 10, s² = (0 + 0 + 100 + 100)/3 = 66.6667
    # treatment: mean 60/4 = 15, s² = (225 + 25 + 25 + 225)/3 = 166.6667
    # delta = 5, delta_rel = 5/10 = 0.5; se = √(16.6667 + 41.6667) = √58.3333 = 7.637626
    # CI = 5 ∓ 1.959964 × 7.637626 = 5 ∓ 14.969472 = [-9.969472, 19.969472]
    # z = 5 / 7.637626 = 0.654654 → p = 0.512691 (as above)
    assert r["mean"] == pytest.approx(15.0)
    assert r.delta_abs == pytest.approx(5.0)
    assert r.delta_rel == pytest.approx(0.5)
    assert r.ci_low == pytest.approx(-9.969472, abs=1e-6)
    assert r.ci_high == pytest.approx(19.969472, abs=1e-6)
    assert r.p_value == pytest.approx(0.512691, abs=1e-6)


def test_experiments_clicks_per_user(e1_source):
    frame = compute(e1_source, "experiments")
    assert row(frame, "A", "clicks_per_user")["mean"] == pytest.approx(0.5)
    r = row(frame, "B", "clicks_per_user")
    # control [2,0,0,0]: mean 0.5, s² = (2.25 + 3 × 0.25)/3 = 1
    # treatment [3,1,1,0]: mean 1.25, s² = (3.0625 + 0.0625 + 0.0625 + 1.5625)/3 = 4.75/3 = 1.583333
    # delta = 0.75, delta_rel = 0.75/0.5 = 1.5; se = √(1/4 + 1.583333/4) = √0.645833 = 0.803638
    # CI = 0.75 ∓ 1.959964 × 0.803638 = 0.75 ∓ 1.575101 = [-0.825101, 2.325101]
    # z = 0.75 / 0.803638 = 0.933257, Φ(0.933257) = 0.824656 → p = 2 × 0.175344 = 0.350688
    assert r["mean"] == pytest.approx(1.25)
    assert r.delta_abs == pytest.approx(0.75)
    assert r.delta_rel == pytest.approx(1.5)
    assert r.ci_low == pytest.approx(-0.825101, abs=1e-6)
    assert r.ci_high == pytest.approx(2.325101, abs=1e-6)
    assert r.p_value == pytest.approx(0.350688, abs=1e-6)


def test_experiments_assigned_ts_and_end_ts_bound_the_window(make_source):
    # One user per variant so that each case stands alone; means are the user's values.
    experiments = [dict(experiment_id="W", block="home_feed",
                        start_ts="2026-03-02 00:00:00", end_ts="2026-03-09 00:00:00")]
    variants = [
        dict(experiment_id="W", variant="A", model_version="m0", is_control="true"),
        dict(experiment_id="W", variant="B", model_version="m1", is_control="false"),
    ]
    assignments = [
        dict(experiment_id="W", user_id="late", variant="A", assigned_ts="2026-03-05 00:00:00"),
        dict(experiment_id="W", user_id="edge", variant="B", assigned_ts=None),
    ]
    events = [
        click("e1", "2026-03-04 23:59:59", "late", "i1"),  # 1 s before assignment: out
        click("e2", "2026-03-05 00:00:00", "late", "i1"),  # at assignment: in
        click("e3", "2026-03-02 00:00:00", "edge", "i2"),  # at start_ts: in
        click("e4", "2026-03-08 23:59:59", "edge", "i2"),  # 1 s before end_ts: in
        click("e5", "2026-03-09 00:00:00", "edge", "i2"),  # at end_ts: out
    ]
    orders = [
        line("o1", "i1", "2026-03-04 12:00:00", "late", 1, "7.00"),  # before assignment: out
        line("o2", "i2", "2026-03-09 00:00:00", "edge", 1, "9.00"),  # at end_ts: out
    ]
    frame = compute(make_source({"events": events, "orders": orders, "experiments": experiments,
                                 "experiment_variants": variants, "assignments": assignments}), "experiments")
    assert row(frame, "A", "clicks_per_user", "W")["mean"] == pytest.approx(1.0)
    assert row(frame, "B", "clicks_per_user", "W")["mean"] == pytest.approx(2.0)
    for variant in ("A", "B"):
        for metric in ("conversion", "rec_conversion", "gmv_per_user"):
            r = row(frame, variant, metric, "W")
            assert r.users == 1
            assert r["mean"] == pytest.approx(0.0), (variant, metric)
    # n = 1 in both groups: delta only, no interval or p-value (clicks: 2 − 1 = 1, 1/1 = 1).
    b = row(frame, "B", "clicks_per_user", "W")
    assert b.delta_abs == pytest.approx(1.0)
    assert b.delta_rel == pytest.approx(1.0)
    assert is_null(b.ci_low) and is_null(b.ci_high) and is_null(b.p_value)


def test_experiments_srm_60_40(make_source):
    # 100 assigned users without activity: 60 in A, 40 in B, planned 50/50.
    # χ² = (60 − 50)²/50 + (40 − 50)²/50 = 2 + 2 = 4, 1 df → p = P(|Z| > 2) = 2 × 0.02275 = 0.0455
    experiments = [dict(experiment_id="S", block="home_feed",
                        start_ts="2026-06-01 00:00:00", end_ts="2026-06-08 00:00:00")]
    variants = [
        dict(experiment_id="S", variant="A", model_version="m0", is_control="true", traffic_share=0.5),
        dict(experiment_id="S", variant="B", model_version="m1", is_control="false", traffic_share=0.5),
    ]
    assignments = [dict(experiment_id="S", user_id=f"u{i}", variant="A" if i < 60 else "B")
                   for i in range(100)]
    events = [dict(event_id="x", ts="2026-06-02 00:00:00", user_id="other", event_type="app_open")]
    frame = compute(make_source({"events": events, "experiments": experiments,
                                 "experiment_variants": variants, "assignments": assignments}), "experiments")
    assert frame.srm_p_value.tolist() == pytest.approx([0.0455003] * 2, abs=1e-6)
    assert frame.users.tolist() == [60, 40]
    # Everyone has 0 clicks: control mean 0 → delta_rel NULL; delta_abs 0 is still known.
    b = row(frame, "B", "clicks_per_user", "S")
    assert b.delta_abs == pytest.approx(0.0)
    assert is_null(b.delta_rel)


def test_experiments_srm_shares_are_normalised(make_source):
    # Shares 0.3 and 0.2 normalise to 0.6/0.4: 60 vs 40 is then exactly as planned → χ² = 0, p = 1.
    experiments = [dict(experiment_id="S", block="home_feed",
                        start_ts="2026-06-01 00:00:00", end_ts="2026-06-08 00:00:00")]
    variants = [
        dict(experiment_id="S", variant="A", model_version="m0", is_control="true", traffic_share=0.3),
        dict(experiment_id="S", variant="B", model_version="m1", is_control="false", traffic_share=0.2),
    ]
    assignments = [dict(experiment_id="S", user_id=f"u{i}", variant="A" if i < 60 else "B")
                   for i in range(100)]
    events = [dict(event_id="x", ts="2026-06-02 00:00:00", user_id="other", event_type="app_open")]
    frame = compute(make_source({"events": events, "experiments": experiments,
                                 "experiment_variants": variants, "assignments": assignments}), "experiments")
    assert frame.srm_p_value.tolist() == pytest.approx([1.0, 1.0])


@pytest.fixture
def three_variant_source(make_source):
    # No orders table; control A (u1: 1 click, u2: 3 clicks), B (u3: 4 clicks), C without users.
    experiments = [dict(experiment_id="E2", block="home_feed",
                        start_ts="2026-05-04 00:00:00", end_ts="2026-05-11 00:00:00")]
    variants = [
        dict(experiment_id="E2", variant="A", model_version="m0", is_control="true", traffic_share=0.5),
        dict(experiment_id="E2", variant="B", model_version="m1", is_control="false", traffic_share=None),
        dict(experiment_id="E2", variant="C", model_version="m2", is_control="false", traffic_share=0.25),
    ]
    assignments = [
        dict(experiment_id="E2", user_id="u1", variant="A"),
        dict(experiment_id="E2", user_id="u2", variant="A"),
        dict(experiment_id="E2", user_id="u3", variant="B"),
    ]
    events = [
        click("k1", "2026-05-05 10:00:00", "u1", "i1"),
        click("k2", "2026-05-05 10:00:00", "u2", "i1"),
        click("k3", "2026-05-05 11:00:00", "u2", "i2"),
        click("k4", "2026-05-05 12:00:00", "u2", "i3"),
        click("k5", "2026-05-06 10:00:00", "u3", "i1"),
        click("k6", "2026-05-06 11:00:00", "u3", "i2"),
        click("k7", "2026-05-06 12:00:00", "u3", "i3"),
        click("k8", "2026-05-06 13:00:00", "u3", "i4"),
    ]
    return make_source({"events": events, "experiments": experiments,
                        "experiment_variants": variants, "assignments": assignments})


def test_experiments_without_orders_only_clicks(three_variant_source):
    frame = compute(three_variant_source, "experiments")
    assert list(frame.columns) == COLUMNS
    assert frame.metric.tolist() == ["clicks_per_user"] * 3
    assert frame.variant.tolist() == ["A", "B", "C"]


def test_experiments_zero_user_variant_and_null_share(three_variant_source):
    frame = compute(three_variant_source, "experiments")
    a, b, c = (row(frame, v, "clicks_per_user", "E2") for v in "ABC")
    assert (a.users, b.users, c.users) == (2, 1, 0)
    assert a["mean"] == pytest.approx(2.0)  # (1 + 3)/2
    assert b["mean"] == pytest.approx(4.0)
    # B: delta = 4 − 2 = 2, delta_rel = 2/2 = 1; n_B = 1 < 2 → no CI, no p-value
    assert b.delta_abs == pytest.approx(2.0)
    assert b.delta_rel == pytest.approx(1.0)
    assert is_null(b.ci_low) and is_null(b.ci_high) and is_null(b.p_value)
    # C has no users: mean and every comparison NULL
    for column in ("mean", "delta_abs", "delta_rel", "ci_low", "ci_high", "p_value"):
        assert is_null(c[column]), column
    # B's share is missing → equal split 1/3 each: expected 1, 1, 1 for counts 2, 1, 0
    # χ² = (2−1)²/1 + 0 + (0−1)²/1 = 2, df = 3 − 1 = 2 → p = exp(−2/2) = 0.367879
    assert frame.srm_p_value.tolist() == pytest.approx([0.367879] * 3, abs=1e-6)


def test_experiments_platform_filter_counts_only_that_platforms_activity(e1_source):
    frame = compute(e1_source, "experiments", platform="ios")
    # Only c5 (b1, home_feed) is on ios; order lines have no session or users row → no platform.
    # Users stay all assigned users (4 + 4): the filter narrows activity, not the randomisation.
    assert (frame.users == 4).all()
    assert row(frame, "A", "clicks_per_user")["mean"] == pytest.approx(0.0)
    r = row(frame, "B", "clicks_per_user")
    # treatment [1,0,0,0]: mean 0.25, s² = (0.5625 + 3 × 0.0625)/3 = 0.25; control all 0, s² = 0
    # control mean 0 → delta_rel NULL; se = √(0.25/4 + 0) = 0.25
    # CI = 0.25 ∓ 1.959964 × 0.25 = [-0.239991, 0.739991]; z = 1 → p = 2 × 0.158655 = 0.317311
    assert r["mean"] == pytest.approx(0.25)
    assert r.delta_abs == pytest.approx(0.25)
    assert is_null(r.delta_rel)
    assert r.ci_low == pytest.approx(-0.239991, abs=1e-6)
    assert r.ci_high == pytest.approx(0.739991, abs=1e-6)
    assert r.p_value == pytest.approx(0.317311, abs=1e-6)
    assert row(frame, "B", "conversion")["mean"] == pytest.approx(0.0)


def test_experiments_block_filter_keeps_experiments_on_selected_blocks(e1_source):
    assert compute(e1_source, "experiments", blocks=("similar_items",)).empty
    kept = compute(e1_source, "experiments", blocks=("home_feed",))
    assert len(kept) == 8
    assert row(kept, "B", "clicks_per_user")["mean"] == pytest.approx(1.25)


def test_experiments_date_filter_keeps_overlapping_experiments(e1_source):
    import datetime as dt

    # E1 runs [2026-03-02, 2026-03-09). The filter keeps whole local weeks.
    assert compute(e1_source, "experiments", start=dt.date(2026, 3, 9)).empty  # from 2026-03-09 on
    assert compute(e1_source, "experiments", end=dt.date(2026, 3, 1)).empty  # up to the week of 02-23
    kept = compute(e1_source, "experiments", start=dt.date(2026, 3, 8), end=dt.date(2026, 3, 8))
    # Overlapping experiments are reported whole: the same numbers as without a filter.
    assert row(kept, "B", "gmv_per_user")["mean"] == pytest.approx(15.0)


def test_experiments_null_block_means_every_block(make_source):
    # Without a block the model is tested on every surface: clicks and touches in any block count.
    experiments = [dict(experiment_id="N", start_ts="2026-03-02 00:00:00", end_ts="2026-03-09 00:00:00")]
    variants = [
        dict(experiment_id="N", variant="A", model_version="m0", is_control="true"),
        dict(experiment_id="N", variant="B", model_version="m1", is_control="false"),
    ]
    assignments = [dict(experiment_id="N", user_id="a4", variant="A"),
                   dict(experiment_id="N", user_id="b1", variant="B")]
    source = make_source({"events": E1_EVENTS, "orders": E1_ORDERS, "experiments": experiments,
                          "experiment_variants": variants, "assignments": assignments})
    frame = compute(source, "experiments")
    # a4: c4 in similar_items → 1 click; o4 touched by c4 → rec_conversion 1
    assert row(frame, "A", "clicks_per_user", "N")["mean"] == pytest.approx(1.0)
    assert row(frame, "A", "rec_conversion", "N")["mean"] == pytest.approx(1.0)
    # With a block filter the same experiment counts the selected blocks only.
    narrowed = compute(source, "experiments", blocks=("home_feed",))
    assert row(narrowed, "A", "clicks_per_user", "N")["mean"] == pytest.approx(0.0)
    assert row(narrowed, "A", "rec_conversion", "N")["mean"] == pytest.approx(0.0)
    assert row(narrowed, "B", "clicks_per_user", "N")["mean"] == pytest.approx(3.0)


def test_experiments_unavailable_without_assignments(make_source):
    source = make_source({"events": E1_EVENTS, "experiments": E1_EXPERIMENTS,
                          "experiment_variants": E1_VARIANTS})
    with pytest.raises(Unavailable, match="assignments"):
        compute(source, "experiments")


# --- v2 columns (metrics.md "v2 additions") ------------------------------------------------------

def test_experiments_v2_control_rows_are_null(e1_source):
    frame = compute(e1_source, "experiments")
    control = frame[frame.variant == "A"]
    for column in COLUMNS[COLUMNS.index("ci_low_rel"):]:
        if column != "p_adj_bh":
            assert control[column].isna().all(), column


def test_experiments_p_adj_bh_within_the_experiment(e1_source):
    frame = compute(e1_source, "experiments")
    # B's p-values (tests above): conversion 1, rec_conversion 0.512691, gmv 0.512691, clicks 0.350688;
    # control rows NULL. BH over m = 4: sorted 0.350688·4/1 = 1.402752, 0.512691·4/2 = 1.025382,
    # 0.512691·4/3 = 0.683588, 1·4/4 = 1 → running minimum from the top: 0.683588, 0.683588,
    # 0.683588, 1.
    assert row(frame, "B", "clicks_per_user").p_adj_bh == pytest.approx(0.683588, abs=1e-6)
    assert row(frame, "B", "rec_conversion").p_adj_bh == pytest.approx(0.683588, abs=1e-6)
    assert row(frame, "B", "gmv_per_user").p_adj_bh == pytest.approx(0.683588, abs=1e-6)
    assert row(frame, "B", "conversion").p_adj_bh == pytest.approx(1.0)
    assert frame[frame.variant == "A"].p_adj_bh.isna().all()


# P1 on home_feed, [2026-03-02, 2026-03-09); pre-period (28 days) [2026-02-02, 2026-03-02).
# A: a1, a2, a3 (a3 assigned 2026-03-04); B: b1, b2, b3. Clicks in home_feed:
#            pre x   experiment y
#   a1         2        3
#   a2         0        1      (a2's 02-01 click lies before the pre-period, its 02-10 one in similar_items)
#   a3         1        1      (a3's 03-03 click lies between start_ts and its assignment: counted nowhere)
#   b1         1        2
#   b2         3        5      (one pre click at 03-01 23:59:59, the last second of the pre-period)
#   b3         2        3
# Order lines: a1 10 on 03-03, b1 20 on 03-04, b3 1000 on 03-05; pre-period a1 5, b2 50, b3 8.
P1_EXPERIMENTS = [dict(experiment_id="P1", name="pre", block="home_feed",
                       start_ts="2026-03-02 00:00:00", end_ts="2026-03-09 00:00:00")]
P1_VARIANTS = [
    dict(experiment_id="P1", variant="A", model_version="m0", is_control="true", traffic_share=0.5),
    dict(experiment_id="P1", variant="B", model_version="m1", is_control="false", traffic_share=0.5),
]
P1_ASSIGNMENTS = [
    dict(experiment_id="P1", user_id=u, variant=u[0].upper(),
         assigned_ts="2026-03-04 00:00:00" if u == "a3" else "2026-03-02 00:00:00")
    for u in ("a1", "a2", "a3", "b1", "b2", "b3")
]


def _p1_events():
    pre = {"a1": ["02-10", "02-20"], "a3": ["02-15"], "b1": ["02-12"], "b2": ["02-05", "02-06"],
           "b3": ["02-03", "02-25"]}
    post = {"a1": ["03-03", "03-04", "03-05"], "a2": ["03-03"], "a3": ["03-05"], "b1": ["03-03", "03-04"],
            "b2": ["03-02", "03-03", "03-04", "03-05", "03-06"], "b3": ["03-03", "03-04", "03-05"]}
    events, n = [], 0
    for days in (pre, post):
        for user, dates in days.items():
            for d in dates:
                n += 1
                events.append(click(f"e{n}", f"2026-{d} 10:00:00", user, f"i{n}"))
    events += [
        click("x1", "2026-03-01 23:59:59", "b2", "ix1"),  # last second of the pre-period
        click("x2", "2026-02-01 23:59:59", "a2", "ix2"),  # before the pre-period
        click("x3", "2026-02-10 10:00:00", "a2", "ix3", block="similar_items"),  # another block
        click("x4", "2026-03-03 10:00:00", "a3", "ix4"),  # after start_ts, before a3's assignment
    ]
    return events


P1_ORDERS = [
    line("o1", "j1", "2026-03-03 12:00:00", "a1", 1, "10.00"),
    line("o2", "j2", "2026-03-04 12:00:00", "b1", 1, "20.00"),
    line("o3", "j3", "2026-03-05 12:00:00", "b3", 1, "1000.00"),
    line("p1", "j4", "2026-02-10 12:00:00", "a1", 1, "5.00"),
    line("p2", "j5", "2026-02-06 12:00:00", "b2", 1, "50.00"),
    line("p3", "j6", "2026-02-25 12:00:00", "b3", 1, "8.00"),
]


@pytest.fixture
def p1_source(make_source):
    return make_source({"events": _p1_events(), "orders": P1_ORDERS, "experiments": P1_EXPERIMENTS,
                        "experiment_variants": P1_VARIANTS, "assignments": P1_ASSIGNMENTS})


def test_experiments_relative_interval_by_the_delta_method(p1_source):
    r = row(compute(p1_source, "experiments"), "B", "clicks_per_user", "P1")
    # y: A 3,1,1 (mean 5/3, s² = (16/9 + 4/9 + 4/9)/2 = 4/3); B 2,5,3 (mean 10/3, s² = (16+25+1)/9/2 = 7/3)
    # delta_rel = (10/3)/(5/3) − 1 = 1
    # var = s²_t/(n_t·m_c²) + m_t²·s²_c/(n_c·m_c⁴) = (7/3)/(3·25/9) + (100/9)(4/3)/(3·625/81)
    #     = 7/25 + 400/625 = 0.28 + 0.64 = 0.92; √0.92 = 0.959166; half = 1.959964 × 0.959166 = 1.879931
    assert r.delta_rel == pytest.approx(1.0)
    assert r.ci_low_rel == pytest.approx(1 - 1.879931, abs=1e-6)
    assert r.ci_high_rel == pytest.approx(1 + 1.879931, abs=1e-6)
    # the old way (absolute interval / control mean) is narrower: half = 1.959964·√(11/9)/(5/3) = 1.300093
    assert r.ci_high_rel - r.delta_rel > (r.ci_high - r.delta_abs) / (5 / 3)


def test_experiments_pre_p_value(p1_source):
    r = row(compute(p1_source, "experiments"), "B", "clicks_per_user", "P1")
    # x: A 2,0,1 (mean 1, s² 1); B 1,3,2 (mean 2, s² 1): delta 1, se = √(1/3 + 1/3) = 0.816497,
    # z = 1.224745, p = 2·(1 − Φ(1.224745)) = 2 × 0.110336 = 0.220671
    assert r.pre_p_value == pytest.approx(0.220671, abs=1e-6)


def test_experiments_pre_days_parameter(p1_source):
    r = row(compute(p1_source, "experiments", pre_days=7), "B", "clicks_per_user", "P1")
    # pre-period [02-23, 03-02): x A 0,0,0; B 0 (b1), 1 (b2's 03-01 23:59:59), 1 (b3's 02-25)
    # A: mean 0, s² 0; B: mean 2/3, s² = (4/9 + 1/9 + 1/9)/2 = 1/3; se = √(0 + 1/9) = 1/3
    # z = (2/3)/(1/3) = 2 → p = 2·(1 − Φ(2)) = 0.045500
    assert r.pre_p_value == pytest.approx(0.045500, abs=1e-6)


def test_experiments_cuped_columns(p1_source):
    r = row(compute(p1_source, "experiments"), "B", "clicks_per_user", "P1")
    # pooled x̄ = 9/6 = 1.5, ȳ = 15/6 = 2.5; x − x̄ = .5 −1.5 −.5 | −.5 1.5 .5; y − ȳ = .5 −1.5 −1.5 | −.5 2.5 .5
    # Σ(x − x̄)² = .25 + 2.25 + .25 + .25 + 2.25 + .25 = 5.5; Σ(x − x̄)(y − ȳ) = .25 + 2.25 + .75 + .25 + 3.75 + .25 = 7.5
    # θ = 7.5 / 5.5 = 15/11 = 1.363636; y' = y − θ(x − 1.5):
    #   A 2.318182, 3.045455, 1.681818 (mean 2.348485, s² = 0.465565)
    #   B 2.681818, 2.954545, 2.318182 (mean 2.651515, s² = 0.101928)
    # delta_abs_cuped = 10/3 − 5/3 − θ·(2 − 1) = 5/3 − 15/11 = 10/33 = 0.303030
    # se' = √(0.465565/3 + 0.101928/3) = √0.189164 = 0.434930; CI = 0.303030 ∓ 0.852447
    # z = 0.696733 → p = 2·(1 − Φ(0.696733)) = 0.485970
    # raw se² = 4/9 + 7/9 = 11/9 → variance_reduction = 1 − 0.189164/1.222222 = 0.845229
    assert r.delta_abs_cuped == pytest.approx(0.303030, abs=1e-6)
    assert r.ci_low_cuped == pytest.approx(0.303030 - 0.852447, abs=1e-5)
    assert r.ci_high_cuped == pytest.approx(0.303030 + 0.852447, abs=1e-5)
    assert r.p_value_cuped == pytest.approx(0.485970, abs=1e-5)
    assert r.variance_reduction == pytest.approx(0.845229, abs=1e-5)


def test_experiments_cuped_null_when_pre_period_is_constant(e1_source):
    r = row(compute(e1_source, "experiments"), "B", "gmv_per_user")
    # E1 has no order line before start_ts: x = 0 for everybody, Σ(x − x̄)² = 0 → all five NULL
    for column in ("delta_abs_cuped", "ci_low_cuped", "ci_high_cuped", "p_value_cuped", "variance_reduction"):
        assert is_null(r[column]), column


def test_experiments_sequential_interval(p1_source):
    r = row(compute(p1_source, "experiments", seq_tuning=6), "B", "clicks_per_user", "P1")
    # N = 6, se = √(11/9) = 1.105542, σ = se·√6 = √(22/3) = 2.708013
    # ρ² = (−2 ln .05 + ln(−2 ln .05 + 1)) / 6 = (5.991465 + ln 6.991465) / 6 = (5.991465 + 1.944692)/6 = 1.322693
    # Nρ² = 7.936157; 2(Nρ² + 1)/(N²ρ²) = 17.872314 / 47.616948 = 0.375335
    # ln(√8.936157 / 0.05) = ln(2.989341 / 0.05) = ln 59.786820 = 4.090784
    # half = 2.708013 × √(0.375335 × 4.090784) = 2.708013 × 1.239118 = 3.355548; delta_abs = 5/3
    assert r.ci_low_seq == pytest.approx(5 / 3 - 3.355548, abs=1e-5)
    assert r.ci_high_seq == pytest.approx(5 / 3 + 3.355548, abs=1e-5)
    # default N* = 10000 is tuned for large tests: on 6 users it is far wider than the fixed interval
    wide = row(compute(p1_source, "experiments"), "B", "clicks_per_user", "P1")
    assert wide.ci_high_seq - wide.delta_abs > 10 * (wide.ci_high - wide.delta_abs)


def test_experiments_cap_quantile_winsorizes_gmv_and_its_pre_period(p1_source):
    plain = compute(p1_source, "experiments")
    capped = compute(p1_source, "experiments", cap_quantile=0.8)
    # y gmv: a1 10, a2 0, a3 0 | b1 20, b2 0, b3 1000. Pooled sorted 0 0 0 10 20 1000:
    # quantile_cont 0.8 at position 0.8 × 5 = 4 → 20; b3's 1000 becomes 20 → B mean 40/3 (uncapped 1020/3)
    assert row(plain, "B", "gmv_per_user", "P1")["mean"] == pytest.approx(340.0)
    assert row(capped, "B", "gmv_per_user", "P1")["mean"] == pytest.approx(40 / 3)
    assert row(capped, "A", "gmv_per_user", "P1")["mean"] == pytest.approx(10 / 3)
    # x gmv: a1 5, a2 0, a3 0 | b1 0, b2 50, b3 8. Sorted 0 0 0 5 8 50: position 4 → cap 8; b2's 50 → 8
    # A: mean 5/3, s² = (100/9 + 25/9 + 25/9)/2 = 25/3; B 0, 8, 8: mean 16/3, s² = (256 + 64 + 64)/9/2 = 64/3
    # delta 11/3, se = √(25/9 + 64/9) = √(89/9) = 3.144660, z = 1.165998 → p = 0.243615
    assert row(capped, "B", "gmv_per_user", "P1").pre_p_value == pytest.approx(0.243615, abs=1e-5)
    # other metrics are never capped
    assert row(capped, "B", "clicks_per_user", "P1")["mean"] == pytest.approx(10 / 3)


def test_experiment_details_cuped_relative_interval_and_running(p1_source):
    from dashboard.core.context import MetricContext
    from dashboard.core.metrics.experiments import experiment_details
    from dashboard.core.params import Params

    details = experiment_details(MetricContext(p1_source, Params()))
    r = details[(details.variant == "B") & (details.metric == "clicks_per_user")].iloc[0]
    # adjusted means (test_experiments_cuped_columns): A 2.348485 (s² 0.465565), B 2.651515 (s² 0.101928)
    # delta_rel_cuped = 2.651515/2.348485 − 1 = 0.129032
    # var = 0.101928/(3 × 2.348485²) + 2.651515² × 0.465565/(3 × 2.348485⁴)
    #     = 0.101928/16.546373 + 7.030533 × 0.465565/91.259... = 0.006160 + 0.035866 = 0.042026
    #   (2.348485² = 5.515381, ⁴ = 30.419430, × 3 = 91.258290; 7.030533 × 0.465565 = 3.273170 → 0.035867)
    # half = 1.959964 × √0.042027 = 1.959964 × 0.205005 = 0.401802
    assert r.delta_rel_cuped == pytest.approx(0.129032, abs=1e-5)
    assert r.ci_low_rel_cuped == pytest.approx(0.129032 - 0.401802, abs=1e-4)
    assert r.ci_high_rel_cuped == pytest.approx(0.129032 + 0.401802, abs=1e-4)
    # P1 ends 2026-03-09 00:00; the last event is on 2026-03-06: the data's last day ends 03-07 00:00 < end_ts
    assert bool(r.running) is True
    assert details[details.variant == "A"].delta_rel_cuped.isna().all()


def test_experiment_is_not_running_when_the_data_covers_its_end(e1_source):
    from dashboard.core.context import MetricContext
    from dashboard.core.metrics.experiments import experiment_details
    from dashboard.core.params import Params

    # E1 ends 2026-03-09 00:00; its data's last event (c10, o5) is at 2026-03-09 00:00: that day is in the data
    details = experiment_details(MetricContext(e1_source, Params()))
    assert not details.running.any()
