"""offline_online: do offline metric gains predict online (A/B) gains?

A pair is one non-control variant of an experiment against its control: its offline delta is
the difference of the two models' offline values, its online delta the experiments table's
`delta_rel`. Per (offline metric, online metric) the pairs are summarised by
`stats.correlation_summary`, and the p-values are adjusted together by Benjamini–Hochberg,
because picking the best of many offline proxies is a multiple-testing problem.
"""
from __future__ import annotations

import pandas as pd

from dashboard.engine import stats
from dashboard.engine.context import MetricContext, Unavailable
from dashboard.engine.metrics import compute_table
from dashboard.engine.metrics.experiments import ONLINE_METRICS, experiment_details

COLUMNS = [
    "offline_metric", "online_metric", "n_pairs", "n_experiments", "pearson_r", "r_experiments", "p_value",
    "r_ci_low", "r_ci_high", "spearman_rho", "kendall_tau", "sign_agreement", "slope", "p_adj_bh",
    "loo_pairs", "loo_sign_accuracy", "baseline_accuracy", "q2",
]
INT_COLUMNS = ("n_pairs", "n_experiments", "loo_pairs")
# From every pair (v1); from the experiment-level points (v2); from leave-one-experiment-out.
_PAIR_KEYS = ("n_pairs", "pearson_r", "spearman_rho", "kendall_tau", "sign_agreement", "slope")
_EXPERIMENT_KEYS = ("n_experiments", "r_experiments", "p_value", "r_ci_low", "r_ci_high")
_LOO_KEYS = ("loo_pairs", "loo_sign_accuracy", "baseline_accuracy", "q2")
PAIR_COLUMNS = [
    "experiment_id", "variant", "block", "model_version", "control_model_version",
    "offline_metric", "online_metric", "offline_delta", "online_delta", "online_ci_low", "online_ci_high",
]
OFFLINE_VALUE_COLUMNS = ["model_version", "metric", "value"]


def offline_online(ctx: MetricContext) -> pd.DataFrame:
    pairs, offline_names, online_names = _pairs(ctx)
    rows = []
    for offline_metric in offline_names:
        for online_metric in online_names:
            chosen = pairs[(pairs.offline_metric == offline_metric) & (pairs.online_metric == online_metric)]
            rows.append({"offline_metric": offline_metric, "online_metric": online_metric,
                         **summarise_pairs(chosen)})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    # BH over the experiment-level p-values: the ones whose false-positive rate holds.
    frame["p_adj_bh"] = stats.bh_adjust(frame["p_value"].tolist())
    for column in COLUMNS[2:]:
        if column in INT_COLUMNS:
            frame[column] = frame[column].astype("int64")
        else:
            frame[column] = pd.array(frame[column].tolist(), dtype="Float64")
    return frame


def summarise_pairs(pairs: pd.DataFrame) -> dict:
    """One offline_online row (without names and p_adj_bh) from the pairs of one cell:
    columns experiment_id, offline_delta, online_delta."""
    x = pairs["offline_delta"].astype(float).tolist()
    y = pairs["online_delta"].astype(float).tolist()
    groups = pairs["experiment_id"].tolist()
    by_pair = stats.correlation_summary(x, y)
    by_experiment = stats.experiment_correlation(groups, x, y)
    yhat, ybar = stats.loo_predictions(groups, x, y)
    held_out = stats.prediction_summary(y, yhat, ybar)
    return {**{k: by_pair[k] for k in _PAIR_KEYS}, **{k: by_experiment[k] for k in _EXPERIMENT_KEYS},
            **{k: held_out[k] for k in _LOO_KEYS}}


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


