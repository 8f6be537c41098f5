"""Verdicts on experiments that a product manager can read without a statistics course.

One metric at a time, over every non-control variant of every experiment (winners and losers
alike). p-values are adjusted with Benjamini–Hochberg over the variants shown, because looking
at many experiments at once finds "winners" by chance. "No effect" is only said when the test
could have seen an effect of the size that matters (its minimum detectable effect is smaller).
"""
from __future__ import annotations

import pandas as pd

from dashboard.core import stats
from dashboard.core.metrics.experiments import SRM_BROKEN_BELOW

ALPHA = 0.05


def review(details: pd.DataFrame, metric: str, meaningful_rel: float = 0.02) -> pd.DataFrame:
    """One row per non-control variant with relative CI, BH-adjusted p-value and a verdict."""
    rows = details[(details["metric"] == metric) & ~details["is_control"].astype(bool)].copy()
    if rows.empty:
        return rows.assign(ci_low_rel=[], ci_high_rel=[], p_adj_bh=[], srm_broken=[], verdict=[])
    control = rows["control_mean"].astype("Float64")
    safe = control.where(control != 0)
    rows["ci_low_rel"] = rows["ci_low"].astype("Float64") / safe
    rows["ci_high_rel"] = rows["ci_high"].astype("Float64") / safe
    rows["p_adj_bh"] = pd.array(stats.bh_adjust([_num(p) for p in rows["p_value"]]), dtype="Float64")
    rows["srm_broken"] = [bool(_num(p) is not None and _num(p) < SRM_BROKEN_BELOW) for p in rows["srm_p_value"]]
    rows["verdict"] = [verdict(r, meaningful_rel) for _, r in rows.iterrows()]
    return rows.reset_index(drop=True)


def verdict(row: pd.Series, meaningful_rel: float) -> str:
    if row["srm_broken"]:
        return "broken traffic split (SRM): do not trust"
    p_adj, delta = _num(row["p_adj_bh"]), _num(row["delta_abs"])
    if p_adj is not None and p_adj < ALPHA and delta is not None:
        return "better than control" if delta > 0 else "worse than control"
    mde = _num(row["mde_rel"])
    if mde is None:
        return "not enough data"
    if mde <= meaningful_rel:
        return f"no effect of ±{meaningful_rel:.0%} or more (the test could have seen one)"
    return f"inconclusive: could only have seen effects of ±{mde:.0%} or more"


def srm_flagged(details: pd.DataFrame) -> pd.DataFrame:
    """One row per experiment whose traffic split is broken."""
    per_experiment = details.drop_duplicates("experiment_id")
    broken = per_experiment[[(_num(p) is not None and _num(p) < SRM_BROKEN_BELOW) for p in per_experiment["srm_p_value"]]]
    return broken[["experiment_id", "name", "block", "srm_p_value"]].reset_index(drop=True)


def _num(value) -> float | None:
    if value is None or value is pd.NA:
        return None
    value = float(value)
    return None if value != value else value
