"""offline_online: offline model deltas against online experiment deltas.

Five experiments P1..P5, each a control A against one variant B, on home_feed. Clicks per user
are chosen so that B's delta_rel of clicks_per_user is a simple number; offline values so that
offline deltas are simple numbers. Expected statistics are worked out by hand in the comments.
"""
from __future__ import annotations

import pandas as pd
import pytest

from dashboard.engine.context import MetricContext, Unavailable
from dashboard.engine.metrics.offline_online import PAIR_COLUMNS, offline_online_pairs
from dashboard.engine.params import Params
from tests.conftest import compute

COLUMNS = [
    "offline_metric", "online_metric", "n_pairs", "n_experiments", "pearson_r", "r_experiments", "p_value",
    "r_ci_low", "r_ci_high", "spearman_rho", "kendall_tau", "sign_agreement", "slope", "p_adj_bh",
    "loo_pairs", "loo_sign_accuracy", "baseline_accuracy", "q2",
]
COUNTS = ["n_pairs", "n_experiments", "loo_pairs"]
ONLINE = ["conversion", "rec_conversion", "gmv_per_user", "clicks_per_user"]

#        treatment model, control users' clicks, treatment users' clicks → online delta_rel
PAIRS = {
    "P1": ("m1", [2, 2], [2, 4]),  # (3 − 2)/2 = 0.5
    "P2": ("m0", [1, 1], [1, 1]),  # (1 − 1)/1 = 0   (A/A: same model as the control)
    "P3": ("m3", [1, 1], [2, 3]),  # (2.5 − 1)/1 = 1.5
    "P4": ("m4", [1, 1], [2, 2]),  # (2 − 1)/1 = 1
    "P5": ("m5", [1, 1], [3, 3]),  # (3 − 1)/1 = 2
}
OFFLINE_INPUT = [
    # ndcg@10: m0 10, m1 9, m3 11, m4 12, m5 13 → offline deltas −1, 0 (same model), 1, 2, 3
    dict(model_version="m0", metric="ndcg@10", value=10, evaluated_at="2026-02-01 00:00:00"),
    dict(model_version="m1", metric="ndcg@10", value=50, evaluated_at=None),  # no date = oldest
    dict(model_version="m1", metric="ndcg@10", value=99, evaluated_at="2026-01-01 00:00:00"),
    dict(model_version="m1", metric="ndcg@10", value=9, evaluated_at="2026-02-01 00:00:00"),  # latest
    dict(model_version="m3", metric="ndcg@10", value=11, evaluated_at=None),
    dict(model_version="m4", metric="ndcg@10", value=12, evaluated_at=None),
    dict(model_version="m5", metric="ndcg@10", value=13, evaluated_at=None),
    # recall@10 only for m0 1, m1 2, m3 3 → deltas 1 (P1), 0 (P2, same model), 2 (P3); P4, P5 left out
    dict(model_version="m0", metric="recall@10", value=1, evaluated_at=None),
    dict(model_version="m1", metric="recall@10", value=2, evaluated_at=None),
    dict(model_version="m3", metric="recall@10", value=3, evaluated_at=None),
]


def build_tables(offline=OFFLINE_INPUT) -> dict[str, list[dict]]:
    experiments, variants, assignments, events = [], [], [], []
    for week, (experiment_id, (model, control_clicks, treatment_clicks)) in enumerate(PAIRS.items()):
        day = 2 + 7 * week  # each experiment its own week of March 2026 (Mondays 2, 9, 16, 23, 30)
        start = pd.Timestamp(2026, 3, 1) + pd.Timedelta(days=day - 1)
        experiments.append(dict(experiment_id=experiment_id, block="home_feed",
                                start_ts=str(start), end_ts=str(start + pd.Timedelta(days=7))))
        variants += [
            dict(experiment_id=experiment_id, variant="A", model_version="m0", is_control="true"),
            dict(experiment_id=experiment_id, variant="B", model_version=model, is_control="false"),
        ]
        for variant, clicks in (("A", control_clicks), ("B", treatment_clicks)):
            for n_user, n_clicks in enumerate(clicks):
                user = f"{experiment_id}{variant}{n_user}"
                assignments.append(dict(experiment_id=experiment_id, user_id=user, variant=variant))
                for k in range(n_clicks):
                    events.append(dict(event_id=f"{user}-{k}", ts=str(start + pd.Timedelta(hours=10 + k)),
                                       user_id=user, event_type="click", item_id=f"i{k}", block="home_feed"))
    # One order by someone outside the experiments: purchase metrics exist but every control
    # mean is 0, so their delta_rel is NULL and they have no pairs.
    orders = [dict(order_id="o1", item_id="i0", ts="2026-03-03 12:00:00", user_id="outsider",
                   quantity=1, price="10.00")]
    tables = {"events": events, "orders": orders, "experiments": experiments,
              "experiment_variants": variants, "assignments": assignments}
    if offline is not None:
        tables["offline_metrics"] = offline
    return tables


