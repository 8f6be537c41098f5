"""Experiments: every A/B test of recommendation models, winners and losers alike."""
import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.core import experiment_review
from dashboard.core.metrics.experiments import ONLINE_METRICS
from dashboard.ui import session, widgets
from dashboard.ui.data import analysis, metric
from dashboard.ui.source import escape_markdown as text

METRIC_NAMES = {"conversion": "conversion", "rec_conversion": "rec conversion (block)",
                "gmv_per_user": "GMV per user", "clicks_per_user": "clicks per user (block)"}

source, params = session.current()
st.title("Experiments")

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

broken = experiment_review.srm_flagged(details)
for row in broken.itertuples(index=False):
    st.error(
        f"Experiment {text(row.experiment_id)} ({text(row.name or 'no name')}): the users did not split between the variants "
        f"as planned (sample ratio mismatch, p = {row.srm_p_value:.1e}). Something went wrong with the "
        "assignment or the logging, so its results cannot be trusted.",
        icon=":material/warning:",
    )

available = [m for m in ONLINE_METRICS if m in set(details["metric"])]
left, right = st.columns([2, 1])
with left:
    chosen = st.segmented_control("Metric", available, default=available[0], key="experiment_metric",
                                  format_func=lambda m: METRIC_NAMES.get(m, m)) or available[0]
with right:
    meaningful = st.number_input("Smallest relative effect that matters (%)", min_value=0.1, max_value=100.0,
                                 value=2.0, step=0.5, key="meaningful_effect") / 100

review = experiment_review.review(details, chosen, meaningful)
st.caption(
    "Each variant against its own control. Intervals are 95 %; p-values are adjusted with Benjamini–Hochberg "
    "over the variants shown, because among many experiments some look like winners by chance. "
    "\"No effect\" is only said when the test could have seen an effect of the size that matters "
    "(its minimum detectable effect, at 80 % power, is smaller)."
)
if review.empty:
    st.info(widgets.NO_DATA)
else:
    shown = review[["experiment_id", "name", "block", "variant", "model_version", "users", "mean", "control_mean",
                    "delta_rel", "ci_low_rel", "ci_high_rel", "p_value", "p_adj_bh", "mde_rel", "srm_p_value",
                    "verdict", "start_ts", "end_ts"]]
    widgets.chart(charts.forest(review, f"Relative difference vs control: {METRIC_NAMES.get(chosen, chosen)}"),
                  shown, f"experiments_forest_{chosen}", params)
    counts = review["verdict"].map(lambda v: v.split(":")[0].split(" (")[0]).value_counts()
    st.markdown(" · ".join(f"{label}: **{count}**" for label, count in counts.items()))
    with st.expander("Per variant, with verdicts"):
        widgets.table(shown, f"experiments_review_{chosen}", params)

with st.expander("Table: experiments (every variant and metric)"):
    experiments, reason = metric(source, "experiments", params)
    widgets.table(experiments, "experiments", params, reason)
