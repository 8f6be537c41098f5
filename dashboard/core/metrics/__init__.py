"""One function per metric table of the spec's `metrics.md`, registered by name.

Each module `dashboard/core/metrics/<table>.py` defines `<table>(ctx) -> DataFrame` (columns
exactly as in metrics.md, in that order) and reads `queries/metrics/<table>.sql`. A table
whose inputs are absent raises `Unavailable` with the reason.
"""
from __future__ import annotations

import importlib

import pandas as pd

from dashboard.core import sql
from dashboard.core.context import MetricContext, Unavailable, staging_dependencies

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
    "off_policy",
)


# Tables computed from other tables: they depend on those tables' parameters too.
COMPOSED_OF = {"offline_online": ("experiments", "offline_metrics")}
# `$name` in SQL -> the Params field it comes from.
_SQL_PARAMETER_FIELDS = {
    "tz": "tz", "window_days": "window_days", "n_sales": "n_sales", "k": "k",
    "start_week": "start", "end_week": "end", "blocks": "blocks", "platform": "platform",
    "pre_days": "pre_days", "cap_quantile": "cap_quantile",
}
# Params fields a table's Python reads besides its SQL's (the always-valid interval's tuning).
PYTHON_PARAMETER_FIELDS = {"experiments": frozenset({"seq_tuning"})}


def table_parameters(name: str) -> frozenset[str]:
    """The Params fields a table's result depends on, read off its SQL and staging files.

    Caches key results on these alone, so that changing N does not recompute buyer metrics.
    """
    texts = [sql.query_text(f"metrics/{path.stem}") for path in sorted((sql.QUERIES_DIR / "metrics").glob(f"{name}*.sql"))]
    seen: set[str] = set()
    fields: set[str] = set()
    while texts:
        text = texts.pop()
        fields |= {_SQL_PARAMETER_FIELDS[p] for p in sql.parameter_names(text) if p in _SQL_PARAMETER_FIELDS}
        for dependency in staging_dependencies(text):
            if dependency not in seen:
                seen.add(dependency)
                texts.append(sql.query_text(f"staging/{dependency}"))
    for part in COMPOSED_OF.get(name, ()):
        fields |= table_parameters(part)
    fields |= PYTHON_PARAMETER_FIELDS.get(name, frozenset())
    return frozenset(fields)


def compute_table(name: str, ctx: MetricContext) -> pd.DataFrame:
    if name not in METRIC_TABLES:
        raise KeyError(f"unknown metric table {name!r}")
    module = importlib.import_module(f"dashboard.core.metrics.{name}")
    return getattr(module, name)(ctx)


__all__ = ["METRIC_TABLES", "compute_table", "table_parameters", "Unavailable", "MetricContext"]
