"""Offline ↔ Online: which offline ML metric, if any, predicts what a model change does online.

The page shows what the data supports and nothing more: n, intervals, adjusted p-values, and
week-over-week differences beside levels so that two trends are not mistaken for a relation.
"""
import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.core import stats
from dashboard.core.metrics import offline_online
from dashboard.core.metrics.experiments import ONLINE_METRICS
from dashboard.ui import session, widgets
from dashboard.ui.data import analysis, metric
from dashboard.ui.source import escape_markdown as text

source, params = session.current()
st.title("Offline ↔ Online")
st.columns(3)[0].number_input("k: cut-off of the offline metrics computed from recommendations and holdout",
                              min_value=1, max_value=100, value=10, key="k", bind="query-params")


def across_experiments(table: pd.DataFrame) -> None:
    """Every section that needs experiment pairs (offline_online): evidence, scatter, matrix,
    held-out winners and the trends over time."""
    pairs, pairs_reason = analysis(source, "offline_online_pairs", params)
    details, _ = analysis(source, "experiment_details", params)

    # --- how much evidence there is ------------------------------------------------------------------
    usable = table.groupby("offline_metric", as_index=False)["n_pairs"].max().rename(columns={"n_pairs": "usable_pairs"})
    if details is not None:
        variants = details[~details["is_control"].astype(bool)].drop_duplicates(["experiment_id", "variant"])
        st.markdown(
            f"**{details['experiment_id'].nunique()} experiments** (all of them, winners and losers) give "
            f"**{len(variants)} variant-vs-control pairs**. A pair is usable for an offline metric when both models "
            "have a value of it and the online difference is known."
        )
        usable["not_usable"] = len(variants) - usable["usable_pairs"]
        usable["why_not"] = usable["not_usable"].map(
            lambda n: "" if n == 0 else "a model of the pair has no value of this offline metric, or the control mean is 0")
    with st.expander("Usable pairs per offline metric"):
        widgets.table(usable, "offline_online_usable_pairs", params)

    # --- one offline metric against one online metric -------------------------------------------------
    st.header("Across experiments")
    offline_names = sorted(table["offline_metric"].unique())
    online_names = [m for m in ONLINE_METRICS if m in set(table["online_metric"])]
    left, right = st.columns(2)
    with left:
        default_offline = next((m for m in offline_names if m.startswith("ndcg")), offline_names[0])
        offline = st.selectbox("Offline metric", offline_names, index=offline_names.index(default_offline), key="oo_offline")
    with right:
        default_online = "rec_conversion" if "rec_conversion" in online_names else online_names[0]
        online = st.selectbox("Online metric (relative difference vs control)", online_names,
                              index=online_names.index(default_online), key="oo_online")
    summary = table[(table["offline_metric"] == offline) & (table["online_metric"] == online)]
    summary_dict = {k: (None if pd.isna(v) else v) for k, v in summary.iloc[0].to_dict().items()} if len(summary) else {}
    chosen = pairs[(pairs["offline_metric"] == offline) & (pairs["online_metric"] == online)] if pairs is not None else None
    if chosen is None:
        widgets.unavailable(f"The scatter of the pairs: {pairs_reason}")
    elif chosen.empty:
        st.info("No usable pair for this combination.")
    else:
        widgets.chart(charts.pair_scatter(chosen, summary_dict, offline, online), chosen,
                      f"offline_online_pairs_{offline}_{online}", params)
    if len(summary):
        note = charts.cell_note(summary.iloc[0])
        p_adj = summary_dict.get("p_adj_bh")
        if note:
            st.warning(f"Not evidence either way: {note}. Do not pick a model by this offline metric on this basis.")
        elif p_adj is not None and p_adj < 0.05:
            st.success(f"Across experiments, {text(offline)} moves with {online} (BH-adjusted p = {p_adj:.3g}).")
        else:
            st.info(f"The relation of {text(offline)} and {online} is not significant after correcting for the "
                    f"{len(table)} pairs of metrics looked at "
                    f"(BH-adjusted p = {p_adj if p_adj is None else round(p_adj, 3)}).")

    # --- every offline metric against every online metric ------------------------------------------------
    st.header("Every offline metric × every online metric")
    st.caption(f"Pearson r across experiment pairs; p-values (and intervals) from one point per experiment, because pairs "
               f"that share a control are not independent, adjusted with Benjamini–Hochberg over all {len(table)} cells. "
               f"Grey cells are not evidence: fewer than {charts.MIN_PAIRS} pairs, or an interval that contains 0.")
    widgets.chart(charts.correlation_matrix(table, "Offline ↔ online correlations"), table, "offline_online", params)

    # --- would trusting the offline metric have picked the winners? ---------------------------------------
    st.header("Would it have picked the winners?")
    st.caption("Each experiment is held out in turn: a line is fitted to the other experiments' pairs (online change on "
               "offline change) and predicts the held-out pairs. A call is right when the predicted and the actual online "
               "change have the same sign. The baseline is the better of launching every variant or none. "
               f"Rule used on this page and in the weekly review: {offline_online.PROXY_RULE}.")
    missing_columns = offline_online.missing_v2_columns(table)
    if missing_columns:
        st.info(offline_online.OLD_EXPORT.format(missing=", ".join(missing_columns)))
    else:
        predictions, predictions_reason = analysis(source, "offline_online_predictions", params)
        winners_online = st.selectbox("Online metric", online_names, index=online_names.index(default_online),
                                      key="winners_online")
        winners = offline_online.winners(table[table["online_metric"] == winners_online], predictions)
        st.markdown(offline_online.winners_sentence(winners, winners_online))
        widgets.chart(charts.accuracy_vs_baseline(winners, f"{winners_online}: held-out sign accuracy (95 % Wilson) vs baseline"),
                      winners, f"offline_online_winners_{winners_online}", params)
        with st.expander("The held-out figures per offline metric"):
            widgets.table(winners, f"offline_online_winners_table_{winners_online}", params)
        if predictions is None:
            widgets.unavailable(f"The held-out prediction of each pair: {predictions_reason}")
        else:
            winners_offline = st.selectbox("Offline metric to trust", offline_names,
                                           index=offline_names.index(default_offline), key="winners_offline")
            held_out = predictions[(predictions["offline_metric"] == winners_offline)
                                   & (predictions["online_metric"] == winners_online)]
            if held_out["predicted_online_delta"].notna().any():
                widgets.chart(charts.held_out_scatter(held_out, winners_offline, winners_online), held_out,
                              f"offline_online_held_out_{winners_offline}_{winners_online}", params)
            else:
                st.info("No pair could be predicted: fewer than two other experiments' pairs with different offline changes.")
            st.subheader("Where trusting it would have been wrong")
            wrong = offline_online.wrong_calls(predictions, winners_offline, winners_online)
            if wrong.empty:
                st.markdown("No held-out call was wrong." if held_out["sign_scored"].any() else "No held-out call to judge.")
            else:
                widgets.table(wrong, f"offline_online_wrong_calls_{winners_offline}_{winners_online}", params)

    # --- over time, per block ------------------------------------------------------------------------------
    st.header("Over time, per block")
    st.caption("The weekly offline metric of the model that served most of a block's impressions, next to the block's "
               "weekly online metric. Two series that both grow correlate in levels without any relation; only the "
               "week-over-week changes moving together is a hint of one.")
    try:
        from dashboard.core import trends
    except ImportError:  # the trend analysis ships with its own module
        trends = None
    serving, reason = analysis(source, "serving_model_weekly", params) if trends else (None, "not installed")
    if serving is None:
        widgets.unavailable(reason)
    else:
        blocks = sorted(serving["block"].unique())
        targets = trends.block_targets()
        c1, c2, c3 = st.columns(3)
        with c1:
            block = st.selectbox("Block", blocks, key="trend_block")
        with c2:
            trend_offline = st.selectbox("Offline metric", offline_names, index=offline_names.index(default_offline),
                                         key="trend_offline")
        with c3:
            options = list(trends.ONLINE_TREND_METRICS)
            target = targets.get(block, options[0])
            trend_online = st.selectbox("Online metric (the block's own target by default)", options,
                                        index=options.index(target) if target in options else 0, key=f"trend_online_{block}")
        result, reason = analysis(source, "offline_online_trend", params, block, trend_offline, trend_online)
        if result is None:
            widgets.unavailable(reason)
        else:
            frame, corr = result
            widgets.chart(charts.trend_two_axes(frame, trend_offline, trend_online, f"{block}: {trend_online} and {trend_offline}"),
                          frame, f"offline_online_trend_{block}_{trend_offline}_{trend_online}", params)
            m1, m2, m3 = st.columns(3)
            m1.metric("Weeks with both values", corr.get("n") or 0)
            m2.metric("r of levels", "—" if corr.get("r_levels") is None else f"{corr['r_levels']:.2f}",
                      help=f"p = {corr.get('p_levels')}")
            m3.metric("r of week-over-week changes", "—" if corr.get("r_diffs") is None else f"{corr['r_diffs']:.2f}",
                      help=f"p = {corr.get('p_diffs')}")
            if corr.get("shared_trend_warning"):
                st.warning("The levels correlate but the weekly changes do not: this is most likely a shared trend "
                           "(both grew over time), not a relation between the offline metric and the business.")
            changes, held = trends.week_over_week_prediction(frame)
            st.subheader("Week over week, predicted from earlier weeks only")
            st.caption("Each week's online change is predicted from its offline change by a line fitted to the weeks "
                       "before it only. Judged are the weeks whose serving model changed (the offline value moved): "
                       "the sign of the prediction against the sign of what happened, beside the baseline of always "
                       "calling the more common direction.")
            w1, w2, w3, w4 = st.columns(4)
            w1.metric("Weeks judged", held["loo_pairs"])
            w2.metric("Sign right", "—" if held["loo_sign_accuracy"] is None else f"{held['loo_sign_accuracy']:.0%}",
                      help="95 % Wilson interval: " + ("—" if held["accuracy_ci_low"] is None else
                                                      f"{held['accuracy_ci_low']:.0%} to {held['accuracy_ci_high']:.0%}"))
            w3.metric("Baseline", "—" if held["baseline_accuracy"] is None else f"{held['baseline_accuracy']:.0%}")
            w4.metric("q2", "—" if held["q2"] is None else f"{held['q2']:.2f}")
            st.markdown(trends.week_over_week_sentence(held, trend_offline, trend_online))
            widgets.table(changes, f"offline_online_week_changes_{block}_{trend_offline}_{trend_online}", params)

        st.subheader("Each block's own target")
        st.caption("Blocks with different goals are developed separately: each is judged by its own target metric "
                   "(set in dashboard/block_targets.toml).")
        buyer, reason = metric(source, "buyer_weekly", params)
        if buyer is not None:
            columns = st.columns(2)
            for i, block_name in enumerate(blocks):
                target = targets.get(block_name, "click_conversion")
                part = buyer[buyer["block"] == block_name]
                with columns[i % 2]:
                    widgets.chart(charts.weekly_lines(part, [target], f"{block_name}: {target}"),
                                  part[["week_start", "block", target]], f"block_target_{block_name}", params)


