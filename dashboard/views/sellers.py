"""Sellers: do they sell enough, stay, add assortment, answer reviews; how concentrated is GMV."""
import streamlit as st

from dashboard import charts
from dashboard.ui import session, widgets
from dashboard.ui.data import metric

source, params = session.current()
st.title("Sellers")

sellers = widgets.require(*metric(source, "seller_weekly", params))

widgets.chart(
    charts.weekly_lines(sellers, ["share_gt_n"], f"Share of active sellers with more than {params.n_sales} sales a week"),
    sellers[["week_start", "active_sellers", "n_threshold", "sellers_gt_n", "share_gt_n"]], "seller_share_gt_n", params,
)
st.caption("N is set in the sidebar. Active sellers without a sale count with 0 sales.")
left, right = st.columns(2)
with left:
    widgets.chart(charts.weekly_lines(sellers, ["active_sellers", "sellers_with_sales"], "Active sellers and sellers with a sale",
                                      labels={"active_sellers": "active", "sellers_with_sales": "with ≥ 1 sale"}),
                  sellers[["week_start", "active_sellers", "sellers_with_sales"]], "seller_counts", params)
with right:
    widgets.chart(charts.weekly_lines(sellers, ["seller_retention_next_week"], "Sellers selling again the next week"),
                  sellers[["week_start", "sellers_with_sales", "seller_retention_next_week"]], "seller_retention", params)
left, right = st.columns(2)
with left:
    widgets.chart(charts.weekly_lines(sellers, ["new_assortment_share"], "Share of sellers listing new items"),
                  sellers[["week_start", "active_sellers", "new_assortment_share"]], "seller_new_assortment", params)
with right:
    widgets.chart(charts.weekly_lines(sellers, ["reply_share"], "Share of reviewed sellers replying within 7 days"),
                  sellers[["week_start", "review_sellers", "reply_share"]], "seller_reply_share", params)
widgets.chart(charts.weekly_lines(sellers, ["gmv_top10_share", "gmv_gini"], "GMV concentration",
                                  labels={"gmv_top10_share": "top 10 % sellers' GMV share", "gmv_gini": "Gini"}),
              sellers[["week_start", "gmv_top10_share", "gmv_gini"]], "seller_concentration", params)
with st.expander("Table: seller_weekly"):
    widgets.table(sellers, "seller_weekly", params)
