"""off_policy: a candidate policy's click rate estimated from logged data, before it serves.

SQL (`queries/metrics/off_policy.sql`) matches clicks to impressions, weighs every logged
impression by π(item | user, position) / propensity and sums the terms per candidate and block;
`dashboard.engine.off_policy_estimators` turns the sums into IPS, SNIPS and DR estimates with 95 %
intervals and the effective sample size. Beside them: the logged CTR (what the serving policy
got) and, for a candidate that later served, its on-policy CTR (what really happened).
"""
from __future__ import annotations

import pandas as pd

from dashboard.engine import off_policy_estimators as estimators
from dashboard.engine.context import MetricContext, Unavailable

COLUMNS = [
    "model_version", "block", "estimator", "n_impressions", "matched_impressions", "ess",
    "estimate", "ci_low", "ci_high", "logged_ctr", "on_policy_impressions", "on_policy_ctr",
]
FLOAT_COLUMNS = ["ess", "estimate", "ci_low", "ci_high", "logged_ctr", "on_policy_ctr"]
# Below this effective sample size the pages warn that the estimate rests on too few impressions.
SMALL_ESS = 100


def why_unavailable(has_propensity_column: bool, logged_impressions: int, has_candidates: bool) -> str | None:
    """Why off_policy cannot be computed (None when it can): interface.md v2's two conditions."""
    if not has_propensity_column:
        return ("off_policy needs logged propensities: an events.propensity column on impressions, "
                "which the source does not have.")
    if logged_impressions == 0:
        return "off_policy needs logged propensities: no impression of the source has a propensity."
    if not has_candidates:
        return ("off_policy needs a candidate policy: a 'target_policies' or 'recommendations' table, "
                "which the source does not have.")
    return None


def off_policy(ctx: MetricContext) -> pd.DataFrame:
    source = ctx.source
    has_column = source.has_column("events", "propensity")
    logged = int(ctx.query("off_policy_logged")["impressions"].iloc[0]) if has_column else 0
    reason = why_unavailable(has_column, logged, source.has("target_policies") or source.has("recommendations"))
    if reason:
        raise Unavailable(reason)
    sums = ctx.query("off_policy")
    rows = []
    for candidate in sums.itertuples(index=False):
        logged_sums = estimators.LoggedSums(
            n=int(candidate.n_impressions),
            **{field: _value(getattr(candidate, field)) for field in (
                "sum_w", "sum_w2", "sum_w2r", "sum_wr", "ips_mean", "ips_var", "dr_mean", "dr_var")},
        )
        ess = estimators.ess(logged_sums)
        for name, result in estimators.estimates(logged_sums).items():
            rows.append({
                "model_version": candidate.model_version, "block": candidate.block, "estimator": name,
                "n_impressions": int(candidate.n_impressions),
                "matched_impressions": int(candidate.matched_impressions),
                "ess": ess, "estimate": result.estimate, "ci_low": result.ci_low, "ci_high": result.ci_high,
                "logged_ctr": _value(candidate.logged_ctr),
                "on_policy_impressions": int(candidate.on_policy_impressions),
                "on_policy_ctr": _value(candidate.on_policy_ctr),
            })
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("n_impressions", "matched_impressions", "on_policy_impressions"):
        frame[column] = frame[column].astype("int64")
    for column in FLOAT_COLUMNS:
        frame[column] = pd.array(frame[column].tolist(), dtype="Float64")
    return frame


def _value(v) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


SMALL_ESS_WARNING = "too few logged impressions look like this candidate"
SUMMARY_COLUMNS = [
    "block", "model_version", "n_impressions", "matched_impressions", "ess", "logged_ctr",
    "ips", "ips_low", "ips_high", "snips", "snips_low", "snips_high", "dr", "dr_low", "dr_high",
    "on_policy_impressions", "on_policy_ctr", "dr_covers_on_policy", "warning",
]


def candidate_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (block, candidate) of an off_policy table: the three estimates with their
    intervals side by side, the logged and on-policy CTR, whether DR's interval covers the
    on-policy CTR (NULL when the candidate never served or DR has no interval), and a warning when
    the effective sample size is below SMALL_ESS (or unknown: no logged impression like it)."""
    rows = []
    for (block, model), part in table.groupby(["block", "model_version"], sort=True):
        by = {r.estimator: r for r in part.itertuples(index=False)}
        first = part.iloc[0]
        row = {"block": block, "model_version": model, "n_impressions": int(first.n_impressions),
               "matched_impressions": int(first.matched_impressions), "ess": _value(first.ess),
               "logged_ctr": _value(first.logged_ctr)}
        for name in estimators.ESTIMATORS:
            r = by.get(name)
            row[name] = None if r is None else _value(r.estimate)
            row[f"{name}_low"] = None if r is None else _value(r.ci_low)
            row[f"{name}_high"] = None if r is None else _value(r.ci_high)
        row["on_policy_impressions"] = int(first.on_policy_impressions)
        row["on_policy_ctr"] = _value(first.on_policy_ctr)
        known = None not in (row["dr_low"], row["dr_high"], row["on_policy_ctr"])
        row["dr_covers_on_policy"] = (row["dr_low"] <= row["on_policy_ctr"] <= row["dr_high"]) if known else None
        row["warning"] = SMALL_ESS_WARNING if row["ess"] is None or row["ess"] < SMALL_ESS else ""
        rows.append(row)
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    for column in ("n_impressions", "matched_impressions", "on_policy_impressions"):
        frame[column] = frame[column].astype("int64")
    for column in ["ess", "logged_ctr", *(f"{name}{part}" for name in estimators.ESTIMATORS
                                          for part in ("", "_low", "_high")), "on_policy_ctr"]:
        frame[column] = pd.array(frame[column].tolist(), dtype="Float64")
    frame["dr_covers_on_policy"] = pd.array(frame["dr_covers_on_policy"].tolist(), dtype="boolean")
    return frame