table, reason = metric(source, "offline_online", params)
if table is None:
    # Sections that need no experiments (the offline metrics, off-policy estimates) still draw.
    widgets.unavailable(reason)
else:
    across_experiments(table)

st.header("Offline metrics computed here")
offline_table, reason = metric(source, "offline_metrics", params)
widgets.table(offline_table, "offline_metrics", params, reason)

# --- before the A/B test: off-policy estimates from logged propensities ----------------------------
st.header("Before the A/B test")
st.caption("What a candidate model's click rate would be, estimated from the impressions the serving system "
           "logged with their probabilities (propensities) — before the candidate serves. IPS reweighs the "
           "logged clicks, SNIPS normalises the weights, DR adds a model of the clicks; each with its 95 % "
           "interval. How far to trust them: docs/off-policy.md.")
from dashboard.core.metrics.off_policy import SMALL_ESS, candidate_summary  # noqa: E402

off_policy_table, off_policy_reason = metric(source, "off_policy", params)
if off_policy_table is None:
    widgets.unavailable(off_policy_reason)
else:
    summary = candidate_summary(off_policy_table)
    st.caption(f"Effective sample size (ESS): how many ordinary impressions an estimate is worth. Below {SMALL_ESS} "
               "it is no evidence; in simulations (bench/sim_off_policy.py) the 95 % intervals covered the truth "
               "in only 88–94 % of logs while ESS was below ~500, so read those intervals as a little too narrow.")
    shown = ["model_version", "n_impressions", "matched_impressions", "ess", "logged_ctr", "ips", "ips_low",
             "ips_high", "snips", "snips_low", "snips_high", "dr", "dr_low", "dr_high", "warning"]
    for block_name, part in summary.groupby("block", sort=True):
        st.subheader(f"Candidates for {block_name}")
        widgets.table(part[shown], f"off_policy_{block_name}", params)
        for warned in part[part["warning"] != ""].itertuples(index=False):
            st.warning(f"{text(warned.model_version)}: {warned.warning} (effective sample size "
                       f"{'unknown' if pd.isna(warned.ess) else f'{warned.ess:,.0f}'}, below {SMALL_ESS}); "
                       "its estimate is not evidence either way.")
    served = summary[summary["on_policy_impressions"] > 0]
    st.subheader("Estimate vs what happened")
    if served.empty:
        st.info("No candidate has served yet in the selected weeks: there is no outcome to compare with.")
    else:
        st.caption("Candidates that later served: the logged-data estimate next to the click rate of their own "
                   "impressions. Estimates describe the weeks of the logged data; if click rates drift over "
                   "time, compare over the same weeks (date filter).")
        widgets.table(served[["block", "model_version", "ips", "ips_low", "ips_high", "snips", "dr", "dr_low",
                              "dr_high", "on_policy_impressions", "on_policy_ctr", "dr_covers_on_policy"]],
                      "off_policy_vs_on_policy", params)
    with st.expander("The off_policy table as exported"):
        widgets.table(off_policy_table, "off_policy", params)
