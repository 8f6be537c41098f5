"""Metric tables for the pages: computed once per source and relevant filters, then cached.

The cache key holds only the parameters a table depends on (read off its SQL), so that
changing N recomputes seller_weekly and nothing else. Results are small weekly tables.
"""
from __future__ import annotations

import dataclasses
import importlib

import pandas as pd
import streamlit as st

from dashboard.core import guard, settings
from dashboard.core.context import MetricContext, Unavailable
from dashboard.core.exported import NEEDS_EVENTS, ExportedSource, exported_table
from dashboard.core.metrics import compute_table, table_parameters
from dashboard.core.params import Params
from dashboard.core.source import Source
from dashboard.ui.filters import source_key


def relevant(name: str, params: Params) -> Params:
    """`params` with every field the table does not depend on reset to its default."""
    keep = table_parameters(name)
    defaults = Params()
    return dataclasses.replace(
        params, **{f.name: getattr(defaults, f.name) for f in dataclasses.fields(Params) if f.name not in keep}
    )


@st.cache_data(show_spinner=False, max_entries=512)
def _compute(key: str, name: str, params: tuple, _source: Source) -> tuple[pd.DataFrame | None, str | None]:
    ctx = MetricContext(_source, Params(*params))
    try:
        # A runaway query is interrupted; the timeout is raised, so it is never cached.
        with guard.time_limit(ctx.cursor, settings.current().query_timeout_s, what=f"Computing {name}"):
            return compute_table(name, ctx), None
    except Unavailable as reason:
        return None, str(reason)
    finally:
        ctx.close()


def metric(source: Source | ExportedSource, name: str, params: Params) -> tuple[pd.DataFrame | None, str | None]:
    """(table, None) or (None, why it is unavailable)."""
    if isinstance(source, ExportedSource):
        return exported_table(source, name, params.start, params.end)
    narrowed = relevant(name, params)
    with st.spinner(f"Computing {name.replace('_', ' ')}…"):
        try:
            return _compute(source_key(source), name, dataclasses.astuple(narrowed), source)
        except guard.QueryTimeout as stopped:
            return None, str(stopped)


# Computations beside the ten tables that pages need, cached the same way. Each names the metric
# table whose parameters it depends on.
ANALYSES = {
    "experiment_details": ("dashboard.core.metrics.experiments", "experiment_details", "experiments"),
    "dropped_experiments": ("dashboard.core.experiment_checks", "dropped_experiments", "experiments"),
    "experiment_exposure": ("dashboard.core.experiment_health", "experiment_exposure", "experiments"),
    "experiment_novelty": ("dashboard.core.experiment_health", "experiment_novelty", "experiments"),
    "experiment_overlaps": ("dashboard.core.experiment_health", "experiment_overlaps", "experiments"),
    "offline_online_pairs": ("dashboard.core.metrics.offline_online", "offline_online_pairs", "offline_online"),
    "offline_online_predictions": ("dashboard.core.metrics.offline_online", "offline_online_predictions",
                                   "offline_online"),
    "offline_online_trend": ("dashboard.core.trends", "offline_online_trend", "offline_online"),
    "serving_model_weekly": ("dashboard.core.trends", "serving_model_weekly", "buyer_weekly"),
}


@st.cache_data(show_spinner=False, max_entries=512)
def _analyse(key: str, name: str, params: tuple, args: tuple, _source: Source):
    module_name, function_name, _ = ANALYSES[name]
    function = getattr(importlib.import_module(module_name), function_name)
    ctx = MetricContext(_source, Params(*params))
    try:
        with guard.time_limit(ctx.cursor, settings.current().query_timeout_s, what=f"Computing {name}"):
            return function(ctx, *args), None
    except Unavailable as reason:
        return None, str(reason)
    finally:
        ctx.close()


def analysis(source: Source | ExportedSource, name: str, params: Params, *args):
    """(result, None) or (None, why it is unavailable)."""
    if isinstance(source, ExportedSource):
        return None, NEEDS_EVENTS
    narrowed = relevant(ANALYSES[name][2], params)
    with st.spinner(f"Computing {name.replace('_', ' ')}…"):
        try:
            return _analyse(source_key(source), name, dataclasses.astuple(narrowed), args, source)
        except guard.QueryTimeout as stopped:
            return None, str(stopped)
