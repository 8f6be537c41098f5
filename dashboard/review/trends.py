"""Offline ↔ online over time: does the serving model's offline metric move with the block's
weekly business metric?

In a block, the model that serves most impressions changes from week to week. Each week gets
that model's offline value and the block's online value (from buyer_weekly). Two series that
both trend upwards correlate in levels whatever their link, so the correlation of
week-over-week differences is reported beside it, and `stats.diff_correlation` warns when
levels correlate but differences do not (background.md: "two metrics share a trend").

Each block has its own target online metric (`dashboard/block_targets.toml`): blocks with
different goals are developed separately, so each is judged by its own metric.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard.engine import stats
from dashboard.engine.context import MetricContext, Unavailable
from dashboard.engine.metrics import compute_table
from dashboard.engine.metrics.offline_online import offline_values

# buyer_weekly columns that a block can be judged by over time.
ONLINE_TREND_METRICS = ("ctr", "buyer_conversion", "click_conversion", "attributed_gmv", "attributed_lines")
SERVING_COLUMNS = ["week_start", "block", "model_version", "model_impressions", "block_impressions", "model_share"]
TREND_COLUMNS = ["week_start", "block", "model_version", "model_share", "offline_value", "online_value"]

BLOCK_TARGETS_FILE = Path(__file__).resolve().parents[1] / "block_targets.toml"
DEFAULT_TARGET = "click_conversion"


def serving_model_weekly(ctx: MetricContext) -> pd.DataFrame:
    """One row per (week_start, block): the model with most impressions, its and the block's
    impressions, and its share (see queries/metrics/serving_model_weekly.sql)."""
    ctx.require("events", why="serving_model_weekly")
    return ctx.query("serving_model_weekly")[SERVING_COLUMNS]


def offline_online_trend(
    ctx: MetricContext, block: str, offline_metric: str, online_metric: str
) -> tuple[pd.DataFrame, dict]:
    """The weekly series of one block and their correlation in levels and differences.

    Frame: one row per week of the grid (consecutive weeks, oldest first) with TREND_COLUMNS;
    `offline_value` is the `offline_metric` value of that week's serving model (NULL when the
    week has no serving model or the model has no value), `online_value` the block's
    buyer_weekly `online_metric` (NULL when it is, e.g. no impressions, or no orders table).
    A block not in the data (or outside the block filter) gives an empty frame.

    Dict: `stats.diff_correlation(offline_value, online_value)` (n, r_levels, p_levels,
    r_diffs, p_diffs, shared_trend_warning). The whole grid is passed, NULLs included, on
    purpose: diff_correlation leaves weeks with a NULL on either side out of the levels and
    takes a difference only between two *adjacent* weeks that are both known, so a gap breaks
    the differences instead of bridging it (pre-filtering the known weeks here would bridge).

    Raises ValueError for an online metric outside ONLINE_TREND_METRICS or an offline metric
    without any value; Unavailable when the source has no offline values at all.
    """
    if online_metric not in ONLINE_TREND_METRICS:
        allowed = ", ".join(ONLINE_TREND_METRICS)
        raise ValueError(f"unknown online metric {online_metric!r} for the trend (one of: {allowed})")
    values = offline_values(ctx)
    if values.empty:
        raise Unavailable(
            "the offline/online trend needs offline metric values: an 'offline_metrics' table, or the "
            "'recommendations' and 'holdout' tables to compute them from; the source has neither."
        )
    known = sorted(values["metric"].unique())
    if offline_metric not in known:
        raise ValueError(f"unknown offline metric {offline_metric!r} (the source has: {', '.join(known)})")

    weeks = serving_model_weekly(ctx)
    weeks = weeks[weeks["block"] == block].sort_values("week_start").reset_index(drop=True)
    by_model = values[values["metric"] == offline_metric].set_index("model_version")["value"]
    offline = weeks["model_version"].map(lambda m: None if pd.isna(m) else by_model.get(m))

    online_table = compute_table("buyer_weekly", ctx)
    online_by_week = online_table[online_table["block"] == block].set_index("week_start")[online_metric]
    online = weeks["week_start"].map(online_by_week)

    frame = weeks[["week_start", "block", "model_version", "model_share"]].copy()
    # attributed_gmv arrives as DECIMAL-turned-float; every value becomes a nullable float.
    frame["offline_value"] = _nullable_float(offline)
    frame["online_value"] = _nullable_float(online)
    summary = stats.diff_correlation(frame["offline_value"].tolist(), frame["online_value"].tolist())
    return frame[TREND_COLUMNS], summary


def block_targets(path: Path | str | None = None) -> dict[str, str]:
    """Block -> its target online metric, from `dashboard/block_targets.toml` (or `path`).

    The returned dict answers `targets[block]` for any block: a block missing from the file
    gets DEFAULT_TARGET (`.get` keeps plain dict behaviour). Use `block_target(block)` for one.
    A target outside ONLINE_TREND_METRICS is a ValueError naming the file.
    """
    path = Path(path) if path is not None else BLOCK_TARGETS_FILE
    with open(path, "rb") as f:
        config = tomllib.load(f)
    targets = config.get("targets", {})
    if not isinstance(targets, dict):
        raise ValueError(f"{path.name}: [targets] must be a table of block = \"metric\" lines")
    bad = {b: m for b, m in targets.items() if m not in ONLINE_TREND_METRICS}
    if bad:
        allowed = ", ".join(ONLINE_TREND_METRICS)
        raise ValueError(f"{path.name}: unknown target metric for {bad} (one of: {allowed})")
    return _Targets(targets)


def block_target(block: str, path: Path | str | None = None) -> str:
    """The target online metric of one block (DEFAULT_TARGET when the config does not name it)."""
    return block_targets(path)[block]


class _Targets(dict):
    """A plain dict whose missing keys read as DEFAULT_TARGET (without being inserted)."""

    def __missing__(self, block: str) -> str:
        return DEFAULT_TARGET


def _nullable_float(values: pd.Series) -> pd.Series:
    return pd.Series(
        pd.array([None if pd.isna(v) else float(v) for v in values], dtype="Float64"), index=values.index
    )


__all__ = [
    "ONLINE_TREND_METRICS", "DEFAULT_TARGET", "serving_model_weekly", "offline_online_trend",
    "block_targets", "block_target",
]


# --- out of sample: would the offline change have predicted the online change? -----------------
CHANGE_COLUMNS = ["week_start", "offline_change", "online_change", "predicted_online_change", "earlier_mean",
                  "sign_scored", "sign_correct"]


def week_over_week_prediction(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Week-over-week changes of an offline_online_trend frame, each predicted from the earlier ones.

    A change is taken only between two adjacent weeks that both have both values (a gap breaks
    it, as in diff_correlation). Week i's online change is predicted by least squares on the
    changes of the weeks before it only (`stats.expanding_predictions`: nothing from the future
    is used), from its offline change. Frame: CHANGE_COLUMNS, one row per change, oldest first.
    Dict: `stats.prediction_summary` keys (loo_pairs = predicted weeks here, sign_pairs,
    sign_hits, loo_sign_accuracy, baseline_accuracy, q2), the Wilson interval of the sign
    accuracy (accuracy_ci_low/high), n_changes, and beats_baseline (accuracy > baseline and
    q2 > 0, the rule of the experiments' view).
    """
    week = frame["week_start"].tolist()
    off = [None if pd.isna(v) else float(v) for v in frame["offline_value"]]
    on = [None if pd.isna(v) else float(v) for v in frame["online_value"]]
    rows = []
    for i in range(1, len(week)):
        if None in (off[i], off[i - 1], on[i], on[i - 1]):
            continue
        rows.append({"week_start": week[i], "offline_change": off[i] - off[i - 1], "online_change": on[i] - on[i - 1]})
    changes = pd.DataFrame(rows, columns=["week_start", "offline_change", "online_change"])
    yhat, ybar = stats.expanding_predictions(changes["offline_change"].tolist(), changes["online_change"].tolist())
    # Only a week whose offline value changed (the serving model changed) is a call the offline
    # metric makes; in the other weeks ŷ is the intercept, the same whatever the metric.
    moved = changes["offline_change"].to_numpy(dtype=float) != 0
    summary = stats.prediction_summary(changes["online_change"].tolist(), np.where(moved, yhat, np.nan), ybar)
    low, high = stats.wilson_interval(summary["sign_hits"], summary["sign_pairs"])
    acc, base, q2 = summary["loo_sign_accuracy"], summary["baseline_accuracy"], summary["q2"]
    summary.update(n_changes=len(changes), accuracy_ci_low=low, accuracy_ci_high=high,
                   beats_baseline=bool(acc is not None and base is not None and q2 is not None
                                       and acc > base and q2 > 0))
    y = changes["online_change"].to_numpy(dtype=float)
    scored = moved & ~pd.isna(yhat) & (yhat != 0) & (y != 0)
    changes["predicted_online_change"] = _nullable_float(pd.Series(yhat, index=changes.index))
    changes["earlier_mean"] = _nullable_float(pd.Series(ybar, index=changes.index))
    changes["sign_scored"] = scored.astype(bool)
    changes["sign_correct"] = pd.array([bool((a > 0) == (b > 0)) if s else None for a, b, s in zip(y, yhat, scored)],
                                       dtype="boolean")
    return changes[CHANGE_COLUMNS], summary


__all__ += ["CHANGE_COLUMNS", "week_over_week_prediction"]


def week_over_week_sentence(summary: dict, offline_metric: str, online_metric: str) -> str:
    """One plain sentence on week_over_week_prediction's summary."""
    n = summary["loo_pairs"]
    if not n:
        return (f"No week with a change of {offline_metric} could be predicted from earlier weeks yet: "
                "the out-of-sample view needs more model changes.")
    if summary["beats_baseline"]:
        return (f"In the {n} weeks whose model changed, the change of {offline_metric} called the direction of "
                f"{online_metric} more often than the baseline and predicted its size better than the earlier mean.")
    return (f"In the {n} weeks whose model changed, the change of {offline_metric} did not call the direction of "
            f"{online_metric} better than the baseline (or did not predict its size better than the earlier mean): "
            "a relation in levels alone is not evidence.")


__all__ += ["week_over_week_sentence"]
