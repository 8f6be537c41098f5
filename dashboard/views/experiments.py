"""Experiments: every A/B test of recommendation models, winners and losers alike."""
import dataclasses

import streamlit as st

from dashboard import charts
from dashboard.core import experiment_health, experiment_planner, experiment_review
from dashboard.core.metrics.experiments import ONLINE_METRICS
from dashboard.ui import session, widgets
from dashboard.ui.data import analysis, metric
from dashboard.ui.source import escape_markdown as text

METRIC_NAMES = {"conversion": "conversion", "rec_conversion": "rec conversion (block)",
                "gmv_per_user": "GMV per user", "clicks_per_user": "clicks per user (block)"}
CAP_CHOICES = {"off": None, "0.999": 0.999, "0.995": 0.995, "0.99": 0.99, "0.95": 0.95}

source, params = session.current()
st.title("Experiments")

with st.expander("Settings: CUPED pre-period, weekly looks, capping of GMV"):
    a, b, c = st.columns(3)
    pre_days = a.number_input("CUPED pre-period (days before the start)", min_value=1, max_value=365, value=28,
                              step=1, key="pre_days")
    seq_tuning = b.number_input("Always-valid interval: narrowest at this many users", min_value=100,
                                max_value=100_000_000, value=10_000, step=1000, key="seq_tuning")
    cap = c.selectbox("Cap GMV per user at the quantile", list(CAP_CHOICES), key="cap_quantile",
                      help="Winsorizes GMV per user (and its pre-period value) at this quantile of the experiment's "
                           "assigned users: one huge order no longer decides the test.")
params = dataclasses.replace(params, pre_days=int(pre_days), seq_tuning=int(seq_tuning), cap_quantile=CAP_CHOICES[cap])

details, reason = analysis(source, "experiment_details", params)
if details is None:
    widgets.unavailable(reason)
    st.stop()
dropped, _ = analysis(source, "dropped_experiments", params)
for message in dropped or []:
    st.warning(f"Experiment {text(message)} — it has no results here.", icon=":material/block:")

if details.empty:
    st.info("No experiment overlaps this selection.")
    st.stop()

n_experiments = details["experiment_id"].nunique()
n_variants = int((~details.drop_duplicates(["experiment_id", "variant"])["is_control"]).sum())
st.markdown(f"**{n_experiments} experiments** with **{n_variants} variants** against their controls in this selection.")
if params.cap_quantile is not None:
    st.info(f"GMV per user is capped at the {params.cap_quantile:g} quantile of each experiment's assigned users.",
            icon=":material/content_cut:")

broken = experiment_review.srm_flagged(details)
for row in broken.itertuples(index=False):
    st.error(
        f"Experiment {text(row.experiment_id)} ({text(row.name or 'no name')}): the users did not split between the variants "
        f"as planned (sample ratio mismatch, p = {row.srm_p_value:.1e}). Something went wrong with the "
        "assignment or the logging, so its results cannot be trusted.",
        icon=":material/warning:",
    )

available = [m for m in ONLINE_METRICS if m in set(details["metric"])]
left, middle, right = st.columns([2, 1, 1])
with left:
    chosen = st.segmented_control("Metric", available, default=available[0], key="experiment_metric",
                                  format_func=lambda m: METRIC_NAMES.get(m, m)) or available[0]
with middle:
    meaningful = st.number_input("Smallest relative effect that matters (%)", min_value=0.1, max_value=100.0,
                                 value=2.0, step=0.5, key="meaningful_effect") / 100
with right:
    use_cuped = st.toggle("CUPED-adjusted intervals", value=True, key="use_cuped",
                          help="Uses each user's activity before the experiment to remove noise that has nothing to "
                               "do with the variant (CUPED). Off: the raw intervals.")

review = experiment_review.review(details, chosen, meaningful, cuped=use_cuped)
st.caption(
    "Each variant against its own control. Intervals are 95 %; relative intervals by the delta method (they include "
    "the control mean's own noise). p-values are adjusted with Benjamini–Hochberg over the variants shown, because "
    "among many experiments some look like winners by chance. \"No effect\" is only said when the test could have "
    "seen an effect of the size that matters (its minimum detectable effect, at 80 % power, is smaller). Running "
    "experiments are judged on an always-valid interval, which stays honest however often it is looked at."
)
if review.empty:
    st.info(widgets.NO_DATA)
