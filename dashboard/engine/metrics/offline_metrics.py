"""offline_metrics: accuracy and beyond-accuracy metrics per model, from recommendations + holdout."""
from __future__ import annotations

import weakref

import pandas as pd

from dashboard.engine.context import MetricContext

COLUMNS = ["model_version", "metric", "value"]
# One computation per metric run: offline_online reads these values too, and an export
# computes both tables with one MetricContext (same source and parameters, same answer).
_COMPUTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def offline_metrics(ctx: MetricContext) -> pd.DataFrame:
    if ctx not in _COMPUTED:
        ctx.require("recommendations", "holdout", why="offline_metrics")
        # `items` decides the coverage denominator; an empty items table would look like "absent".
        _COMPUTED[ctx] = ctx.query("offline_metrics", has_items=ctx.source.has("items"))[COLUMNS]
    return _COMPUTED[ctx].copy()
