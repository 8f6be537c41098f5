"""offline_online: do offline metric gains predict online (A/B) gains?

A pair is one non-control variant of an experiment against its control: its offline delta is
the difference of the two models' offline values, its online delta the experiments table's
`delta_rel`. Per (offline metric, online metric) the pairs are summarised by
`stats.correlation_summary`, and the p-values are adjusted together by Benjamini–Hochberg,
because picking the best of many offline proxies is a multiple-testing problem.
"""
from __future__ import annotations

import pandas as pd

from dashboard.core import stats
from dashboard.core.context import MetricContext, Unavailable
from dashboard.core.metrics import compute_table
from dashboard.core.metrics.experiments import ONLINE_METRICS, experiment_details

COLUMNS = [
    "offline_metric", "online_metric", "n_pairs", "pearson_r", "p_value", "r_ci_low", "r_ci_high",
    "spearman_rho", "kendall_tau", "sign_agreement", "slope", "p_adj_bh",
]
PAIR_COLUMNS = [
    "experiment_id", "variant", "block", "model_version", "control_model_version",
    "offline_metric", "online_metric", "offline_delta", "online_delta", "online_ci_low", "online_ci_high",
]
OFFLINE_VALUE_COLUMNS = ["model_version", "metric", "value"]
_SUMMARY_KEYS = COLUMNS[2:-1]


def offline_online(ctx: MetricContext) -> pd.DataFrame:
    pairs, offline_names, online_names = _pairs(ctx)
    rows = []
    for offline_metric in offline_names:
        for online_metric in online_names:
            chosen = pairs[(pairs.offline_metric == offline_metric) & (pairs.online_metric == online_metric)]
            summary = stats.correlation_summary(
                chosen.offline_delta.astype(float).tolist(), chosen.online_delta.astype(float).tolist()
            )
            rows.append({"offline_metric": offline_metric, "online_metric": online_metric,
                         **{key: summary[key] for key in _SUMMARY_KEYS}})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["p_adj_bh"] = stats.bh_adjust(frame["p_value"].tolist())
    frame["n_pairs"] = frame["n_pairs"].astype("int64")
    for column in COLUMNS[3:]:
        frame[column] = pd.array(frame[column].tolist(), dtype="Float64")
    return frame


def offline_online_pairs(ctx: MetricContext) -> pd.DataFrame:
    """The points behind offline_online: one row per pair × offline metric × online metric
    where both deltas are known; online delta and its interval are relative to the control mean."""
    return _pairs(ctx)[0]


def offline_values(ctx: MetricContext) -> pd.DataFrame:
    """model_version, metric, value: the input table's latest values, overridden by the values
    computed from recommendations + holdout (computed from the raw lists is the fresher truth)."""
    frames = []
    if ctx.source.has("recommendations", "holdout"):
        try:
            frames.append(compute_table("offline_metrics", ctx)[OFFLINE_VALUE_COLUMNS])
        except Unavailable:
            pass
    if ctx.source.has("offline_metrics"):
        frames.append(ctx.query("offline_online")[OFFLINE_VALUE_COLUMNS])
    # A NULL value (e.g. ild without categories) is no value: it neither pairs nor overrides.
    frames = [f[f["value"].notna()] for f in frames]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object" if c != "value" else "float64") for c in OFFLINE_VALUE_COLUMNS})
    merged = pd.concat(frames, ignore_index=True)
    # Computed values come first, so they survive a clash.
    return merged.drop_duplicates(["model_version", "metric"], keep="first").reset_index(drop=True)


def _pairs(ctx: MetricContext) -> tuple[pd.DataFrame, list[str], list[str]]:
    """(pairs, offline metric names, online metric names) — the names span the table's rows."""
    details = experiment_details(ctx)  # raises Unavailable first: experiments are the pairs
    values = offline_values(ctx)
    if values.empty:
        raise Unavailable(
            "offline_online needs offline metric values: an 'offline_metrics' table, or the "
            "'recommendations' and 'holdout' tables to compute them from; the source has neither."
        )
    offline_names = sorted(values["metric"].unique())
    online_names = [m for m in ONLINE_METRICS if ctx.source.has("orders") or m == "clicks_per_user"]
    lookup = {(mv, m): float(v) for mv, m, v in values.itertuples(index=False)}

    control_model = details[details.is_control].drop_duplicates("experiment_id").set_index("experiment_id")["model_version"]
    rows = []
    for r in details[~details.is_control].itertuples(index=False):
        if pd.isna(r.delta_rel):
            continue
        base = control_model[r.experiment_id]
        # delta_rel is known, so the control mean is known and non-zero.
        ci_low = None if pd.isna(r.ci_low) else float(r.ci_low) / float(r.control_mean)
        ci_high = None if pd.isna(r.ci_high) else float(r.ci_high) / float(r.control_mean)
        for offline_metric in offline_names:
            if r.model_version == base:
                # Same model: the offline difference is 0, known without an offline value.
                offline_delta = 0.0
            else:
                treated, control = lookup.get((r.model_version, offline_metric)), lookup.get((base, offline_metric))
                if treated is None or control is None:
                    continue
                offline_delta = treated - control
            rows.append({
                "experiment_id": r.experiment_id, "variant": r.variant, "block": r.block,
                "model_version": r.model_version, "control_model_version": base,
                "offline_metric": offline_metric, "online_metric": r.metric,
                "offline_delta": offline_delta, "online_delta": float(r.delta_rel),
                "online_ci_low": ci_low, "online_ci_high": ci_high,
            })
    pairs = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    order = {m: i for i, m in enumerate(ONLINE_METRICS)}
    pairs = pairs.sort_values(
        ["offline_metric", "online_metric", "experiment_id", "variant"],
        key=lambda s: s.map(order) if s.name == "online_metric" else s,
    ).reset_index(drop=True)
    for column in ("offline_delta", "online_delta", "online_ci_low", "online_ci_high"):
        pairs[column] = pd.array(pairs[column].tolist(), dtype="Float64")
    return pairs, offline_names, online_names