else:
    st.markdown(text(experiment_review.cuped_summary(review, use_cuped)))
    shown = review[["experiment_id", "name", "block", "variant", "model_version", "users", "mean", "control_mean",
                    "delta_rel", "ci_low_rel", "ci_high_rel", "interval", "cuped_narrowed", "p_value", "p_adj_bh",
                    "mde_rel", "srm_p_value", "verdict", "running", "start_ts", "end_ts"]]
    widgets.chart(charts.forest(review, f"Relative difference vs control: {METRIC_NAMES.get(chosen, chosen)}"),
                  shown, f"experiments_forest_{chosen}", params)
    counts = review["verdict"].map(lambda v: v.split(":")[0].split(" (")[0]).value_counts()
    st.markdown(" · ".join(f"{label}: **{count}**" for label, count in counts.items()))
    running = review[review["running"]]
    if not running.empty:
        st.subheader("Running experiments")
        st.caption("They end after the data's last day. The always-valid interval may be read every week without "
                   "inflating false positives; the verdict says whether the test can stop.")
        for row in running.itertuples(index=False):
            st.markdown(text(experiment_review.running_sentence(row)))
        widgets.table(running[["experiment_id", "variant", "users", "delta_abs", "ci_low", "ci_high", "delta_rel",
                               "ci_low_rel", "ci_high_rel", "verdict", "end_ts"]],
                      f"experiments_running_{chosen}", params)
    with st.expander("Per variant, with verdicts"):
        widgets.table(shown, f"experiments_review_{chosen}", params)

# --- health panel -----------------------------------------------------------------------------------
st.subheader("Health checks")
st.caption("What a reviewer checks before trusting a result: the split, the balance before the start, who saw "
           "the block, whether the effect changes with time, and other experiments on the same users.")
names = details.drop_duplicates("experiment_id").set_index("experiment_id")["name"]
picked = st.selectbox("Experiment", list(names.index), key="health_experiment",
                      format_func=lambda e: f"{e} · {names[e] or 'no name'}")
with st.spinner("Computing the health checks (exposure, weekly deltas, overlaps)…"):
    exposure, _ = analysis(source, "experiment_exposure", params)
    novelty, _ = analysis(source, "experiment_novelty", params)
    overlaps, _ = analysis(source, "experiment_overlaps", params)
checks = experiment_health.health_panel(picked, details, exposure, novelty, overlaps, chosen)
for number, check in enumerate(checks):
    say = st.warning if check.flagged else st.success if check.flagged is False else st.info
    say(f"**{text(check.name)}**: {text(check.verdict)}")
    if not check.numbers.empty:
        with st.expander(f"Numbers: {check.name}"):
            widgets.table(check.numbers, f"experiment_health_{picked}_{number}", params)
for sentence in experiment_review.cuped_sentences(details, picked, chosen):
    st.markdown(text(sentence))

# --- power planner ----------------------------------------------------------------------------------
st.subheader("Power planner")
blocks = experiment_planner.blocks_by_traffic(details)
if not blocks:
    st.info("No experiment is bound to a block: nothing to plan from.")
else:
    a, b = st.columns(2)
    plan_block = a.selectbox("Block", blocks, key="plan_block")
    effect = b.number_input("Relative effect to detect (%)", min_value=0.5, max_value=200.0, value=5.0, step=0.5,
                            key="plan_effect") / 100
    weekly, _ = metric(source, "buyer_weekly", params)
    planned = experiment_planner.plan(details, weekly, plan_block, chosen, effect)
    st.markdown(text(experiment_planner.plan_sentence(planned)))
    widgets.table(planned.frame(), f"experiment_plan_{plan_block}_{chosen}", params)

with st.expander("Table: experiments (every variant and metric)"):
    experiments, reason = metric(source, "experiments", params)
    widgets.table(experiments, "experiments", params, reason)
