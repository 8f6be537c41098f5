"""trends: the serving model per week and block, and the offline ↔ online trend of one block.

Source A (five weeks of 2026, Mondays W1 01-05, W2 01-12, W3 01-19, W4 01-26, W5 02-02; two
blocks) has a model switch on home_feed (m1 → m2), a tie in each block, impressions without a
model_version and a week without any home_feed impression. Source B (seven weeks) has a new
model every week and two blocks whose ctr rises steadily: home_feed's week-over-week changes
are unrelated to the offline ones (shared trend only), similar_items' changes co-move.
"""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from scipy import stats as sst

from dashboard.engine.context import MetricContext, Unavailable
from dashboard.engine.params import Params
from dashboard.engine.stats import diff_correlation
from dashboard.review import trends

W = [dt.date(2026, 1, 5) + dt.timedelta(weeks=i) for i in range(5)]  # W1..W5


class Events:
    """Builds event rows with unique ids; every event is on the Tuesday of its week."""

    def __init__(self):
        self.rows: list[dict] = []

    def _ts(self, week: dt.date, minute: int) -> str:
        return str(dt.datetime.combine(week + dt.timedelta(days=1), dt.time(10)) + dt.timedelta(minutes=minute))

    def impressions(self, week, block, model, n):
        for _ in range(n):
            i = len(self.rows)
            self.rows.append(dict(event_id=f"e{i}", ts=self._ts(week, i % 600), user_id=f"u{i}",
                                  event_type="impression", item_id=f"i{i}", block=block, model_version=model))

    def clicks(self, week, block, n, user=None, item=None):
        for _ in range(n):
            i = len(self.rows)
            self.rows.append(dict(event_id=f"e{i}", ts=self._ts(week, i % 600), user_id=user or f"u{i}",
                                  event_type="click", item_id=item or f"i{i}", block=block, model_version=None))


def source_a_tables() -> dict[str, list[dict]]:
    ev = Events()
    # home_feed                       impressions by model           clicks  ctr
    ev.impressions(W[0], "home_feed", "m1", 3)                     # W1: m1 3, m2 1 → m1
    ev.impressions(W[0], "home_feed", "m2", 1)
    ev.clicks(W[0], "home_feed", 1)                                 #      1/4 = 0.25
    ev.impressions(W[1], "home_feed", "m1", 2)                     # W2: m1 2, m2 2 → tie → m2
    ev.impressions(W[1], "home_feed", "m2", 2)
    ev.clicks(W[1], "home_feed", 1, user="buyer", item="bought")    #      2/4 = 0.5
    ev.clicks(W[1], "home_feed", 1)
    ev.impressions(W[2], "home_feed", "m1", 1)                     # W3: m1 1, m2 3 → m2
    ev.impressions(W[2], "home_feed", "m2", 3)
    ev.clicks(W[2], "home_feed", 1)                                 #      1/4 = 0.25
    #                                                                W4: nothing → NULL ctr
    ev.impressions(W[4], "home_feed", "m2", 2)                     # W5: m2 2, no model 1 → m2
    ev.impressions(W[4], "home_feed", None, 1)
    ev.clicks(W[4], "home_feed", 3)                                 #      3/3 = 1.0
    # similar_items
    ev.impressions(W[0], "similar_items", None, 2)                 # W1: only model-less → NULL
    ev.impressions(W[1], "similar_items", "s1", 2)                 # W2: s1 2 → s1
    ev.impressions(W[2], "similar_items", "s1", 1)                 # W3: s1 1, s2 1 → tie → s2
    ev.impressions(W[2], "similar_items", "s2", 1)
    ev.impressions(W[3], "similar_items", "s2", 1)                 # W4: s2 1 → s2
    ev.impressions(W[4], "similar_items", "s2", 1)                 # W5: s2 1, s1 2 → s1
    ev.impressions(W[4], "similar_items", "s1", 2)
    offline = [
        dict(model_version="m1", metric="ndcg@10", value=0.30, evaluated_at="2026-01-01 00:00:00"),
        dict(model_version="m2", metric="ndcg@10", value=0.10, evaluated_at="2026-01-01 00:00:00"),  # superseded
        dict(model_version="m2", metric="ndcg@10", value=0.40, evaluated_at="2026-01-10 00:00:00"),  # latest wins
        dict(model_version="s1", metric="ndcg@10", value=0.20, evaluated_at=None),
        dict(model_version="s2", metric="ndcg@10", value=0.25, evaluated_at=None),
        dict(model_version="m1", metric="recall@10", value=0.50, evaluated_at=None),  # m2 has no recall
    ]
    # One purchase: 2 × 10.00 of the item "buyer" clicked on home_feed in W2, an hour later.
    orders = [dict(order_id="o1", item_id="bought", ts="2026-01-13 12:00:00", user_id="buyer",
                   quantity=2, price="10.00")]
    return {"events": ev.rows, "offline_metrics": offline, "orders": orders}


