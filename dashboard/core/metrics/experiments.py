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
    # v2 (metrics.md "v2 additions"), appended in the spec's order
    "ci_low_rel", "ci_high_rel", "p_adj_bh", "pre_p_value",
    "delta_abs_cuped", "ci_low_cuped", "ci_high_cuped", "p_value_cuped", "variance_reduction",
    "ci_low_seq", "ci_high_seq",
]
V2_COLUMNS = COLUMNS[COLUMNS.index("ci_low_rel"):]
ONLINE_METRICS = ("conversion", "rec_conversion", "gmv_per_user", "clicks_per_user")
# Without an orders table these are not computed (unknown, not zero).
PURCHASE_METRICS = ("conversion", "rec_conversion", "gmv_per_user")
# Beside COLUMNS, what experiment_details adds for the pages and offline_online.
DETAIL_COLUMNS = ["is_control", "traffic_share", "model_version", "block", "control_mean", "mde_abs", "mde_rel",
                  "delta_rel_cuped", "ci_low_rel_cuped", "ci_high_rel_cuped", "variance",
                  "name", "start_ts", "end_ts", "running"]
# From experiment_names.sql (merged after the comparison).
_NAME_COLUMNS = ("name", "start_ts", "end_ts", "running")
FLOAT_COLUMNS = ["mean", "delta_abs", "delta_rel", "ci_low", "ci_high", "p_value", "srm_p_value"] + V2_COLUMNS
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
        rows += _compare(group, ctx.params.seq_tuning)
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS + DETAIL_COLUMNS if c not in _NAME_COLUMNS])
    frame["users"] = frame["users"].astype("int64")
    frame["is_control"] = frame["is_control"].astype("bool")
    for column in FLOAT_COLUMNS + ["traffic_share", "control_mean", "mde_abs", "mde_rel",
                                   "delta_rel_cuped", "ci_low_rel_cuped", "ci_high_rel_cuped", "variance"]:
        frame[column] = pd.array(frame[column].tolist(), dtype="Float64")
    described = ctx.query("experiment_names")
    frame = frame.merge(described, on="experiment_id", how="left")
    frame["running"] = frame["running"].fillna(False).astype("bool")
    return frame.reset_index(drop=True)


def _compare(group: pd.DataFrame, seq_tuning: int = 10_000) -> list[dict]:
    """Rows of one experiment: every variant against the control, the SRM p-value on each row;
    the v2 columns (relative interval, CUPED, always-valid interval; p_adj_bh over its rows)."""
    one_per_variant = group.drop_duplicates("variant")
    srm = stats.srm_p_value(
        [int(n) for n in one_per_variant["users"]],
        [_value(s) for s in one_per_variant["traffic_share"]],
    )
    rows = []
    for metric, by_metric in group.groupby("metric", sort=False):
        control = by_metric[by_metric["is_control"]].iloc[0]
        # CUPED's θ pools every assigned user of the experiment (all variants), per metric.
        theta = stats.cuped_theta([_moments(v) for _, v in by_metric.iterrows()])
        for _, variant in by_metric.iterrows():
            if variant["is_control"]:
                delta = dict.fromkeys(_DELTA_KEYS)
                v2 = dict.fromkeys(V2_COLUMNS + list(_CUPED_REL))
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
                v2 = _v2_columns(variant, control, delta, theta, seq_tuning)
            rows.append({
                "experiment_id": variant["experiment_id"],
                "variant": variant["variant"],
                "metric": metric,
                "users": int(variant["users"]),
                "mean": _value(variant["mean"]),
                **delta,
                "srm_p_value": srm,
                **v2,
                "is_control": bool(variant["is_control"]),
                "traffic_share": _value(variant["traffic_share"]),
                "model_version": variant["model_version"],
                "block": None if pd.isna(variant["block"]) else variant["block"],
                "control_mean": _value(control["mean"]),
                "mde_abs": mde_abs,
                "mde_rel": mde_rel,
                "variance": _value(variant["variance"]),  # the variant's per-user sample variance (planner)
            })
    # Back to the SQL's order (experiment, variant, metric) after grouping by metric.
    order = {m: i for i, m in enumerate(ONLINE_METRICS)}
    rows.sort(key=lambda r: (r["variant"], order[r["metric"]]))
    # Benjamini–Hochberg within the experiment, over every variant × metric p-value.
    for r, adjusted in zip(rows, stats.bh_adjust([r["p_value"] for r in rows])):
        r["p_adj_bh"] = adjusted
    return rows


def _moments(row: pd.Series) -> dict:
    """A variant's sufficient statistics of y and the pre-period x, as stats.cuped_* take them."""
    return {"users": int(row["users"]), "mean": _value(row["mean"]), "variance": _value(row["variance"]),
            "pre_mean": _value(row["pre_mean"]), "pre_variance": _value(row["pre_variance"]),
            "covariance": _value(row["covariance"])}


def _v2_columns(variant: pd.Series, control: pd.Series, delta: dict, theta, seq_tuning: int) -> dict:
    """The v2 columns of a non-control row except p_adj_bh (set over the whole experiment)."""
    t, c = _moments(variant), _moments(control)
    ci_low_rel, ci_high_rel = stats.relative_interval(t["mean"], t["variance"], t["users"],
                                                      c["mean"], c["variance"], c["users"])
    pre = stats.delta_vs_control(t["pre_mean"], t["pre_variance"], t["users"],
                                 c["pre_mean"], c["pre_variance"], c["users"])
    se = stats.standard_error(t["variance"], t["users"], c["variance"], c["users"])
    ci_low_seq, ci_high_seq = stats.sequential_interval(delta["delta_abs"], se, t["users"], c["users"], seq_tuning)
    return {"ci_low_rel": ci_low_rel, "ci_high_rel": ci_high_rel, "p_adj_bh": None,
            "pre_p_value": pre["p_value"], **stats.cuped_vs_control(t, c, theta),
            "ci_low_seq": ci_low_seq, "ci_high_seq": ci_high_seq,
            **dict(zip(_CUPED_REL, stats.cuped_relative_interval(t, c, theta)))}


# Detail columns (not in experiments.csv): the relative difference and its delta-method interval
# on the CUPED-adjusted values, for the pages' relative view with CUPED on.
_CUPED_REL = ("delta_rel_cuped", "ci_low_rel_cuped", "ci_high_rel_cuped")


def _value(v) -> float | None:
    return None if v is None or pd.isna(v) else float(v)