@pytest.fixture
def pair_source(make_source):
    return make_source(build_tables())


def cell(frame: pd.DataFrame, offline_metric: str, online_metric: str) -> pd.Series:
    hit = frame[(frame.offline_metric == offline_metric) & (frame.online_metric == online_metric)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_offline_online_rows_for_every_metric_pair(pair_source):
    frame = compute(pair_source, "offline_online")
    assert list(frame.columns) == COLUMNS
    assert list(zip(frame.offline_metric, frame.online_metric)) == [
        (off, on) for off in ("ndcg@10", "recall@10") for on in ONLINE
    ]
    # Purchase metrics: every control mean is 0 → no online delta → rows with n_pairs 0, all NULL.
    for off in ("ndcg@10", "recall@10"):
        for on in ("conversion", "rec_conversion", "gmv_per_user"):
            r = cell(frame, off, on)
            assert (r.n_pairs, r.n_experiments, r.loo_pairs) == (0, 0, 0)
            assert r.drop(["offline_metric", "online_metric", *COUNTS]).isna().all()
    for column in COUNTS:
        assert frame[column].dtype == "int64"


def test_offline_online_five_pairs_by_hand(pair_source):
    r = cell(compute(pair_source, "offline_online"), "ndcg@10", "clicks_per_user")
    # x (offline) = [−1, 0, 1, 2, 3] (m1 uses its latest value 9, not 99 or 50), y = [0.5, 0, 1.5, 1, 2]
    # means 1 and 1; x − x̄ = [−2, −1, 0, 1, 2], y − ȳ = [−0.5, −1, 0.5, 0, 1]
    # Sxy = 1 + 1 + 0 + 0 + 2 = 4, Sxx = 10, Syy = 0.25 + 1 + 0.25 + 0 + 1 = 2.5
    # r = 4 / √(10 × 2.5) = 0.8; slope = Sxy / Sxx = 0.4
    # t = 0.8 √(3 / 0.36) = 2.309401 = 4/√3, 3 df: F(t) = ½ + (1/π)[(4/3)/(25/9) + atan(4/3)]
    #   = ½ + (0.48 + 0.927295)/π = 0.947956 → p = 2 (1 − F) = 0.104088
    # Fisher: atanh 0.8 = 1.098612 ∓ 1.959964/√2 = 1.385904 → tanh(−0.287292) = −0.279640,
    #   tanh(2.484516) = 0.986196
    # ranks x = [1,2,3,4,5], y = [2,1,4,3,5]: Σd² = 4 → rho = 1 − 6·4/(5·24) = 0.8
    # Kendall: discordant pairs (1,2) and (3,4) of 10 → tau = (8 − 2)/10 = 0.6
    # signs: P2 has x = 0 (left out); P1 (−1, +0.5) disagrees; P3, P4, P5 agree → 3/4 = 0.75
    assert r.n_pairs == 5
    assert r.pearson_r == pytest.approx(0.8)
    assert r.slope == pytest.approx(0.4)
    assert r.p_value == pytest.approx(0.104088, abs=1e-6)
    assert r.r_ci_low == pytest.approx(-0.279640, abs=1e-6)
    assert r.r_ci_high == pytest.approx(0.986196, abs=1e-6)
    assert r.spearman_rho == pytest.approx(0.8)
    assert r.kendall_tau == pytest.approx(0.6)
    assert r.sign_agreement == pytest.approx(0.75)
    # Two-variant experiments: one pair per experiment, so the experiment-level points are the
    # pairs and r_experiments, p_value and the interval are those above.
    assert r.n_experiments == 5
    assert r.r_experiments == pytest.approx(0.8)


def test_offline_online_leave_one_experiment_out_by_hand(pair_source):
    r = cell(compute(pair_source, "offline_online"), "ndcg@10", "clicks_per_user")
    # x = [−1, 0, 1, 2, 3], y = [0.5, 0, 1.5, 1, 2]; each experiment fitted on the other four:
    # − P1: x [0,1,2,3], y [0,1.5,1,2]: x̄ 1.5, ȳ 1.125, Sxy 2.75, Sxx 5 → b 0.55, a 0.3;
    #   ŷ(−1) = −0.25 (y +0.5: wrong sign); ȳ₋ₑ = 1.125
    # − P2: x [−1,1,2,3], y [0.5,1.5,1,2]: x̄ = ȳ = 1.25, Sxy 2.75, Sxx 8.75 → b 11/35, a 6/7;
    #   ŷ(0) = 6/7 = 0.857143, y = 0: not scored for signs; ȳ₋ₑ = 1.25
    # − P3: x [−1,0,2,3], y [0.5,0,1,2]: x̄ 1, ȳ 0.875, Sxy 4, Sxx 10 → b 0.4, a 0.475; ŷ(1) = 0.875 ✓
    # − P4: x [−1,0,1,3], y [0.5,0,1.5,2]: x̄ 0.75, ȳ 1, Sxy 4, Sxx 8.75 → b 16/35, a 23/35;
    #   ŷ(2) = 55/35 = 1.571429 ✓
    # − P5: x [−1,0,1,2], y [0.5,0,1.5,1]: x̄ 0.5, ȳ 0.75, Sxy 1.5, Sxx 5 → b 0.3, a 0.6; ŷ(3) = 1.5 ✓
    # loo_pairs 5; signs over P1, P3, P4, P5: 3 of 4 agree → 0.75; their y are all > 0 → baseline 1.0
    # q2: Σ(y − ŷ)² = 0.5625 + 36/49 + 0.390625 + 16/49 + 0.25 = 2.264350
    #     Σ(y − ȳ₋ₑ)² = 0.390625 + 1.5625 + 0.390625 + 0 + 1.5625 = 3.90625 → q2 = 1 − 0.579674 = 0.420326
    assert r.loo_pairs == 5
    assert r.loo_sign_accuracy == pytest.approx(0.75)
    assert r.baseline_accuracy == pytest.approx(1.0)
    assert r.q2 == pytest.approx(0.420326, abs=1e-6)


def test_offline_online_missing_values_leave_pairs_out(pair_source):
    r = cell(compute(pair_source, "offline_online"), "recall@10", "clicks_per_user")
    # recall is unknown for m4 and m5 → P4, P5 out. x = [1, 0, 2], y = [0.5, 0, 1.5]
    # x − x̄ = [0, −1, 1], y − ȳ = [−1/6, −2/3, 5/6]; Sxy = 0 + 2/3 + 5/6 = 1.5, Sxx = 2,
    # Syy = (1 + 16 + 25)/36 = 7/6 → r = 1.5/√(7/3) = 0.981981, slope = 1.5/2 = 0.75
    # r² = 27/28 → t = √(27/28 · 28) = √27, 1 df (Cauchy): p = 1 − (2/π) atan √27 = 0.121038
    # n = 3 < 4 → no Fisher interval; ranks agree exactly → rho = tau = 1; signs 2/2 agree
    assert r.n_pairs == 3
    assert r.pearson_r == pytest.approx(0.981981, abs=1e-6)
    assert r.slope == pytest.approx(0.75)
    assert r.p_value == pytest.approx(0.121038, abs=1e-6)
    assert pd.isna(r.r_ci_low) and pd.isna(r.r_ci_high)
    assert r.spearman_rho == pytest.approx(1.0)
    assert r.kendall_tau == pytest.approx(1.0)
    assert r.sign_agreement == pytest.approx(1.0)
    # Leave one experiment out (3 pairs): P1 from P2, P3: x [0, 2], y [0, 1.5] → b 0.75, a 0, ŷ(1) = 0.75,
    # ȳ₋ₑ 0.75; P2 from P1, P3: b 1, a −0.5, ŷ(0) = −0.5, y = 0 (no sign), ȳ₋ₑ 1; P3 from P1, P2: b 0.5,
    # a 0, ŷ(2) = 1, ȳ₋ₑ 0.25. Signs: P1 and P3 agree → 1.0; baseline 2/2 positive → 1.0.
    # q2 = 1 − (0.0625 + 0.25 + 0.25) / (0.0625 + 1 + 1.5625) = 1 − 0.5625/2.625 = 0.785714
    assert (r.n_experiments, r.loo_pairs) == (3, 3)
    assert r.loo_sign_accuracy == pytest.approx(1.0)
    assert r.baseline_accuracy == pytest.approx(1.0)
    assert r.q2 == pytest.approx(0.785714, abs=1e-6)


def test_offline_online_bh_adjustment(pair_source):
    frame = compute(pair_source, "offline_online")
    # Non-null p-values: 0.104088 (ndcg) and 0.121038 (recall), m = 2.
    # sorted: 0.104088 × 2/1 = 0.208176, 0.121038 × 2/2 = 0.121038;
    # running minimum from the largest → both 0.121038. Rows without a p-value stay NULL.
    assert cell(frame, "ndcg@10", "clicks_per_user").p_adj_bh == pytest.approx(0.121038, abs=1e-6)
    assert cell(frame, "recall@10", "clicks_per_user").p_adj_bh == pytest.approx(0.121038, abs=1e-6)
    assert frame.p_adj_bh.isna().sum() == 6


def test_offline_online_pairs_points(pair_source):
    pairs = offline_online_pairs(MetricContext(pair_source, Params()))
    assert list(pairs.columns) == PAIR_COLUMNS
    clicks = pairs[pairs.online_metric == "clicks_per_user"]
    ndcg = clicks[clicks.offline_metric == "ndcg@10"]
    assert ndcg.experiment_id.tolist() == ["P1", "P2", "P3", "P4", "P5"]
    assert ndcg.offline_delta.tolist() == pytest.approx([-1, 0, 1, 2, 3])
    assert ndcg.online_delta.tolist() == pytest.approx([0.5, 0, 1.5, 1, 2])
    assert set(ndcg.block) == {"home_feed"}
    assert clicks[clicks.offline_metric == "recall@10"].experiment_id.tolist() == ["P1", "P2", "P3"]
    # No online delta for the purchase metrics (control means 0) → no points.
    assert set(pairs.online_metric) == {"clicks_per_user"}
    # P1: control [2, 2] (s² 0), treatment [2, 4] (mean 3, s² 2): se = √(2/2) = 1,
    # CI = 1 ∓ 1.959964 = [−0.959964, 2.959964], relative to the control mean 2: [−0.479982, 1.479982]
    p1 = ndcg[ndcg.experiment_id == "P1"].iloc[0]
    assert p1.online_ci_low == pytest.approx(-0.479982, abs=1e-6)
    assert p1.online_ci_high == pytest.approx(1.479982, abs=1e-6)
    assert (p1.model_version, p1.control_model_version) == ("m1", "m0")


def test_offline_online_same_model_has_zero_offline_delta_without_values(make_source):
    # P2 compares m0 with m0: its offline delta is 0 for every metric name, even a metric
    # (coverage@10, known only for m9) that neither of its models has a value for.
    offline = OFFLINE_INPUT + [dict(model_version="m9", metric="coverage@10", value=0.3)]
    frame = compute(make_source(build_tables(offline)), "offline_online")
    r = cell(frame, "coverage@10", "clicks_per_user")
    # one pair (0, 0): n = 1 → every statistic NULL, no pair with both deltas ≠ 0; leaving its
    # experiment out leaves no pair to fit → nothing predicted (loo_pairs 0, the rest NULL)
    assert (r.n_pairs, r.n_experiments, r.loo_pairs) == (1, 1, 0)
    assert r.drop(["offline_metric", "online_metric", *COUNTS]).isna().all()


def test_offline_online_computed_values_win_on_clash(make_source):
    # recommendations + holdout give computed hit_rate@10 (and the other offline metrics) for m0
    # and m1: holdout user h1 has item x1; m1 ranks x1 first (hit_rate 1), m0 only x2 (hit_rate 0).
    # The input says hit_rate@10 = 0.5 for both (delta 0); the computed delta 1 − 0 = 1 wins.
    offline = OFFLINE_INPUT + [
        dict(model_version="m0", metric="hit_rate@10", value=0.5, evaluated_at="2026-10-01 00:00:00"),
        dict(model_version="m1", metric="hit_rate@10", value=0.5, evaluated_at="2026-10-01 00:00:00"),
    ]
    tables = build_tables(offline)
    tables["recommendations"] = [
        dict(model_version="m0", user_id="h1", item_id="x2", rank=1),
        dict(model_version="m1", user_id="h1", item_id="x1", rank=1),
    ]
    tables["holdout"] = [dict(user_id="h1", item_id="x1", relevance=1)]
    source = make_source(tables)
    pairs = offline_online_pairs(MetricContext(source, Params()))
    hit = pairs[(pairs.offline_metric == "hit_rate@10") & (pairs.online_metric == "clicks_per_user")]
    # P1 (m1 vs m0) from computed values, P2 same model; m3, m4, m5 have no hit_rate@10 at all.
    assert hit.experiment_id.tolist() == ["P1", "P2"]
    assert hit.offline_delta.tolist() == pytest.approx([1.0, 0.0])
    # Input-only metrics are still there: recall@10 for m3 (P3) comes from the input table.
    frame = compute(source, "offline_online")
    assert "recall@10" in set(frame.offline_metric)
    assert "hit_rate@10" in set(frame.offline_metric)


def test_offline_online_unavailable_without_offline_values(make_source):
    with pytest.raises(Unavailable, match="offline metric values"):
        compute(make_source(build_tables(offline=None)), "offline_online")


def test_offline_online_unavailable_without_experiments(make_source):
    tables = build_tables()
    del tables["assignments"]
    with pytest.raises(Unavailable, match="assignments"):
        compute(make_source(tables), "offline_online")


def test_offline_online_without_orders_only_clicks(make_source):
    tables = build_tables()
    del tables["orders"]
    frame = compute(make_source(tables), "offline_online")
    # Purchase metrics are not computed without orders, so they get no rows here either.
    assert frame.online_metric.tolist() == ["clicks_per_user", "clicks_per_user"]
    assert frame.n_pairs.tolist() == [5, 3]


def test_offline_online_no_selected_experiments_keeps_rows(pair_source):
    import datetime as dt

    # The date filter keeps no experiment (all run in March): every row is there with n_pairs 0.
    frame = compute(pair_source, "offline_online", start=dt.date(2026, 6, 1))
    assert len(frame) == 8
    assert (frame.n_pairs == 0).all()
    assert frame.p_adj_bh.isna().all()
    assert offline_online_pairs(MetricContext(pair_source, Params(start=dt.date(2026, 6, 1)))).empty


# --- shared control: a three-variant experiment ------------------------------------------------
#        variant: (model, users' clicks); A is the control (model m0) of every experiment
SHARED = {
    "T1": {"A": ("m0", [1, 1]), "B": ("m1", [2, 2]), "C": ("m2", [0, 0])},  # B +1, C −1 (both vs the same A)
    "T2": {"A": ("m0", [1, 1]), "B": ("m3", [2, 3])},                        # +1.5
    "T3": {"A": ("m0", [1, 1]), "B": ("m4", [3, 3])},                        # +2
    "T4": {"A": ("m0", [1, 1]), "B": ("m5", [1, 2])},                        # +0.5
}
# ndcg@10: m0 10, m1 12, m2 8, m3 11, m4 13, m5 9 → offline deltas T1B +2, T1C −2, T2 +1, T3 +3, T4 −1
SHARED_OFFLINE = [dict(model_version=m, metric="ndcg@10", value=v, evaluated_at=None)
                  for m, v in (("m0", 10), ("m1", 12), ("m2", 8), ("m3", 11), ("m4", 13), ("m5", 9))]


def build_shared_control_tables() -> dict[str, list[dict]]:
    experiments, variants, assignments, events = [], [], [], []
    for week, (experiment_id, arms) in enumerate(SHARED.items()):
        start = pd.Timestamp(2026, 3, 2) + pd.Timedelta(weeks=week)
        experiments.append(dict(experiment_id=experiment_id, block="home_feed",
                                start_ts=str(start), end_ts=str(start + pd.Timedelta(days=7))))
        for variant, (model, clicks) in arms.items():
            variants.append(dict(experiment_id=experiment_id, variant=variant, model_version=model,
                                 is_control="true" if variant == "A" else "false"))
            for n_user, n_clicks in enumerate(clicks):
                user = f"{experiment_id}{variant}{n_user}"
                assignments.append(dict(experiment_id=experiment_id, user_id=user, variant=variant))
                for k in range(n_clicks):
                    events.append(dict(event_id=f"{user}-{k}", ts=str(start + pd.Timedelta(hours=10 + k)),
                                       user_id=user, event_type="click", item_id=f"i{k}", block="home_feed"))
    return {"events": events, "experiments": experiments, "experiment_variants": variants,
            "assignments": assignments, "offline_metrics": SHARED_OFFLINE}


def test_offline_online_shared_control_counts_experiments_not_pairs(make_source):
    r = cell(compute(make_source(build_shared_control_tables()), "offline_online"), "ndcg@10", "clicks_per_user")
    # pairs x = [2, −2, 1, 3, −1], y = [1, −1, 1.5, 2, 0.5]: pearson_r over every pair:
    # x̄ 0.6, ȳ 0.8, Sxy 8.6, Sxx 17.2, Syy 5.3 → r = 8.6/√91.16 = 0.900733 (its 3-df p would be 0.037)
    # Experiment points (means of their pairs): T1 (0, 0), T2 (1, 1.5), T3 (3, 2), T4 (−1, 0.5):
    # x̄ 0.75, ȳ 1; Sxy = 0.75 + 0.125 + 2.25 + 0.875 = 4, Sxx = 8.75, Syy = 2.5
    # → r_experiments = 4/√21.875 = 0.855236; 2 df: p = 1 − t/√(2 + t²) = 1 − r = 0.144764
    # Fisher with √(4 − 3) = 1: atanh r = 1.275331 ∓ 1.959964 → tanh(−0.684633) = −0.594523,
    #   tanh(3.235295) = 0.996908
    assert (r.n_pairs, r.n_experiments) == (5, 4)
    assert r.pearson_r == pytest.approx(0.900733, abs=1e-6)
    assert r.r_experiments == pytest.approx(0.855236, abs=1e-6)
    assert r.p_value == pytest.approx(0.144764, abs=1e-6)
    assert r.r_ci_low == pytest.approx(-0.594523, abs=1e-6)
    assert r.r_ci_high == pytest.approx(0.996908, abs=1e-6)
    # One row with a p-value → BH leaves it as it is.
    assert r.p_adj_bh == pytest.approx(0.144764, abs=1e-6)


def test_offline_online_shared_control_leaves_both_pairs_of_an_experiment_out(make_source):
    r = cell(compute(make_source(build_shared_control_tables()), "offline_online"), "ndcg@10", "clicks_per_user")
    # − T1 (both its pairs held out together): fit on T2..T4, x [1,3,−1], y [1.5,2,0.5]: x̄ 1, ȳ 4/3,
    #   Sxy 3, Sxx 8 → b 0.375, a 0.958333; ŷ(+2) = 1.708333 (y +1 ✓), ŷ(−2) = 0.208333 (y −1 ✗); ȳ₋ₑ 4/3
    # − T2: fit on x [2,−2,3,−1], y [1,−1,2,0.5]: x̄ 0.5, ȳ 0.625, Sxy 8.25, Sxx 17 → b 0.485294,
    #   a 0.382353; ŷ(1) = 0.867647 (y 1.5 ✓); ȳ₋ₑ 0.625
    # − T3: fit on x [2,−2,1,−1], y [1,−1,1.5,0.5]: x̄ 0, ȳ 0.5, Sxy 5, Sxx 10 → b 0.5, a 0.5;
    #   ŷ(3) = 2 (y 2 ✓); ȳ₋ₑ 0.5
    # − T4: fit on x [2,−2,1,3], y [1,−1,1.5,2]: x̄ 1, ȳ 0.875, Sxy 8, Sxx 14 → b 4/7, a 0.303571;
    #   ŷ(−1) = −0.267857 (y 0.5 ✗); ȳ₋ₑ 0.875
    # loo_pairs 5, signs 3/5 = 0.6; y signs + − + + + → baseline 4/5 = 0.8 (launching everything wins)
    # q2: Σ(y − ŷ)² = 0.501736 + 1.460069 + 0.399879 + 0 + 0.589605 = 2.951289
    #     Σ(y − ȳ₋ₑ)² = 0.111111 + 5.444444 + 0.765625 + 2.25 + 0.140625 = 8.711806 → q2 = 0.661232
    assert r.loo_pairs == 5
    assert r.loo_sign_accuracy == pytest.approx(0.6)
    assert r.baseline_accuracy == pytest.approx(0.8)
    assert r.q2 == pytest.approx(0.661232, abs=1e-6)


def test_offline_online_predictions_and_wrong_calls(make_source):
    from dashboard.engine.metrics.offline_online import offline_online_predictions, winners, wrong_calls

    source = make_source(build_shared_control_tables())
    predictions = offline_online_predictions(MetricContext(source, Params()))
    chosen = predictions[(predictions.offline_metric == "ndcg@10") & (predictions.online_metric == "clicks_per_user")]
    # ŷ as worked out above, in the order T1B, T1C, T2, T3, T4
    assert chosen.predicted_online_delta.astype(float).tolist() == pytest.approx(
        [1.708333, 0.208333, 0.867647, 2.0, -0.267857], abs=1e-6)
    assert chosen.held_out_mean.astype(float).tolist() == pytest.approx([4 / 3, 4 / 3, 0.625, 0.5, 0.875])
    assert chosen.sign_correct.tolist() == [True, False, True, True, False]
    wrong = wrong_calls(predictions, "ndcg@10", "clicks_per_user")
    assert list(zip(wrong.experiment_id, wrong.variant)) == [("T1", "C"), ("T4", "B")]
    # T1C: predicted +0.21 → launched, but online went down; T4: predicted −0.27 → not launched, went up
    assert wrong.would_have.tolist() == ["launched", "not launched"]
    assert wrong.actually.tolist() == ["online went down", "online went up"]
    table = compute(source, "offline_online")
    w = winners(table, predictions)
    row = w[w.online_metric == "clicks_per_user"].iloc[0]
    # Wilson 3 of 5, z = 1.959964: p̂ 0.6, z²/n = 0.768262; centre (0.6 + 0.384131)/1.768262 = 0.556552,
    # half = z·√(0.24/5 + 3.841459/100)/1.768262 = 1.959964·0.293963/1.768262 = 0.325828
    # → [0.230724, 0.882380]
    assert (row.sign_pairs, row.sign_hits) == (5, 3)
    assert row.accuracy_ci_low == pytest.approx(0.230724, abs=1e-6)
    assert row.accuracy_ci_high == pytest.approx(0.882380, abs=1e-6)
    # 0.6 < baseline 0.8: it does not beat launching everything, so it is no proxy
    assert not row.beats_baseline and not row.proxy
    # Without the pairs (an exported folder) n and hits come from loo_pairs and the accuracy.
    w2 = winners(table)
    assert (w2.iloc[-1].sign_pairs, w2.iloc[-1].sign_hits) == (5, 3)
