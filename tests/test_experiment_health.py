"""Health checks per experiment (dashboard/core/experiment_health.py) on tiny hand-built data:
exposure, novelty by week since assignment, overlapping experiments, and the verdicts."""
from __future__ import annotations

import pandas as pd
import pytest

from dashboard.core import experiment_health as health
from dashboard.core.context import MetricContext
from dashboard.core.metrics.experiments import experiment_details
from dashboard.core.params import Params


def event(eid, ts, user, kind, block="home_feed"):
    return dict(event_id=eid, ts=ts, user_id=user, event_type=kind, item_id="i1", block=block, platform="web")


def variants(eid, control, treatment):
    return [dict(experiment_id=eid, variant=control, model_version="m0", is_control="true", traffic_share=0.5),
            dict(experiment_id=eid, variant=treatment, model_version="m1", is_control="false", traffic_share=0.5)]


# H1 on home_feed, two weeks [2026-03-02, 2026-03-16): A = a1, a2; B = b1, b2, all assigned at the start.
# Impressions in home_feed: a1, b1 (week 0), b2 (week 1); a2 only in similar_items.
# Clicks in home_feed by week since assignment:   week 0      week 1
#                                        A:      a1 1, a2 0  a1 1, a2 0
#                                        B:      b1 3, b2 1  b1 1, b2 0
# H2 on home_feed [03-09, 03-23) shares a1 with H1; H3 on similar_items and H4 in April overlap nothing.
EVENTS = [
    event("v1", "2026-03-03 10:00:00", "a1", "impression"),
    event("v2", "2026-03-03 10:00:00", "b1", "impression"),
    event("v3", "2026-03-10 10:00:00", "b2", "impression"),
    event("v4", "2026-03-03 10:00:00", "a2", "impression", block="similar_items"),
    event("k1", "2026-03-03 11:00:00", "a1", "click"),
    event("k2", "2026-03-10 11:00:00", "a1", "click"),
    event("k3", "2026-03-03 11:00:00", "b1", "click"),
    event("k4", "2026-03-04 11:00:00", "b1", "click"),
    event("k5", "2026-03-05 11:00:00", "b1", "click"),
    event("k6", "2026-03-11 11:00:00", "b1", "click"),
    event("k7", "2026-03-06 11:00:00", "b2", "click"),
]
EXPERIMENTS = [
    dict(experiment_id="H1", name="h1", block="home_feed", start_ts="2026-03-02 00:00:00", end_ts="2026-03-16 00:00:00"),
    dict(experiment_id="H2", name="h2", block="home_feed", start_ts="2026-03-09 00:00:00", end_ts="2026-03-23 00:00:00"),
    dict(experiment_id="H3", name="h3", block="similar_items", start_ts="2026-03-02 00:00:00", end_ts="2026-03-16 00:00:00"),
    dict(experiment_id="H4", name="h4", block=None, start_ts="2026-04-01 00:00:00", end_ts="2026-04-08 00:00:00"),
]
VARIANTS = variants("H1", "A", "B") + variants("H2", "A", "B") + variants("H3", "A", "B") + variants("H4", "A", "B")
ASSIGNMENTS = [dict(experiment_id="H1", user_id=u, variant=u[0].upper(), assigned_ts=None) for u in ("a1", "a2", "b1", "b2")] + [
    dict(experiment_id="H2", user_id="a1", variant="A", assigned_ts=None),
    dict(experiment_id="H2", user_id="c1", variant="B", assigned_ts=None),
    dict(experiment_id="H3", user_id="a2", variant="A", assigned_ts=None),
    dict(experiment_id="H4", user_id="a1", variant="A", assigned_ts=None),
]


@pytest.fixture
def ctx(make_source):
    source = make_source({"events": EVENTS, "experiments": EXPERIMENTS, "experiment_variants": VARIANTS,
                          "assignments": ASSIGNMENTS})
    return MetricContext(source, Params())


def test_exposure_counts_users_with_an_impression_in_the_block(ctx):
    frame = health.experiment_exposure(ctx)
    h1 = frame[frame.experiment_id == "H1"].set_index("variant")
    assert h1.loc["A", "users"] == 2 and h1.loc["A", "exposed_users"] == 1  # a2's impression is in similar_items
    assert h1.loc["B", "exposed_users"] == 2
    assert h1.loc["A", "share_unexposed"] == pytest.approx(0.5)
    check = health.exposure_check(frame[frame.experiment_id == "H1"])
    # χ²: pooled 3/4; A: (1 − 1.5)²/1.5 + (1 − 0.5)²/0.5 = 0.1667 + 0.5; B: (2 − 1.5)²/1.5 + (0 − 0.5)²/0.5
    # = 0.1667 + 0.5 → χ² = 1.3333, df 1 → p = 0.248213 ≥ 0.001: not flagged
    assert health.proportions_differ_p([1, 2], [2, 2]) == pytest.approx(0.248213, abs=1e-6)
    assert check.flagged is False and "A 50.0%" in check.verdict and "B 0.0%" in check.verdict


