"""buyer_weekly: impressions → clicks → carts → purchases per week and recommendation block."""
from __future__ import annotations

import pandas as pd

from dashboard.engine.context import MetricContext

COLUMNS = [
    "week_start", "block", "impressions", "clicks", "ctr", "rec_users", "converted_users",
    "buyer_conversion", "attributed_carts", "attributed_lines", "attributed_orders",
    "attributed_gmv", "click_conversion",
]
# Without an orders table nothing can be a purchase: these are unknown, not zero.
PURCHASE_COLUMNS = [
    "converted_users", "buyer_conversion", "attributed_lines", "attributed_orders",
    "attributed_gmv", "click_conversion",
]


def buyer_weekly(ctx: MetricContext) -> pd.DataFrame:
    ctx.require("events", why="buyer_weekly")
    frame = ctx.query("buyer_weekly")[COLUMNS]
    if not ctx.source.has("orders"):
        for column in PURCHASE_COLUMNS:
            frame[column] = pd.Series(pd.NA, index=frame.index, dtype="Float64")
    return frame
