"""Business: audience, orders and GMV, and the way from GMV to contribution."""
import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.review import kpis
from dashboard.ui import session, widgets
from dashboard.ui.data import metric

source, params = session.current()
st.title("Business")

business = widgets.require(*metric(source, "business_weekly", params))

st.header("Audience")
left, right = st.columns(2)
with left:
    widgets.chart(charts.weekly_lines(business, ["dau_avg", "wau", "mau"], "Average DAU, WAU and MAU",
                                      labels={"dau_avg": "DAU (average)", "wau": "WAU", "mau": "MAU (28 days)"}),
                  business[["week_start", "is_complete", "dau_avg", "wau", "mau"]], "business_audience", params)
with right:
    widgets.chart(charts.weekly_lines(business, ["stickiness"], "Stickiness (average DAU / MAU)"),
                  business[["week_start", "is_complete", "dau_avg", "mau", "stickiness"]], "business_stickiness", params)

st.caption("MAU counts users of the 28 days ending with the week; in the first three weeks of the data it "
           "covers fewer days, so MAU is low and stickiness high there.")

st.header("Orders and GMV")
left, right = st.columns(2)
with left:
    widgets.chart(charts.weekly_lines(business, ["buyers", "new_buyers", "orders"], "Buyers, new buyers, orders",
                                      labels={"new_buyers": "new buyers"}),
                  business[["week_start", "is_complete", "buyers", "new_buyers", "orders"]], "business_orders", params)
with right:
    widgets.chart(charts.weekly_lines(business, ["gmv", "net_gmv"], "GMV and net GMV (after returns)",
                                      labels={"gmv": "GMV", "net_gmv": "net GMV"}),
                  business[["week_start", "is_complete", "gmv", "returns_gmv", "net_gmv", "aov"]], "business_gmv", params)

st.header("From GMV to contribution")
if business["gmv"].isna().all():
    widgets.unavailable("The money columns need an 'orders' table.")
else:
    weeks = list(business["week_start"])
    default = kpis.last_complete_week(business)
    week = st.selectbox("Week", weeks, index=weeks.index(default) if default in weeks else len(weeks) - 1,
                        format_func=lambda w: f"{pd.Timestamp(w):%Y-%m-%d}", key="waterfall_week")
    row = business[business.week_start == week].iloc[0]
    if not bool(row["is_complete"]):
        st.warning("This week is not complete yet: its numbers will still grow.")
    columns = ["week_start", "gmv", "returns_gmv", "net_gmv", "commission", "ad_revenue", "revenue",
               "delivery_cost", "discount", "contribution", "margin"]
    widgets.chart(charts.waterfall(row, f"Week of {pd.Timestamp(week):%Y-%m-%d}"), business[business.week_start == week][columns],
                  "business_waterfall", params)
    left, right = st.columns(2)
    with left:
        widgets.chart(charts.weekly_lines(business, ["margin"], "Margin (contribution / net GMV)"),
                      business[["week_start", "is_complete", "contribution", "net_gmv", "margin"]], "business_margin", params)
    with right:
        widgets.chart(charts.weekly_lines(business, ["rec_gmv_share"], "Recommendations' share of GMV"),
                      business[["week_start", "is_complete", "gmv", "rec_gmv_share"]], "business_rec_share", params)
with st.expander("Table: business_weekly"):
    widgets.table(business, "business_weekly", params)