# --- would trusting the offline metric have picked the winners? -------------------------------
PREDICTION_COLUMNS = PAIR_COLUMNS + ["predicted_online_delta", "held_out_mean", "sign_scored", "sign_correct"]
WINNER_COLUMNS = [
    "offline_metric", "online_metric", "n_experiments", "loo_pairs", "sign_pairs", "sign_hits",
    "loo_sign_accuracy", "accuracy_ci_low", "accuracy_ci_high", "baseline_accuracy", "q2", "p_adj_bh",
    "beats_baseline", "proxy",
]
# The rule the page, the weekly review and the report use (docs/decisions.md, "offline_online v2").
PROXY_RULE = (
    "an offline metric counts as a proxy only when, held out one experiment at a time, it calls the sign of the "
    "online change more often than always launching or never launching would (loo_sign_accuracy > "
    "baseline_accuracy), predicts the size better than the mean does (q2 > 0), and its experiment-level "
    "correlation survives the correction for all metrics looked at (BH-adjusted p < 0.05)"
)


V2_COLUMNS = ("n_experiments", "r_experiments", "loo_pairs", "loo_sign_accuracy", "baseline_accuracy", "q2")
OLD_EXPORT = ("This offline_online table has no out-of-sample columns ({missing}): it was exported before they "
              "existed. Export it again to see whether an offline metric would have picked the winners.")


def missing_v2_columns(table: pd.DataFrame) -> list[str]:
    """The out-of-sample columns an (older, exported) offline_online table lacks."""
    return [c for c in V2_COLUMNS if c not in table.columns]


def beats_baseline(row) -> bool:
    """Held out, the offline metric calls the sign better than the baseline and q2 > 0."""
    acc, base, q2 = (_value(row, k) for k in ("loo_sign_accuracy", "baseline_accuracy", "q2"))
    return acc is not None and base is not None and q2 is not None and acc > base and q2 > 0


def is_proxy(row) -> bool:
    """beats_baseline and the experiment-level correlation's BH-adjusted p < 0.05."""
    p = _value(row, "p_adj_bh")
    return beats_baseline(row) and p is not None and p < 0.05


def offline_online_predictions(ctx: MetricContext) -> pd.DataFrame:
    """Every pair with its leave-one-experiment-out prediction (PREDICTION_COLUMNS).

    predicted_online_delta = ŷ from the other experiments' pairs (NULL when they could not be
    fitted), held_out_mean = their mean online delta; sign_scored = ŷ and y both ≠ 0,
    sign_correct = their signs agree (NULL when not scored) — the pairs behind loo_sign_accuracy.
    """
    return predictions_of(_pairs(ctx)[0])


