"""business_weekly: DAU/WAU/MAU, buyers, orders, GMV and contribution per week."""
from __future__ import annotations

import pandas as pd

from dashboard.engine.context import MetricContext

COLUMNS = [
    "week_start", "is_complete", "dau_avg", "wau", "mau", "stickiness", "buyers", "new_buyers",
    "orders", "gmv", "aov", "returns_gmv", "net_gmv", "commission", "ad_revenue", "revenue",
    "delivery_cost", "discount", "contribution", "margin", "rec_gmv_share",
]
# Without orders these are unknown, not zero; revenue and contribution then rest on ads alone.
ORDER_COLUMNS = [
    "buyers", "new_buyers", "orders", "gmv", "aov", "returns_gmv", "net_gmv", "commission",
    "delivery_cost", "discount", "contribution", "margin", "rec_gmv_share",
]


def business_weekly(ctx: MetricContext) -> pd.DataFrame:
    ctx.require("events", why="business_weekly")
    frame = ctx.query("business_weekly")[COLUMNS]
    if not ctx.source.has("ad_spend"):
        frame["ad_revenue"] = _null(frame)
    if not ctx.source.has("orders"):
        for column in ORDER_COLUMNS:
            frame[column] = _null(frame)
    return frame


def _null(frame: pd.DataFrame) -> pd.Series:
    return pd.Series(pd.NA, index=frame.index, dtype="Float64")
