"""offline_metrics: accuracy and beyond-accuracy metrics per model, from recommendations + holdout."""
from __future__ import annotations

import pandas as pd

from dashboard.core.context import MetricContext

COLUMNS = ["model_version", "metric", "value"]


def offline_metrics(ctx: MetricContext) -> pd.DataFrame:
    ctx.require("recommendations", "holdout", why="offline_metrics")
    # `items` decides the coverage denominator; an empty items table would look like "absent".
    return ctx.query("offline_metrics", has_items=ctx.source.has("items"))[COLUMNS]
