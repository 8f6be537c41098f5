"""How numbers look to people: one place that knows which column is a share, money or minutes.

Only for display. Exports keep the unrounded values.
"""
from __future__ import annotations

import math

SHARE_COLUMNS = {
    "ctr", "buyer_conversion", "click_conversion", "feature_share", "conv_with", "conv_without",
    "naive_diff", "matched_diff", "matched_share", "share_below_market", "retention", "share_gt_n",
    "seller_retention_next_week", "new_assortment_share", "reply_share", "gmv_top10_share",
    "stickiness", "margin", "rec_gmv_share", "delta_rel", "sign_agreement", "ci_low_rel", "ci_high_rel",
    "mde_rel",
}
MONEY_COLUMNS = {
    "attributed_gmv", "gmv", "aov", "returns_gmv", "net_gmv", "commission", "ad_revenue", "revenue",
    "delivery_cost", "discount", "contribution",
}
RATIO_COLUMNS = {
    "price_index", "gmv_gini", "pearson_r", "spearman_rho", "kendall_tau", "slope", "value",
    "mean", "delta_abs", "ci_low", "ci_high", "control_mean", "mde_abs", "offline_delta", "online_delta",
    "offline_value", "online_value", "r_levels", "r_diffs", "r_ci_low", "r_ci_high",
}
P_VALUE_COLUMNS = {"p_value", "p_adj_bh", "srm_p_value", "p_levels", "p_diffs"}


def column_kind(name: str) -> str:
    if name in SHARE_COLUMNS:
        return "share"
    if name in MONEY_COLUMNS:
        return "money"
    if name.endswith("_min"):
        return "minutes"
    if name in P_VALUE_COLUMNS:
        return "p"
    if name in RATIO_COLUMNS:
        return "ratio"
    return "count"


def format_value(value, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if kind == "share":
        return f"{value * 100:,.1f} %"
    if kind == "money":
        # Compact, as on a KPI card: "18.6 k", "-145", "35.27" (cents only below 100).
        if abs(value) >= 1e6:
            return f"{value / 1e6:,.2f} M"
        if abs(value) >= 1e4:
            return f"{value / 1e3:,.1f} k"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    if kind == "minutes":
        return f"{value:,.0f} min" if abs(value) >= 100 else f"{value:,.1f} min"
    if kind == "p":
        return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"
    if kind == "ratio":
        return f"{value:,.3f}"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def format_change(change, kind: str) -> str | None:
    """A change for a KPI card: shares move in percentage points.

    A change that rounds to zero at the shown precision has no sign ("0.0 min", not "+0.0 min"):
    it is no movement, neither good nor bad (`is_no_change`)."""
    if change is None or (isinstance(change, float) and math.isnan(change)):
        return None
    # A plain ASCII minus: Streamlit reads the sign off the text to choose the arrow.
    text = format_change_size(abs(change), kind)
    if is_no_change(text):
        return text
    return ("+" if change >= 0 else "-") + text


def format_change_size(size, kind: str) -> str:
    """The size of a change, unsigned (e.g. a metric's usual weekly change): in percentage
    points for shares, as the change itself is — "±1.2 pp", never "±1.2 %" of a share."""
    if size is None or (isinstance(size, float) and math.isnan(size)):
        return "—"
    if kind == "share":
        return f"{float(size) * 100:,.1f} pp"
    return format_value(size, kind)


def is_no_change(text: str | None) -> bool:
    """Whether a shown change is zero at its precision: no digit other than 0 ("0.0 pp", "0")."""
    return text is not None and not any(digit in text for digit in "123456789")