def ctx_of(source, **params) -> MetricContext:
    return MetricContext(source, Params(**params))


def as_list(series: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in series]


@pytest.fixture
def source_a(make_source):
    return make_source(source_a_tables())


# --- serving_model_weekly ---------------------------------------------------------------------

def test_serving_model_weekly(source_a):
    frame = trends.serving_model_weekly(ctx_of(source_a))
    assert list(frame.columns) == trends.SERVING_COLUMNS
    got = [
        (r.week_start.date(), r.block, None if pd.isna(r.model_version) else r.model_version,
         int(r.model_impressions), int(r.block_impressions), None if pd.isna(r.model_share) else r.model_share)
        for r in frame.itertuples(index=False)
    ]
    assert got == [
        (W[0], "home_feed", "m1", 3, 4, 0.75),            # 3/4
        (W[0], "similar_items", None, 0, 2, 0.0),          # impressions, none names a model: 0/2
        (W[1], "home_feed", "m2", 2, 4, 0.5),             # tie m1 2 = m2 2 → larger m2; 2/4
        (W[1], "similar_items", "s1", 2, 2, 1.0),
        (W[2], "home_feed", "m2", 3, 4, 0.75),
        (W[2], "similar_items", "s2", 1, 2, 0.5),         # tie s1 1 = s2 1 → larger s2
        (W[3], "home_feed", None, 0, 0, None),            # no impression: NULL model, NULL share
        (W[3], "similar_items", "s2", 1, 1, 1.0),
        (W[4], "home_feed", "m2", 2, 3, pytest.approx(2 / 3)),  # the model-less one counts in the block
        (W[4], "similar_items", "s1", 2, 3, pytest.approx(2 / 3)),
    ]


def test_serving_model_weekly_follows_filters(source_a):
    frame = trends.serving_model_weekly(ctx_of(source_a, blocks=("home_feed",), start=dt.date(2026, 1, 14)))
    assert set(frame.block) == {"home_feed"}
    # start on W2's Wednesday reports W2 as a whole, then W3..W5
    assert [d.date() for d in frame.week_start] == W[1:]


def test_serving_model_tie_uses_text_order(make_source):
    ev = Events()
    ev.impressions(W[0], "home_feed", "v9", 2)
    ev.impressions(W[0], "home_feed", "v10", 2)
    frame = trends.serving_model_weekly(ctx_of(make_source({"events": ev.rows})))
    assert frame.model_version.tolist() == ["v9"]  # 'v9' > 'v10' as text


# --- offline_online_trend ---------------------------------------------------------------------

