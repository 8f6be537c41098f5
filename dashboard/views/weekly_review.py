"""Weekly review: the week's story for buyers, sellers and the business, for a 30-minute meeting,
with a one-file HTML report and a zip of every table for the people who were not there."""
import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.engine.export import bundle, compute_all, describe_params
from dashboard.engine.metrics import offline_online
from dashboard.review import kpis, report, review
from dashboard.formatting import format_change, format_change_size, format_value
from dashboard.ui import session, widgets
from dashboard.ui.data import analysis, metric
from dashboard.ui.source import escape_markdown as text

source, params = session.current()
st.title("Weekly review")

business = widgets.require(*metric(source, "business_weekly", params))

weeks = review.available_weeks(business)
default = kpis.last_complete_week(business) or weeks[-1]
complete = dict(zip(business["week_start"].map(pd.Timestamp), business["is_complete"].astype(bool)))
week = st.selectbox("Week", weeks, index=weeks.index(default), key="review_week",
                    format_func=lambda w: f"{w:%Y-%m-%d}" + ("" if complete.get(w) else " (incomplete)"))

tables = {}
for name in sorted({h.table for h in kpis.HEADLINES} | {"business_weekly", "offline_online"}):
    frame, _ = metric(source, name, params)
    if frame is not None:
        tables[name] = frame
details, _ = analysis(source, "experiment_details", params)
weekly = review.assemble(tables, details, params, source.name, week)


def _bundle_parts():
    computed, unavailable = compute_all(source, params)
    return computed, describe_params(source.name, params), unavailable

for note in weekly.notes:
    st.warning(note)

st.header("What moved")
if weekly.what_moved:
    for m in weekly.what_moved:
        st.markdown(
            f"- **{m.headline.stakeholder}: {m.headline.label}** {format_change(m.change, m.headline.kind)} to "
            f"{format_value(m.value, m.headline.kind)} — its usual weekly change is ±{format_change_size(m.noise, m.headline.kind)}"
        )
else:
    st.markdown("Nothing moved beyond its usual week-to-week noise.")

for stakeholder in review.STAKEHOLDERS:
    st.header(stakeholder)
    widgets.kpi_row(weekly.by_stakeholder(stakeholder))

st.header("Experiments that ended this week")
ended = weekly.ended_experiments
if ended.empty:
    st.markdown("None.")
else:
    widgets.table(ended, f"weekly_review_experiments_{week:%Y-%m-%d}", params, pinned=("verdict",))

st.header("Offline ↔ online")
summary = weekly.offline_online
st.markdown(f"{summary.experiments} experiments, {summary.pairs} variant-vs-control pairs. {text(summary.sentence)}")
st.caption(f"Rule: {offline_online.PROXY_RULE}. The Offline ↔ Online page shows every metric held out.")

st.header("Take it with you")
headlines = weekly.headline_frame()
with st.expander("The headline numbers"):
    widgets.table(headlines, f"weekly_review_{week:%Y-%m-%d}", params)
left, right = st.columns(2)
with left:
    st.download_button(
        "Download the report (one HTML file)", lambda: report.render(weekly).encode("utf-8"),
        file_name=f"weekly_review_{week:%Y-%m-%d}.html", mime="text/html", on_click="ignore",
        icon=":material/description:", key="download-report",
    )
with right:
    st.download_button(
        "Download every table (zip of CSV files)",
        # Made on click, on Streamlit's download thread: every table of the source under these filters.
        lambda: bundle(*_bundle_parts()),
        file_name=widgets.download_name("metric_tables", params).replace(".csv", ".zip"), mime="application/zip",
        on_click="ignore", icon=":material/folder_zip:", key="download-bundle",
    )
st.caption("The report opens without network access and prints readably. For a weekly e-mail, run "
           "`python -m dashboard report --data SOURCE --out review.html` from a scheduled job (see the README).")
