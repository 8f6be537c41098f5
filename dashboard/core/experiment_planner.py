"""Power planner: how many weeks a new experiment on a block needs to detect a relative effect.

For a block and a metric: users per week = the median over the data's weeks of the block's
distinct users with an impression (buyer_weekly.rec_users; the median is robust to the partial
first and last week); the baseline mean and per-user variance = the control groups of the
block's experiments (user-weighted); two equal groups; a two-sided test at α = 0.05 with 80 %
power: users per group n = 2σ²(z₀.₉₇₅ + z₀.₈)² / (effect × mean)². With CUPED the variance is
σ²·(1 − r), r the median variance reduction measured on the block's experiments for that metric.
Weeks = ⌈2n / users per week⌉, as if every week brought that many new users (optimistic when
the same users come back week after week).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from dashboard.core import stats


@dataclass
class Plan:
    block: str
    metric: str
    effect_rel: float
    users_per_week: float | None
    baseline_mean: float | None
    variance: float | None
    variance_reduction: float | None  # measured median, None when CUPED was never available
    users_per_group: float | None
    users_per_group_cuped: float | None
    weeks: int | None
    weeks_cuped: int | None
    experiments_used: int

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.__dict__])


def plan(details: pd.DataFrame, buyer_weekly: pd.DataFrame | None, block: str, metric: str, effect_rel: float,
         alpha: float = 0.05, power: float = 0.8) -> Plan:
    of_block = details[(details["block"] == block) & (details["metric"] == metric)]
    controls = of_block[of_block["is_control"].astype(bool) & (of_block["users"] > 0)].dropna(subset=["mean", "variance"])
    users_per_week = None
    if buyer_weekly is not None and not buyer_weekly.empty:
        weekly = buyer_weekly[(buyer_weekly["block"] == block) & (buyer_weekly["rec_users"] > 0)]["rec_users"]
        users_per_week = float(weekly.median()) if len(weekly) else None
    mean = variance = None
    if len(controls):
        weights = controls["users"].astype(float)
        mean = float((controls["mean"].astype(float) * weights).sum() / weights.sum())
        variance = float((controls["variance"].astype(float) * weights).sum() / weights.sum())
    reductions = of_block[~of_block["is_control"].astype(bool)]["variance_reduction"].dropna() \
        if "variance_reduction" in of_block else pd.Series(dtype=float)
    reduction = float(reductions.astype(float).median()) if len(reductions) else None
    effect = None if mean is None else effect_rel * mean
    n = None if variance is None or effect is None else stats.required_users_per_group(variance, effect, alpha, power)
    n_cuped = None
    if n is not None and reduction is not None:
        n_cuped = stats.required_users_per_group(variance * (1 - max(0.0, min(reduction, 1.0))), effect, alpha, power)
    return Plan(block=block, metric=metric, effect_rel=effect_rel, users_per_week=users_per_week, baseline_mean=mean,
                variance=variance, variance_reduction=reduction, users_per_group=n, users_per_group_cuped=n_cuped,
                weeks=weeks_needed(n, users_per_week), weeks_cuped=weeks_needed(n_cuped, users_per_week),
                experiments_used=int(controls["experiment_id"].nunique()))


def blocks_by_traffic(details: pd.DataFrame) -> list[str]:
    """The blocks of the experiments, the one with the most assigned users first."""
    bound = details.dropna(subset=["block"]).drop_duplicates(["experiment_id", "variant"])
    if bound.empty:
        return []
    users = bound.groupby("block")["users"].sum().sort_values(ascending=False, kind="stable")
    return [str(b) for b in users.index]


def weeks_needed(users_per_group: float | None, users_per_week: float | None) -> int | None:
    """⌈2n / users per week⌉ (two equal groups); None when either is unknown or no user comes."""
    if users_per_group is None or not users_per_week:
        return None
    return max(1, math.ceil(2 * users_per_group / users_per_week))


def plan_sentence(p: Plan) -> str:
    if p.baseline_mean is None:
        return f"No experiment on {p.block} measured {p.metric} yet: no baseline to plan from."
    if p.users_per_week is None:
        return f"No users with impressions in {p.block}: the experiment would never end."
    if p.weeks is None:
        return "The baseline is 0: a relative effect cannot be planned for."
    text = (f"To detect {p.effect_rel:+.0%} on {p.metric} (baseline {p.baseline_mean:.4g}) in {p.block} with 80 % "
            f"power: {p.users_per_group:,.0f} users per group, about {p.weeks} week{'s' if p.weeks != 1 else ''} "
            f"at {p.users_per_week:,.0f} users a week")
    if p.weeks_cuped is not None:
        text += (f"; with CUPED (variance reduced by {p.variance_reduction:.0%} on this block's experiments) "
                 f"{p.users_per_group_cuped:,.0f} per group, about {p.weeks_cuped} week{'s' if p.weeks_cuped != 1 else ''}")
    return text + "."
