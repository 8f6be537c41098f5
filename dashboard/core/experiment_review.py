"""Verdicts on experiments that a product manager can read without a statistics course.

One metric at a time, over every non-control variant of every experiment (winners and losers
alike). p-values are adjusted with Benjamini–Hochberg over the variants shown, because looking
at many experiments at once finds "winners" by chance. "No effect" is only said when the test
could have seen an effect of the size that matters (its minimum detectable effect is smaller).
"""
from __future__ import annotations

import math

import pandas as pd

from dashboard.core import stats
from dashboard.core.metrics.experiments import SRM_BROKEN_BELOW

ALPHA = 0.05


def review(details: pd.DataFrame, metric: str, meaningful_rel: float = 0.02, cuped: bool = False) -> pd.DataFrame:
    """One row per non-control variant with relative CI, BH-adjusted p-value and a verdict.

    Relative intervals are the experiments table's delta-method ones (ci_low_rel, ci_high_rel).
    With `cuped`, a variant whose CUPED columns exist is judged on them (delta, interval,
    p-value, and an MDE scaled by the measured variance reduction); `interval` says which.
    A running experiment (ends after the data's last day) is judged on its always-valid interval
    (running_verdict), which is safe to look at every week. `p_adj_bh` here is over the variants
    shown (the verdict's family); the table's own, within one experiment, is `p_adj_bh_experiment`.
    """
    rows = details[(details["metric"] == metric) & ~details["is_control"].astype(bool)].copy()
    if "p_adj_bh" in rows:
        rows = rows.rename(columns={"p_adj_bh": "p_adj_bh_experiment"})
    if rows.empty:
        return rows.assign(ci_low_rel=[], ci_high_rel=[], p_adj_bh=[], srm_broken=[], verdict=[], interval=[],
                           cuped_narrowed=[])
    control = rows["control_mean"].astype("Float64")
    safe = control.where(control != 0)
    if "ci_low_rel" not in rows:  # a details frame from before the v2 columns
        rows["ci_low_rel"] = rows["ci_low"].astype("Float64") / safe
        rows["ci_high_rel"] = rows["ci_high"].astype("Float64") / safe
    for column in ("delta_abs", "delta_rel", "ci_low", "ci_high", "p_value", "ci_low_rel", "ci_high_rel"):
        rows[f"{column}_raw"] = rows[column].astype("Float64")
    rows["interval"] = "raw"
    rows["cuped_narrowed"] = pd.array([None] * len(rows), dtype="Float64")
    if "variance_reduction" in rows:
        reduction = rows["variance_reduction"].astype("Float64")
        # the interval's width shrinks by 1 − √(1 − variance reduction)
        rows["cuped_narrowed"] = 1 - (1 - reduction.clip(upper=1.0)) ** 0.5
        if cuped:
            rows = _with_cuped(rows)
    rows["p_adj_bh"] = pd.array(stats.bh_adjust([_num(p) for p in rows["p_value"]]), dtype="Float64")
    rows["srm_broken"] = [bool(_num(p) is not None and _num(p) < SRM_BROKEN_BELOW) for p in rows["srm_p_value"]]
    running = rows["running"].astype(bool) if "running" in rows else pd.Series(False, index=rows.index)
    rows["running"] = running
    if running.any() and "ci_low_seq" in rows:
        rows = _with_always_valid(rows, running)
    rows["verdict"] = [running_verdict(r, meaningful_rel) if r["running"] and r["interval"] == "always-valid"
                       else verdict(r, meaningful_rel) for _, r in rows.iterrows()]
    return rows.reset_index(drop=True)


def _with_cuped(rows: pd.DataFrame) -> pd.DataFrame:
    """The CUPED values in place of the raw ones where they exist."""
    rows = rows.copy()
    has = rows["delta_abs_cuped"].notna() & rows["ci_low_cuped"].notna()
    pairs = {"delta_abs": "delta_abs_cuped", "ci_low": "ci_low_cuped", "ci_high": "ci_high_cuped",
             "p_value": "p_value_cuped", "delta_rel": "delta_rel_cuped", "ci_low_rel": "ci_low_rel_cuped",
             "ci_high_rel": "ci_high_rel_cuped"}
    for raw, adjusted in pairs.items():
        if adjusted in rows:
            rows[raw] = rows[raw].astype("Float64").mask(has, rows[adjusted].astype("Float64"))
    shrink = (1 - rows["variance_reduction"].astype("Float64").clip(upper=1.0)) ** 0.5
    for column in ("mde_rel", "mde_abs"):
        if column in rows:
            rows[column] = rows[column].astype("Float64").mask(has, rows[column].astype("Float64") * shrink)
    rows.loc[has, "interval"] = "CUPED"
    return rows


