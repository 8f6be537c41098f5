"""seller_weekly: active sellers, how many sell (and more than n), retention, reviews, GMV concentration."""
from __future__ import annotations

import pandas as pd

from dashboard.engine.context import MetricContext, Unavailable

COLUMNS = [
    "week_start", "active_sellers", "n_threshold", "sellers_gt_n", "share_gt_n", "sellers_with_sales",
    "seller_retention_next_week", "new_assortment_share", "review_sellers", "reply_share",
    "gmv_top10_share", "gmv_gini",
]


def seller_weekly(ctx: MetricContext) -> pd.DataFrame:
    ctx.require("orders", why="seller_weekly")
    source = ctx.source
    # A sellers table alone names sellers but cannot tell whose items an order line bought;
    # every seller would show 0 sales, which would be a wrong zero rather than an unknown.
    if not (source.has("items") or source.has_column("orders", "seller_id")):
        raise Unavailable(
            "seller_weekly needs the seller of each order line: an 'items' table or a 'seller_id' "
            "column in 'orders', and the source has neither."
        )
    frame = ctx.query("seller_weekly", has_sellers=source.has("sellers"))[COLUMNS]
    # Columns whose optional input is absent are unknown, not zero.
    if not source.has_column("items", "created_at"):
        frame["new_assortment_share"] = pd.Series(pd.NA, index=frame.index, dtype="Float64")
    # A review's seller comes from reviews.seller_id or its item; with neither it is unknowable.
    if not (source.has("reviews") and (source.has_column("reviews", "seller_id") or source.has("items"))):
        frame["review_sellers"] = pd.Series(pd.NA, index=frame.index, dtype="Int64")
        frame["reply_share"] = pd.Series(pd.NA, index=frame.index, dtype="Float64")
    return frame
