"""experiments: each A/B test's variants against its control, per online metric.

SQL (`queries/metrics/experiments.sql`) reduces the per-user values to users, mean and sample
variance per variant; the comparison (delta, normal CI, p-value) and the sample-ratio-mismatch
test come from `dashboard.core.stats`, so every statistic has one implementation.
"""
from __future__ import annotations

import weakref

import pandas as pd

from dashboard.core import stats
from dashboard.core.context import MetricContext

COLUMNS = [
    "experiment_id", "variant", "metric", "users", "mean", "delta_abs", "delta_rel",
    "ci_low", "ci_high", "p_value", "srm_p_value",
]
ONLINE_METRICS = ("conversion", "rec_conversion", "gmv_per_user", "clicks_per_user")
# Without an orders table these are not computed (unknown, not zero).
PURCHASE_METRICS = ("conversion", "rec_conversion", "gmv_per_user")
# Beside COLUMNS, what experiment_details adds for the pages and offline_online.
DETAIL_COLUMNS = ["is_control", "traffic_share", "model_version", "block", "control_mean", "mde_abs", "mde_rel",
                  "name", "start_ts", "end_ts"]
FLOAT_COLUMNS = ["mean", "delta_abs", "delta_rel", "ci_low", "ci_high", "p_value", "srm_p_value"]
# The spec flags an experiment as broken when its SRM p-value falls below this.
SRM_BROKEN_BELOW = 0.001
_DELTA_KEYS = ("delta_abs", "delta_rel", "ci_low", "ci_high", "p_value")


def experiments(ctx: MetricContext) -> pd.DataFrame:
    return experiment_details(ctx)[COLUMNS]


# One computation per metric run: `experiments` and `offline_online` (and the pages' pairs) all
# start from these details, and an export computes them with one MetricContext (same source and
# parameters, so the same answer). At 10M events this halves the two tables' time.
_DETAILS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def experiment_details(ctx: MetricContext) -> pd.DataFrame:
    """The experiments table plus DETAIL_COLUMNS (variant's model, experiment's block, control mean)."""
    if ctx not in _DETAILS:
        _DETAILS[ctx] = _experiment_details(ctx)
    return _DETAILS[ctx].copy()


def _experiment_details(ctx: MetricContext) -> pd.DataFrame:
    ctx.require("experiments", "experiment_variants", "assignments", why="experiments")
    per_variant = ctx.query("experiments")
    if not ctx.source.has("orders"):
        per_variant = per_variant[~per_variant["metric"].isin(PURCHASE_METRICS)]
    rows = []
    for _, group in per_variant.groupby("experiment_id", sort=False):
        rows += _compare(group)
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS + DETAIL_COLUMNS if c not in ("name", "start_ts", "end_ts")])
    frame["users"] = frame["users"].astype("int64")
    frame["is_control"] = frame["is_control"].astype("bool")
    for column in FLOAT_COLUMNS + ["traffic_share", "control_mean", "mde_abs", "mde_rel"]:
        frame[column] = pd.array(frame[column].tolist(), dtype="Float64")
    described = ctx.query("experiment_names")
    frame = frame.merge(described, on="experiment_id", how="left")
    return frame.reset_index(drop=True)


def _compare(group: pd.DataFrame) -> list[dict]:
    """Rows of one experiment: every variant against the control, the SRM p-value on each row."""
    one_per_variant = group.drop_duplicates("variant")
    srm = stats.srm_p_value(
        [int(n) for n in one_per_variant["users"]],
        [_value(s) for s in one_per_variant["traffic_share"]],
    )
    rows = []
    for metric, by_metric in group.groupby("metric", sort=False):
        control = by_metric[by_metric["is_control"]].iloc[0]
        for _, variant in by_metric.iterrows():
            if variant["is_control"]:
                delta = dict.fromkeys(_DELTA_KEYS)
                mde_abs = mde_rel = None
            else:
                # The smallest true difference this test had an 80 % chance to detect at 5 %: it
                # tells "no effect" apart from "could not have seen one".
                mde_abs = stats.mde(_value(variant["variance"]), int(variant["users"]),
                                    _value(control["variance"]), int(control["users"]))
                mde_rel = stats.mde_rel(_value(variant["variance"]), int(variant["users"]),
                                        _value(control["variance"]), int(control["users"]), _value(control["mean"]))
                delta = stats.delta_vs_control(
                    _value(variant["mean"]), _value(variant["variance"]), int(variant["users"]),
                    _value(control["mean"]), _value(control["variance"]), int(control["users"]),
                )
            rows.append({
                "experiment_id": variant["experiment_id"],
                "variant": variant["variant"],
                "metric": metric,
                "users": int(variant["users"]),
                "mean": _value(variant["mean"]),
                **delta,
                "srm_p_value": srm,
                "is_control": bool(variant["is_control"]),
                "traffic_share": _value(variant["traffic_share"]),
                "model_version": variant["model_version"],
                "block": None if pd.isna(variant["block"]) else variant["block"],
                "control_mean": _value(control["mean"]),
                "mde_abs": mde_abs,
                "mde_rel": mde_rel,
            })
    # Back to the SQL's order (experiment, variant, metric) after grouping by metric.
    order = {m: i for i, m in enumerate(ONLINE_METRICS)}
    rows.sort(key=lambda r: (r["variant"], order[r["metric"]]))
    return rows


def _value(v) -> float | None:
    return None if v is None or pd.isna(v) else float(v)