def _with_always_valid(rows: pd.DataFrame, running: pd.Series) -> pd.DataFrame:
    """Running experiments: the always-valid interval in place of the fixed one. It is defined on
    the raw standard error, so a running variant is shown raw. The relative interval is the
    absolute one divided by the control mean, so that it agrees with the verdict (judged on the
    absolute interval); it leaves out the control mean's own noise, which the always-valid
    interval's wide margin covers (bench/sim_experiments.py: 0.4 % false positives over 6 looks)."""
    rows = rows.copy()
    f = lambda c: rows[c].astype("Float64")  # noqa: E731
    control = f("control_mean")
    has = running & f("ci_low_seq").notna()
    safe = control.where(control != 0)
    replaced = {
        "delta_abs": f("delta_abs_raw"), "delta_rel": f("delta_rel_raw"), "p_value": f("p_value_raw"),
        "ci_low": f("ci_low_seq"), "ci_high": f("ci_high_seq"),
        "ci_low_rel": f("ci_low_seq") / safe.abs(), "ci_high_rel": f("ci_high_seq") / safe.abs(),
    }
    for column, values in replaced.items():
        rows[column] = f(column).mask(has, values)
    rows.loc[has, "interval"] = "always-valid"
    return rows


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


def running_verdict(row: pd.Series, meaningful_rel: float) -> str:
    """A running experiment, judged on its always-valid interval (safe to read every week):
    "can stop: B wins" / "can stop: B loses" when it excludes 0; "can stop: no effect larger
    than ±2 % is likely" when it lies within ± the smallest effect that matters (relative to the
    control mean); otherwise "keep running"."""
    if row["srm_broken"]:
        return "broken traffic split (SRM): do not trust"
    low, high = _num(row["ci_low"]), _num(row["ci_high"])
    if low is None or high is None:
        return "not enough data"
    if low > 0:
        return f"can stop: {row['variant']} wins"
    if high < 0:
        return f"can stop: {row['variant']} loses"
    control = _num(row["control_mean"])
    if control is not None and control != 0 and -meaningful_rel * abs(control) <= low and high <= meaningful_rel * abs(control):
        return f"can stop: no effect larger than ±{meaningful_rel:.0%} is likely"
    return "keep running"


def cuped_summary(review: pd.DataFrame, cuped: bool) -> str:
    """One sentence on what CUPED does to the intervals shown."""
    narrowed = review["cuped_narrowed"].dropna().astype(float)
    if narrowed.empty:
        return "CUPED is not available here: no variant has pre-period values that vary."
    median = float(narrowed.median())
    if cuped:
        return (f"CUPED narrowed these intervals by a median of {median:.0%} ({len(narrowed)} of {len(review)} "
                "variants; the others show their raw interval).")
    return f"Raw intervals shown; CUPED would narrow them by a median of {median:.0%}."


def cuped_sentences(details: pd.DataFrame, experiment_id: str, metric: str) -> list[str]:
    """"B: CUPED narrowed this interval by 38 %" for each variant of one experiment and metric."""
    rows = details[(details["experiment_id"] == experiment_id) & (details["metric"] == metric)
                   & ~details["is_control"].astype(bool)]
    out = []
    for r in rows.itertuples(index=False):
        reduction = _num(getattr(r, "variance_reduction", None))
        if reduction is None:
            out.append(f"{r.variant}: CUPED is not available for {metric} (no pre-period values that vary).")
        else:
            narrowed = 1 - math.sqrt(max(0.0, 1 - reduction))
            out.append(f"{r.variant}: CUPED narrowed this interval by {narrowed:.0%} on {metric}.")
    return out


def running_sentence(row) -> str:
    """The verdict of a running variant with its always-valid interval."""
    low, high = _num(row.ci_low_rel), _num(row.ci_high_rel)
    interval = "" if low is None or high is None else f" (always-valid interval {low:+.1%} to {high:+.1%})"
    return f"{row.experiment_id} · {row.variant}: {row.verdict}{interval}"


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
