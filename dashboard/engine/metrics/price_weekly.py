"""price_weekly: prices paid against market prices, per week."""
from __future__ import annotations

import pandas as pd

from dashboard.engine.context import MetricContext

COLUMNS = ["week_start", "lines_with_market_price", "price_index", "share_below_market"]


def price_weekly(ctx: MetricContext) -> pd.DataFrame:
    ctx.require("orders", why="price_weekly")
    return ctx.query("price_weekly")[COLUMNS]