def test_trend_values_and_gap(source_a):
    frame, summary = trends.offline_online_trend(ctx_of(source_a), "home_feed", "ndcg@10", "ctr")
    assert list(frame.columns) == trends.TREND_COLUMNS
    assert [d.date() for d in frame.week_start] == W
    assert as_list(frame.model_version) == ["m1", "m2", "m2", None, "m2"]
    # serving model's ndcg: m1 0.30, m2 0.40 (its latest evaluation); W4 has no model
    assert as_list(frame.offline_value) == [0.30, 0.40, 0.40, None, 0.40]
    # ctr = clicks / impressions: 1/4, 2/4, 1/4, no impressions, 3/3
    assert as_list(frame.online_value) == [0.25, 0.5, 0.25, None, 1.0]
    # Levels over W1, W2, W3, W5 (n = 4): x = .3 .4 .4 .4, y = .25 .5 .25 1
    #   centred x = −.075 .025 .025 .025, y = −.25 0 −.25 .5 → Σxy = .025, Σx² = .0075, Σy² = .375
    #   r = .025 / √(.0075 · .375) = 1/√4.5 = √2/3 ≈ 0.4714; df 2: p = 1 − r = 0.5286 (t-test, n = 4)
    # Differences only W1→W2 (+.1, +.25) and W2→W3 (0, −.25): W4 breaks W3→W5.
    #   two points → r = 1, p None (n < 3). Bridging W3→W5 (0, +.75) would have given r = 0.
    assert summary["n"] == 4
    assert summary["r_levels"] == pytest.approx(math.sqrt(2) / 3)
    assert summary["p_levels"] == pytest.approx(1 - math.sqrt(2) / 3)
    assert summary["p_levels"] == pytest.approx(sst.pearsonr([.3, .4, .4, .4], [.25, .5, .25, 1.0]).pvalue)
    assert summary["r_diffs"] == pytest.approx(1.0)
    assert summary["p_diffs"] is None
    assert summary["shared_trend_warning"] is False


def test_trend_missing_offline_values_and_null_model(source_a):
    frame, summary = trends.offline_online_trend(ctx_of(source_a), "home_feed", "recall@10", "ctr")
    # only m1 (W1) has a recall value
    assert as_list(frame.offline_value) == [0.50, None, None, None, None]
    assert summary["n"] == 1 and summary["r_levels"] is None
    frame, _ = trends.offline_online_trend(ctx_of(source_a), "similar_items", "ndcg@10", "ctr")
    # W1 has impressions but no model → no offline value; ctr 0/2 = 0
    assert as_list(frame.offline_value) == [None, 0.20, 0.25, 0.25, 0.20]
    assert as_list(frame.online_value) == [0.0] * 5
    assert as_list(frame.model_share) == [0.0, 1.0, 0.5, 1.0, pytest.approx(2 / 3)]


def test_trend_purchase_metrics(source_a):
    # o1 (2 × 10.00) is attributed to the W2 home_feed click on "bought"; every other week 0
    frame, _ = trends.offline_online_trend(ctx_of(source_a), "home_feed", "ndcg@10", "attributed_gmv")
    assert as_list(frame.online_value) == [0.0, 20.0, 0.0, 0.0, 0.0]
    frame, _ = trends.offline_online_trend(ctx_of(source_a), "home_feed", "ndcg@10", "click_conversion")
    # converted clicks / clicks: 0/1, 1/2, 0/1, no clicks, 0/3
    assert as_list(frame.online_value) == [0.0, 0.5, 0.0, None, 0.0]


def test_trend_without_orders_is_unknown_not_zero(make_source):
    tables = source_a_tables()
    del tables["orders"]
    frame, summary = trends.offline_online_trend(ctx_of(make_source(tables)), "home_feed", "ndcg@10", "buyer_conversion")
    assert as_list(frame.online_value) == [None] * 5
    assert summary["n"] == 0 and summary["shared_trend_warning"] is False


def test_trend_unknown_block_is_empty(source_a):
    frame, summary = trends.offline_online_trend(ctx_of(source_a), "cart_upsell", "ndcg@10", "ctr")
    assert frame.empty and list(frame.columns) == trends.TREND_COLUMNS
    assert summary["n"] == 0


def test_trend_rejects_unknown_metrics(source_a):
    with pytest.raises(ValueError, match="online metric 'gmv_per_user'"):
        trends.offline_online_trend(ctx_of(source_a), "home_feed", "ndcg@10", "gmv_per_user")
    with pytest.raises(ValueError, match="offline metric 'map@10'"):
        trends.offline_online_trend(ctx_of(source_a), "home_feed", "map@10", "ctr")


def test_trend_without_offline_values_is_unavailable(make_source):
    tables = source_a_tables()
    del tables["offline_metrics"]
    with pytest.raises(Unavailable, match="offline metric values"):
        trends.offline_online_trend(ctx_of(make_source(tables)), "home_feed", "ndcg@10", "ctr")


# --- shared trend or co-movement -------------------------------------------------------------

