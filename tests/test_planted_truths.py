"""The dashboard finds what the demo generator planted (docs/demo-data.md).

(a) heavier users use filters more, so the naive filter lift is larger than the matched one;
(b) ndcg@10 predicts the online effect of a model change, novelty@10 does not;
(c) exactly one experiment (exp-05) has a broken traffic split;
(d) freshness@10 only shares a trend; (e) the upsell shelf's logged propensities;
(f) past buyers buy again, so CUPED narrows the intervals;
(g) exp-27 is still running at the end of the data, and its better candidate is detected.
"""
from conftest import compute
from dashboard.core.metrics.experiments import SRM_BROKEN_BELOW


def test_predictive_offline_metric_is_positive_significant_and_survives_bh(demo_source):
    table = compute(demo_source, "offline_online")
    for online in ("rec_conversion", "clicks_per_user"):
        row = table[(table.offline_metric == "ndcg@10") & (table.online_metric == online)].iloc[0]
        assert row.n_pairs >= 12
        assert row.pearson_r > 0.5
        assert row.r_ci_low > 0  # the whole 95 % interval is above zero
        assert row.p_adj_bh < 0.05


def test_non_predictive_offline_metric_does_not_survive_bh(demo_source):
    table = compute(demo_source, "offline_online")
    novelty = table[table.offline_metric == "novelty@10"]
    assert len(novelty) == 4
    assert (novelty.p_adj_bh >= 0.05).all()
    assert (novelty.r_ci_low <= 0).all() and (novelty.r_ci_high >= 0).all()


def test_exactly_the_broken_experiment_is_flagged(demo_source):
    experiments = compute(demo_source, "experiments")
    flagged = set(experiments.loc[experiments.srm_p_value < SRM_BROKEN_BELOW, "experiment_id"])
    assert flagged == {"exp-05"}


def test_naive_filter_lift_overstates_the_matched_one(demo_source):
    convenience = compute(demo_source, "convenience_weekly")
    filters = convenience[convenience.feature == "filter_use"].dropna(subset=["naive_diff", "matched_diff"])
    assert len(filters) >= 20
    assert filters.naive_diff.mean() > 2 * filters.matched_diff.mean() > 0


def test_cuped_narrows_the_intervals_of_past_buyers(demo_source):
    """(f) loyalty: users who bought in the 28 days before a test buy again during it."""
    from dashboard.core.context import MetricContext
    from dashboard.core.metrics.experiments import experiment_details
    from dashboard.core.params import Params

    details = experiment_details(MetricContext(demo_source, Params()))
    treated = details[~details.is_control.astype(bool)]
    reduction = treated.groupby("metric").variance_reduction.median()
    assert reduction["gmv_per_user"] > 0.25
    assert reduction["conversion"] > 0.10 and reduction["clicks_per_user"] > 0.15
    width = (treated.ci_high_cuped - treated.ci_low_cuped) / (treated.ci_high - treated.ci_low)
    assert float(width[treated.metric == "gmv_per_user"].median()) < 0.85


def test_the_running_experiment_is_detected_by_its_always_valid_interval(demo_source):
    """(g) exp-27 on home_feed ends after the data: its better candidate wins on clicks per user."""
    from dashboard.core import experiment_review
    from dashboard.core.context import MetricContext
    from dashboard.core.metrics.experiments import experiment_details
    from dashboard.core.params import Params

    details = experiment_details(MetricContext(demo_source, Params()))
    assert set(details.loc[details.running, "experiment_id"]) == {"exp-27"}
    reviewed = experiment_review.review(details, "clicks_per_user", cuped=True)
    row = reviewed[reviewed.experiment_id == "exp-27"].iloc[0]
    assert row.interval == "always-valid" and row.ci_low > 0
    assert row.verdict == "can stop: B wins"
    # a finished experiment is never judged as running
    assert not reviewed[reviewed.experiment_id != "exp-27"].verdict.str.startswith(("can stop", "keep running")).any()


def test_predictive_metric_beats_the_baseline_and_the_trend_only_one_does_not(demo_source):
    """Planted truth (d), docs/demo-data.md: ndcg@10 tracks the models' quality, freshness@10 only
    the models' training dates. Both rise over time with the shipped quality; held out one
    experiment at a time, only ndcg@10 would have picked the winners."""
    from dashboard.core.metrics.offline_online import beats_baseline, is_proxy

    table = compute(demo_source, "offline_online")
    ndcg = table[(table.offline_metric == "ndcg@10") & (table.online_metric == "rec_conversion")].iloc[0]
    assert ndcg.n_experiments >= 20 and ndcg.loo_pairs >= 30
    assert ndcg.loo_sign_accuracy > ndcg.baseline_accuracy + 0.15
    assert ndcg.q2 > 0.3
    assert is_proxy(ndcg)
    fresh = table[(table.offline_metric == "freshness@10") & (table.online_metric == "rec_conversion")].iloc[0]
    assert fresh.loo_pairs == ndcg.loo_pairs
    assert not beats_baseline(fresh)
    assert fresh.p_adj_bh >= 0.05
    # On no online metric is it a proxy.
    assert not any(is_proxy(r) for _, r in table[table.offline_metric == "freshness@10"].iterrows())


def test_trend_only_metric_correlates_with_the_blocks_target_in_levels_only(demo_source):
    """freshness@10 of the serving model and each block's target move together over the weeks
    (a shared trend): the levels correlate, the week-over-week changes do not."""
    from dashboard.core import trends
    from dashboard.core.context import MetricContext
    from dashboard.core.params import Params

    ctx = MetricContext(demo_source, Params())
    try:
        targets = trends.block_targets()
        for block in ("home_feed", "cart_upsell"):
            _, corr = trends.offline_online_trend(ctx, block, "freshness@10", targets[block])
            assert corr["r_levels"] > 0.5 and corr["p_levels"] < 0.05
            assert corr["shared_trend_warning"]
    finally:
        ctx.close()


def test_the_upsell_candidates_estimate_covers_what_it_did_when_it_served(demo_source):
    """(e) cart_upsell logs propensities; the candidate in target_policies served 40 % of the users
    in the last 4 weeks. Its logged-data estimates (every estimator) cover its on-policy CTR, rest on
    plenty of comparable impressions, and see it beat the serving policy."""
    from dashboard.core.demo import UPSELL_CANDIDATE

    table = compute(demo_source, "off_policy")
    candidate = table[(table.model_version == UPSELL_CANDIDATE) & (table.block == "cart_upsell")]
    assert list(candidate.estimator) == ["ips", "snips", "dr"]
    for row in candidate.itertuples():
        assert row.on_policy_impressions > 5_000 and row.ess > 1_000
        assert row.ci_low <= row.on_policy_ctr <= row.ci_high, row.estimator
        assert row.estimate > row.logged_ctr
    # the models of `recommendations` are candidates too, but their lists never met the shelf
    others = table[table.model_version != UPSELL_CANDIDATE]
    assert len(others) and (others.matched_impressions < 100).all()