def predictions_of(pairs: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for _, chosen in pairs.groupby(["offline_metric", "online_metric"], sort=False):
        y = chosen["online_delta"].astype(float).to_numpy()
        yhat, ybar = stats.loo_predictions(chosen["experiment_id"].tolist(), chosen["offline_delta"].astype(float), y)
        part = chosen.copy()
        part["predicted_online_delta"] = yhat
        part["held_out_mean"] = ybar
        parts.append(part)
    if not parts:
        frame = pairs.copy()
        for column in ("predicted_online_delta", "held_out_mean"):
            frame[column] = pd.Series(dtype="float64")
    else:
        frame = pd.concat(parts).loc[pairs.index]
    y = frame["online_delta"].astype(float)
    yhat = frame["predicted_online_delta"].astype(float)
    scored = yhat.notna() & (yhat != 0) & (y != 0)
    frame["sign_scored"] = scored.astype(bool)
    correct = (y > 0) == (yhat > 0)
    frame["sign_correct"] = pd.array([bool(c) if s else None for c, s in zip(correct, scored)], dtype="boolean")
    for column in ("predicted_online_delta", "held_out_mean"):
        frame[column] = pd.array([None if pd.isna(v) else float(v) for v in frame[column]], dtype="Float64")
    return frame[PREDICTION_COLUMNS].reset_index(drop=True)


def winners(table: pd.DataFrame, predictions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (offline metric, online metric): held-out sign accuracy with its Wilson interval and n,
    the baseline, q2, and whether the metric beats the baseline / counts as a proxy.

    n (sign_pairs) and the hits come from the predictions when given; from an exported table
    (no pairs) they are loo_pairs and round(loo_sign_accuracy · loo_pairs), which is the same
    unless a pair's online delta or prediction is exactly 0.
    """
    counted = {}
    if predictions is not None and not predictions.empty:
        scored = predictions[predictions["sign_scored"].astype(bool)]
        grouped = scored.groupby(["offline_metric", "online_metric"])["sign_correct"]
        counted = {key: (int(g.size), int(g.astype(bool).sum())) for key, g in grouped}
    rows = []
    for r in table.itertuples(index=False):
        row = r._asdict()
        acc = _value(row, "loo_sign_accuracy")
        if predictions is not None:
            n, hits = counted.get((r.offline_metric, r.online_metric), (0, 0))
        else:
            n = int(r.loo_pairs) if acc is not None else 0
            hits = int(round(acc * n)) if acc is not None else 0
        low, high = stats.wilson_interval(hits, n)
        rows.append({
            "offline_metric": r.offline_metric, "online_metric": r.online_metric,
            "n_experiments": int(r.n_experiments), "loo_pairs": int(r.loo_pairs), "sign_pairs": n, "sign_hits": hits,
            "loo_sign_accuracy": acc, "accuracy_ci_low": low, "accuracy_ci_high": high,
            "baseline_accuracy": _value(row, "baseline_accuracy"), "q2": _value(row, "q2"),
            "p_adj_bh": _value(row, "p_adj_bh"), "beats_baseline": beats_baseline(row), "proxy": is_proxy(row),
        })
    frame = pd.DataFrame(rows, columns=WINNER_COLUMNS)
    for column in ("loo_sign_accuracy", "accuracy_ci_low", "accuracy_ci_high", "baseline_accuracy", "q2", "p_adj_bh"):
        frame[column] = pd.array(frame[column].tolist(), dtype="Float64")
    return frame


def wrong_calls(predictions: pd.DataFrame, offline_metric: str, online_metric: str) -> pd.DataFrame:
    """The pairs where launching on the offline metric's held-out prediction would have been wrong:
    the predicted and the actual online change have opposite signs."""
    chosen = predictions[(predictions["offline_metric"] == offline_metric)
                         & (predictions["online_metric"] == online_metric)
                         & predictions["sign_scored"].astype(bool)]
    wrong = chosen[~chosen["sign_correct"].astype(bool)].copy()
    wrong["would_have"] = wrong["predicted_online_delta"].astype(float).map(lambda v: "launched" if v > 0 else "not launched")
    wrong["actually"] = wrong["online_delta"].astype(float).map(lambda v: "online went up" if v > 0 else "online went down")
    columns = ["experiment_id", "variant", "block", "model_version", "control_model_version", "offline_delta",
               "predicted_online_delta", "online_delta", "online_ci_low", "online_ci_high", "would_have", "actually"]
    return wrong[columns].reset_index(drop=True)


def _value(row, key: str) -> float | None:
    v = row.get(key) if hasattr(row, "get") else getattr(row, key, None)
    if v is None or pd.isna(v):
        return None
    return float(v)


def winners_sentence(frame: pd.DataFrame, online_metric: str) -> str:
    """One plain sentence on a `winners` frame of one online metric: which offline metrics would
    have picked the winners better than the baseline, or that none would have."""
    def name_list(names):
        return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]

    if frame.empty or frame["loo_pairs"].max() == 0:
        return (f"Not enough experiments to hold one out and still fit a line for {online_metric}: "
                "no offline metric can be judged out of sample yet.")
    proxies = frame[frame["proxy"]].sort_values("q2", ascending=False)["offline_metric"].tolist()
    beating = frame[frame["beats_baseline"] & ~frame["proxy"]]["offline_metric"].tolist()
    if proxies:
        sentence = (f"Held out one experiment at a time, {name_list(proxies)} called the direction of {online_metric} "
                    "more often than launching every variant (or none) would have, and their relation survives the "
                    "correction for all metrics looked at.")
        if beating:
            sentence += f" {name_list(beating)} also beat the baseline, but not significantly after correction."
        return sentence
    if beating:
        return (f"{name_list(beating)} beat the baseline for {online_metric} out of sample, but not significantly after "
                "correcting for all metrics looked at: no offline metric is a proven proxy yet.")
    return (f"No offline metric would have picked the {online_metric} winners better than launching every variant "
            "(or none): trusting any of them would not have helped.")