# Seven weeks from Monday 2026-03-02, model m<k> serves all 20 impressions of week k in both blocks.
TREND_WEEKS = [dt.date(2026, 3, 2) + dt.timedelta(weeks=i) for i in range(7)]
OFFLINE = [0.10, 0.12, 0.17, 0.19, 0.24, 0.26, 0.31]  # steps .02 .05 .02 .05 .02 .05
CLICKS = {
    "home_feed": [1, 2, 3, 6, 9, 10, 11],      # steps 1 1 3 3 1 1: unrelated to the offline steps
    "similar_items": [1, 2, 5, 6, 9, 10, 13],  # steps 1 3 1 3 1 3: in step with the offline ones
}


@pytest.fixture
def source_b(make_source):
    ev = Events()
    for k, week in enumerate(TREND_WEEKS):
        for block, clicks in CLICKS.items():
            ev.impressions(week, block, f"m{k + 1}", 20)
            ev.clicks(week, block, clicks[k])
    offline = [dict(model_version=f"m{k + 1}", metric="ndcg@10", value=v) for k, v in enumerate(OFFLINE)]
    return make_source({"events": ev.rows, "offline_metrics": offline})


def test_shared_trend_warns(source_b):
    frame, summary = trends.offline_online_trend(ctx_of(source_b), "home_feed", "ndcg@10", "ctr")
    ctr = [c / 20 for c in CLICKS["home_feed"]]  # .05 .10 .15 .30 .45 .50 .55
    assert as_list(frame.offline_value) == pytest.approx(OFFLINE)
    assert as_list(frame.online_value) == pytest.approx(ctr)
    assert summary == diff_correlation(OFFLINE, ctr)
    # Both rise: levels r ≈ 0.977, p ≈ 0.00015 (n = 7).
    assert summary["n"] == 7
    assert summary["p_levels"] < 0.05
    assert summary["p_levels"] == pytest.approx(sst.pearsonr(OFFLINE, ctr).pvalue)
    # Steps: x = .02 .05 .02 .05 .02 .05 (centred ∓.015), y = .05 .05 .15 .15 .05 .05
    # (centred −1/30 −1/30 +2/30 +2/30 −1/30 −1/30): Σxy ∝ (1 − 1 − 2 + 2 + 1 − 1) = 0 → r = 0.
    assert summary["r_diffs"] == pytest.approx(0.0, abs=1e-9)
    assert summary["p_diffs"] == pytest.approx(1.0)
    assert summary["shared_trend_warning"] is True


def test_co_moving_differences_do_not_warn(source_b):
    _, summary = trends.offline_online_trend(ctx_of(source_b), "similar_items", "ndcg@10", "ctr")
    # Steps x = .02 .05 …, y = .05 .15 .05 .15 .05 .15: y = (10/3)·x − 1/60 exactly → r = 1, p = 0.
    assert summary["p_levels"] < 0.05
    assert summary["r_diffs"] == pytest.approx(1.0)
    assert summary["p_diffs"] == pytest.approx(0.0, abs=1e-12)
    assert summary["shared_trend_warning"] is False


# --- block_targets ----------------------------------------------------------------------------

def test_block_targets_config():
    targets = trends.block_targets()
    assert {b: targets[b] for b in ("home_feed", "similar_items", "cart_upsell", "search_recs")} == {
        "home_feed": "buyer_conversion",
        "similar_items": "click_conversion",
        "cart_upsell": "attributed_gmv",
        "search_recs": "ctr",
    }
    assert set(targets.values()) <= set(trends.ONLINE_TREND_METRICS)
    assert targets["new_block"] == "click_conversion"
    assert "new_block" not in targets  # the default is not written into the dict
    assert trends.block_target("promo_banner") == trends.DEFAULT_TARGET == "click_conversion"


