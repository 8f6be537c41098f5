"""Buyers: do recommendations lead to purchases, how fast, how conveniently, at what price,
and do buyers come back."""
import html

import streamlit as st

from dashboard import charts
from dashboard.ui import session, widgets
from dashboard.ui.data import metric

source, params = session.current()
st.title("Buyers")

# --- funnel and conversion --------------------------------------------------------------------
buyer, reason = metric(source, "buyer_weekly", params)
st.header("From impression to purchase")
if buyer is None:
    widgets.unavailable(reason)
elif buyer.empty:
    st.info(widgets.NO_DATA)
else:
    blocks = buyer[buyer.block != "ALL"]
    totals = buyer.groupby("block", as_index=False)[list(charts.FUNNEL_STAGES)].sum()
    left, right = st.columns([2, 3])
    with left:
        order = ["ALL", *sorted(b for b in totals.block if b != "ALL")]
        block = st.selectbox("Block", order, key="funnel_block",
                             format_func=lambda b: "all selected blocks" if b == "ALL" else b)
        st.dataframe(totals, hide_index=True, column_config=widgets.column_config(totals))
    with right:
        chosen = totals[totals.block == block].iloc[0]
        if chosen[list(charts.FUNNEL_STAGES)].sum() == 0:
            st.info(widgets.NO_DATA)
        widgets.chart(charts.funnel(chosen, f"Funnel over the selected weeks: {html.escape(block)}"), totals,
                      "buyer_funnel", params)
    st.caption(f"Carts and purchases are attributed to the last recommendation click on the item within "
               f"{params.window_days} days.")
    left, right = st.columns(2)
    with left:
        widgets.chart(charts.weekly_lines(blocks, ["ctr"], "CTR per block", by="block"),
                      blocks[["week_start", "block", "impressions", "clicks", "ctr"]], "buyer_ctr", params)
    with right:
        widgets.chart(charts.weekly_lines(blocks, ["buyer_conversion"], "Buyer conversion per block", by="block"),
                      blocks[["week_start", "block", "rec_users", "converted_users", "buyer_conversion"]],
                      "buyer_conversion", params)
    widgets.chart(charts.weekly_lines(blocks, ["click_conversion"], "Click conversion per block", by="block"),
                  blocks[["week_start", "block", "clicks", "click_conversion"]], "buyer_click_conversion", params)
    with st.expander("Table: buyer_weekly"):
        widgets.table(buyer, "buyer_weekly", params)

# --- speed ------------------------------------------------------------------------------------
st.header("How fast")
speed, reason = metric(source, "time_to_purchase_weekly", params)
if speed is None:
    widgets.unavailable(reason)
else:
    left, right = st.columns(2)
    with left:
        options = ["ALL", *sorted(b for b in speed.block.unique() if b != "ALL")]
        block = st.selectbox("Block for click → purchase", options, key="ttp_block")
        part = speed[(speed.measure == "click_to_purchase") & (speed.block == block)]
        widgets.chart(charts.quantile_lines(part, f"Click → purchase, minutes ({html.escape(block)})"), part,
                      "click_to_purchase", params)
    with right:
        part = speed[speed.measure == "open_to_purchase"]
        widgets.chart(charts.quantile_lines(part, "App open → purchase, minutes"), part, "open_to_purchase", params)
    with st.expander("Table: time_to_purchase_weekly"):
        widgets.table(speed, "time_to_purchase_weekly", params)

# --- convenience ------------------------------------------------------------------------------
st.header("Do filters and suggestions help?")
convenience, reason = metric(source, "convenience_weekly", params)
if convenience is None:
    widgets.unavailable(reason)
else:
    st.markdown(
        "The **naive** difference compares sessions that used the feature with all others. Heavier users use "
        "features more *and* buy more anyway, so it overstates the feature. The **matched** difference compares "
        "like with like: sessions of users with similar activity on the same platform."
    )
    left, right = st.columns(2)
    for column, feature, title in ((left, "filter_use", "Filters"), (right, "suggest_use", "Search suggestions")):
        with column:
            part = convenience[convenience.feature == feature]
            widgets.chart(charts.naive_vs_matched(part, f"{title}: conversion with vs without"), part,
                          f"convenience_{feature}", params)
    with st.expander("Table: convenience_weekly"):
        widgets.table(convenience, "convenience_weekly", params)

# --- price ------------------------------------------------------------------------------------
st.header("At what price")
price, reason = metric(source, "price_weekly", params)
if price is None:
    widgets.unavailable(reason)
else:
    left, right = st.columns(2)
    with left:
        widgets.chart(charts.weekly_lines(price, ["price_index"], "Price index vs market (1 = market price)",
                                          reference_y=1), price, "price_index", params)
    with right:
        widgets.chart(charts.weekly_lines(price, ["share_below_market"], "Share of lines bought below market"),
                      price, "price_below_market", params)

# --- retention --------------------------------------------------------------------------------
st.header("Do buyers come back")
retention, reason = metric(source, "retention", params)
if retention is None:
    widgets.unavailable(reason)
elif retention.empty:
    st.info("No complete cohort week in this selection.")
else:
    bases = sorted(retention.basis.unique(), key=lambda b: b != "purchase")
    basis = st.radio("Cohorts by", bases, horizontal=True, key="retention_basis",
                     format_func=lambda b: {"purchase": "first purchase", "visit": "first visit"}.get(b, b))
    part = retention[(retention.basis == basis) & (retention.category == "ALL")]
    widgets.chart(charts.retention_heatmap(part, f"Retention by cohort ({basis} basis)"), part,
                  f"retention_{basis}", params)
    categories = sorted(c for c in retention[retention.basis == "purchase"].category.unique() if c != "ALL")
    if categories:
        st.subheader("Niche retention by category")
        st.caption("Only purchases in the category count, for joining the cohort and for coming back.")
        category = st.selectbox("Category", categories, key="retention_category")
        niche = retention[(retention.basis == "purchase") & (retention.category == category)]
        widgets.chart(charts.retention_heatmap(niche, f"Retention inside '{html.escape(category)}'"), niche,
                      "retention_niche", params)
    with st.expander("Table: retention"):
        widgets.table(retention, "retention", params)
