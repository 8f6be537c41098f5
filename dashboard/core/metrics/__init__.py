"""One function per metric table of the spec's `metrics.md`, registered by name.

Each module `dashboard/core/metrics/<table>.py` defines `<table>(ctx) -> DataFrame` (columns
exactly as in metrics.md, in that order) and reads `queries/metrics/<table>.sql`. A table
whose inputs are absent raises `Unavailable` with the reason.
"""
from __future__ import annotations

import importlib

import pandas as pd

from dashboard.core.context import MetricContext, Unavailable

# Export order; also the order of the pages' data tables.
METRIC_TABLES = (
    "buyer_weekly",
    "time_to_purchase_weekly",
    "convenience_weekly",
    "price_weekly",
    "retention",
    "seller_weekly",
    "business_weekly",
    "offline_metrics",
    "experiments",
    "offline_online",
)


def compute_table(name: str, ctx: MetricContext) -> pd.DataFrame:
    if name not in METRIC_TABLES:
        raise KeyError(f"unknown metric table {name!r}")
    module = importlib.import_module(f"dashboard.core.metrics.{name}")
    return getattr(module, name)(ctx)


__all__ = ["METRIC_TABLES", "compute_table", "Unavailable", "MetricContext"]
