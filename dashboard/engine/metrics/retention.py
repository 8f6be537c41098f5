"""retention: weekly buyer cohorts (overall and per category) and visitor cohorts."""
from __future__ import annotations

import pandas as pd

from dashboard.engine.context import MetricContext

COLUMNS = ["basis", "category", "cohort_week", "weeks_since", "cohort_size", "retained", "retention"]


def retention(ctx: MetricContext) -> pd.DataFrame:
    ctx.require("events", why="retention")
    # Without orders there are no purchase cohorts at all (stg_lines is empty), so only the
    # visit rows remain: the table is still useful and nothing is reported as zero.
    return ctx.query("retention")[COLUMNS]