def test_exposure_difference_flags():
    frame = pd.DataFrame(dict(experiment_id="X", variant=["A", "B"], users=[1000, 1000], exposed_users=[900, 700],
                              share_unexposed=[0.1, 0.3]))
    assert health.exposure_check(frame).flagged is True


def test_novelty_delta_by_week_since_assignment(ctx):
    frame = health.experiment_novelty(ctx)
    h1 = frame[(frame.experiment_id == "H1") & (frame.metric == "clicks_per_user")].set_index("week_since")
    # week 0: A [1, 0] mean 0.5 s² 0.5; B [3, 1] mean 2 s² 2 → Δ 1.5, se √(0.25 + 1) = 1.118034, CI 1.5 ∓ 2.191306
    assert h1.loc[0, "delta_abs"] == pytest.approx(1.5)
    assert h1.loc[0, "ci_low"] == pytest.approx(1.5 - 2.191306, abs=1e-5)
    # week 1: A [1, 0], B [1, 0] → Δ 0, se √(0.25 + 0.25) = 0.707107, CI ∓ 1.959964 × 0.707107 = ∓ 1.385904
    assert h1.loc[1, "delta_abs"] == pytest.approx(0.0)
    assert h1.loc[1, "ci_high"] == pytest.approx(1.385904, abs=1e-5)
    assert list(h1.index) == [0, 1]
    check = health.novelty_check(frame[(frame.experiment_id == "H1") & (frame.metric == "clicks_per_user")],
                                 "clicks_per_user")
    # first vs last: z = 1.5 / √(1.25 + 0.5) = 1.133893 → p = 0.256839 ≥ 0.05: steady
    assert health.first_last_p(h1.loc[0], h1.loc[1]) == pytest.approx(0.256839, abs=1e-5)
    assert check.flagged is False and "steady" in check.verdict


def test_overlaps_same_block_same_weeks(ctx):
    frame = health.experiment_overlaps(ctx)
    h1 = frame[frame.experiment_id == "H1"]
    # H2: same block, 03-09 to 03-16 shared, a1 in both; H3 other block; H4 other weeks
    assert list(h1.other_experiment_id) == ["H2"]
    r = h1.iloc[0]
    assert r.shared_users == 1
    assert (r.overlap_from, r.overlap_to) == (pd.Timestamp("2026-03-09"), pd.Timestamp("2026-03-16"))
    check = health.overlap_check(h1)
    assert check.flagged is True and "H2 (1 shared users, 2026-03-09 to 2026-03-16)" in check.verdict
    assert health.overlap_check(frame[frame.experiment_id == "H3"]).flagged is False


def test_health_panel_has_the_five_checks(ctx):
    details = experiment_details(ctx)
    checks = health.health_panel("H1", details, health.experiment_exposure(ctx), health.experiment_novelty(ctx),
                                 health.experiment_overlaps(ctx), "clicks_per_user")
    assert [c.name for c in checks] == ["Traffic split (SRM)", "Pre-period balance", "Exposure", "Novelty",
                                        "Overlapping experiments"]
    srm = checks[0]
    assert srm.flagged is False  # 2 vs 2 at 50/50
    assert all(c.verdict for c in checks)


def test_pre_period_balance_flags_below_0001():
    details = pd.DataFrame(dict(experiment_id="X", variant=["A", "B", "B"], metric=["conversion", "conversion", "gmv_per_user"],
                                is_control=[True, False, False], pre_p_value=[None, 0.0004, 0.3]))
    check = health.balance_check(details)
    assert check.flagged is True and "B already differed from the control in conversion" in check.verdict
    details["pre_p_value"] = [None, 0.002, 0.3]
    assert health.balance_check(details).flagged is False


def test_novelty_flags_an_effect_that_fades():
    frame = pd.DataFrame(dict(experiment_id="X", variant="B", metric="conversion", week_since=[0, 1, 2, 3],
                              users=100, control_users=100, delta_abs=[0.5, 0.3, 0.1, 0.0],
                              ci_low=[0.4, 0.2, 0.0, -0.1], ci_high=[0.6, 0.4, 0.2, 0.1], p_value=0.01))
    # week 0 vs week 3: se 0.1/1.959964 = 0.051021 each; z = 0.5/√(2 × 0.051021²) = 0.5/0.072155 = 6.93 → p < 0.05
    check = health.novelty_check(frame, "conversion")
    assert check.flagged is True and "week 1 +0.5, week 4 +0" in check.verdict


def test_proportions_alike_when_everybody_is_exposed():
    assert health.proportions_differ_p([10, 20], [10, 20]) == 1.0
    assert health.proportions_differ_p([10], [10]) is None