def test_block_targets_other_file_and_bad_metric(tmp_path):
    path = tmp_path / "targets.toml"
    path.write_text('[targets]\nhome_feed = "ctr"\n', encoding="utf-8")
    assert trends.block_targets(path) == {"home_feed": "ctr"}
    assert trends.block_target("similar_items", path) == "click_conversion"
    path.write_text('[targets]\nhome_feed = "happiness"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="happiness"):
        trends.block_targets(path)


# --- week-over-week changes, predicted out of sample ------------------------------------------


def test_week_over_week_prediction_by_hand():
    # offline [1, 1, 2, 2, 3, –, 4], online [10, 11, 13, 12, 15, 16, 17]; week 6 has no offline value,
    # so the changes into and out of it are not taken: 4 changes (offline, online):
    # w2 (0, 1), w3 (1, 2), w4 (0, −1), w5 (1, 3)
    # w2, w3: fewer than 2 earlier changes → not predicted
    # w4: fit on (0, 1), (1, 2): b 1, a 1 → ŷ(0) = 1 (y −1); earlier mean 1.5 — but its offline change is 0
    #     (same serving model): the offline metric made no call, so the week is not scored
    # w5: fit on (0, 1), (1, 2), (0, −1): x̄ 1/3, ȳ 2/3, Sxy 4/3, Sxx 2/3 → b 2, a 0; ŷ(1) = 2, y 3: right;
    #     earlier mean 2/3
    # scored: w5 only → accuracy 1/1; baseline 1/1 (not beaten: equal);
    # q2 = 1 − (3 − 2)² / (3 − 2/3)² = 1 − 1/(49/9) = 1 − 9/49 = 0.816327
    frame = pd.DataFrame({"week_start": pd.date_range("2026-01-05", periods=7, freq="7D"),
                          "offline_value": pd.array([1, 1, 2, 2, 3, None, 4], dtype="Float64"),
                          "online_value": pd.array([10, 11, 13, 12, 15, 16, 17], dtype="Float64")})
    changes, summary = trends.week_over_week_prediction(frame)
    assert list(changes.columns) == trends.CHANGE_COLUMNS
    assert changes.week_start.tolist() == list(pd.to_datetime(["2026-01-12", "2026-01-19", "2026-01-26", "2026-02-02"]))
    assert changes.offline_change.tolist() == [0, 1, 0, 1]
    assert changes.online_change.tolist() == [1, 2, -1, 3]
    assert changes.predicted_online_change.isna().tolist() == [True, True, False, False]
    assert changes.predicted_online_change.astype(float).tolist()[2:] == pytest.approx([1, 2])
    assert changes.earlier_mean.astype(float).tolist()[2:] == pytest.approx([1.5, 2 / 3])
    assert changes.sign_scored.tolist() == [False, False, False, True]
    assert changes.sign_correct.tolist()[3] is True
    assert summary["n_changes"] == 4 and summary["loo_pairs"] == 1 and summary["sign_pairs"] == 1
    assert summary["loo_sign_accuracy"] == pytest.approx(1.0)
    assert summary["baseline_accuracy"] == pytest.approx(1.0)
    assert summary["q2"] == pytest.approx(0.816327, abs=1e-6)
    assert summary["beats_baseline"] is False


def test_week_over_week_prediction_beats_the_baseline_when_changes_move_together():
    # online change = 2 × offline change exactly, offline alternating up and down:
    # offline [0, 1, 0, 1, 0, 1], online [5, 7, 5, 7, 5, 7] → changes (1, 2), (−1, −2), (1, 2), (−1, −2), (1, 2)
    # from the third change on the fit is exact (b 2, a 0): ŷ = y for 3 changes → accuracy 3/3,
    # y signs + − + → baseline 2/3; q2 = 1 (no error) → beats the baseline
    frame = pd.DataFrame({"week_start": pd.date_range("2026-01-05", periods=6, freq="7D"),
                          "offline_value": [0.0, 1, 0, 1, 0, 1], "online_value": [5.0, 7, 5, 7, 5, 7]})
    _, summary = trends.week_over_week_prediction(frame)
    assert (summary["loo_pairs"], summary["sign_hits"]) == (3, 3)
    assert summary["baseline_accuracy"] == pytest.approx(2 / 3)
    assert summary["q2"] == pytest.approx(1.0)
    assert summary["beats_baseline"] is True


def test_week_over_week_prediction_of_the_real_trend(source_a):
    frame, _ = trends.offline_online_trend(ctx_of(source_a), "home_feed", "ndcg@10", "ctr")
    changes, summary = trends.week_over_week_prediction(frame)
    assert summary["n_changes"] == len(changes) <= len(frame) - 1
