"""Overview: one card per headline metric of each stakeholder for the last complete week."""
import pandas as pd
import streamlit as st

from dashboard.review import kpis
from dashboard.ui import session, widgets
from dashboard.ui.data import metric

source, params = session.current()
st.title("Overview")

business = widgets.require(*metric(source, "business_weekly", params))
week = kpis.last_complete_week(business)
if week is None:
    st.info("No complete week in this selection: there is nothing to compare yet.")
    st.stop()

tables, missing = {}, {}
for name in sorted({h.table for h in kpis.HEADLINES}):
    frame, why = metric(source, name, params)
    if frame is None:
        missing[name] = why
    else:
        tables[name] = frame
found = kpis.movements(tables, week)

st.caption(
    f"Last complete week: **{week:%Y-%m-%d}** (Monday, {params.tz}). Arrows compare with the previous week; "
    "green is good for that stakeholder. ⚑ marks a change larger than 2 standard deviations of the metric's "
    "previous 8 weekly changes. Hover a card for the 4-week average."
)
for stakeholder in ("Buyers", "Sellers", "Business"):
    st.subheader(stakeholder)
    widgets.kpi_row([m for m in found if m.headline.stakeholder == stakeholder])

for name, why in missing.items():
    st.caption(f"{name}: {why}")

summary = pd.DataFrame([
    {"stakeholder": m.headline.stakeholder, "metric": m.headline.label, "table": m.headline.table,
     "column": m.headline.column, "week_start": m.week_start, "value": m.value, "previous_week": m.previous,
     "change": m.change, "avg_4_weeks_before": m.avg4, "change_vs_avg4": m.change_vs_avg4,
     "noise_sd_8_weeks": m.noise, "unusual": m.unusual, "higher_is_better": m.headline.higher_is_better}
    for m in found
])
with st.expander("The numbers behind the cards"):
    st.dataframe(summary, hide_index=True)
    widgets.download(summary, "overview_kpis", params)
