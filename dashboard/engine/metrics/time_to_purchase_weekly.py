"""time_to_purchase_weekly: minutes from the touch click, and from the app open, to the purchase."""
from __future__ import annotations

import pandas as pd

from dashboard.engine.context import MetricContext

COLUMNS = ["week_start", "block", "measure", "n", "median_min", "p75_min", "p90_min"]


def time_to_purchase_weekly(ctx: MetricContext) -> pd.DataFrame:
    ctx.require("orders", why="time_to_purchase_weekly")
    return ctx.query("time_to_purchase_weekly")[COLUMNS]
