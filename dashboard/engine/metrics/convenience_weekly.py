"""convenience_weekly: conversion of sessions with and without filters/suggestions, naive and matched."""
from __future__ import annotations

import pandas as pd

from dashboard.engine.context import MetricContext

COLUMNS = [
    "week_start", "feature", "sessions", "feature_sessions", "feature_share", "conv_with",
    "conv_without", "naive_diff", "matched_diff", "matched_share",
]


def convenience_weekly(ctx: MetricContext) -> pd.DataFrame:
    # Conversion is defined by order lines; without them it is unknown, not zero.
    ctx.require("orders", why="convenience_weekly")
    return ctx.query("convenience_weekly")[COLUMNS]
