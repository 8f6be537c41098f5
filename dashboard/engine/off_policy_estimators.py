"""Off-policy estimators of a candidate policy's click rate, from the sums of its logged terms.

The SQL (`queries/metrics/off_policy.sql`) reduces a candidate's logged impressions to a few sums
of the per-impression weight w = π(item | user, position) / propensity, the reward r (0 or 1)
and the doubly robust term; this module turns them into the estimates of metrics.md "off_policy":

- IPS: mean of w·r; interval mean ∓ z·sd/√n (sd of the n terms, ddof 1).
- SNIPS: Σw·r / Σw (NULL when Σw = 0); se² = Σw²(r − snips)² / (Σw)². With r ∈ {0, 1} the
  numerator is Σw²r·(1 − snips)² + (Σw² − Σw²r)·snips², exactly (both parts ≥ 0: no cancellation).
- DR: mean of the doubly robust terms, interval as for IPS.
- ESS = (Σw)² / Σw² (NULL when Σw = 0): how many logged impressions the estimate is really worth.

Interval bounds are NULL when the spread is unknown (fewer than 2 terms).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

Z = 1.959964  # every 95 % interval of the v2 tables
ESTIMATORS = ("ips", "snips", "dr")


@dataclass(frozen=True)
class LoggedSums:
    """A candidate's logged terms, summed (None where SQL gives NULL: no logged impression)."""

    n: int
    sum_w: float | None
    sum_w2: float | None
    sum_w2r: float | None
    sum_wr: float | None
    ips_mean: float | None
    ips_var: float | None  # sample variance (ddof 1) of w·r; None when n < 2
    dr_mean: float | None
    dr_var: float | None  # sample variance (ddof 1) of the DR terms; None when n < 2


@dataclass(frozen=True)
class Estimate:
    estimate: float | None
    ci_low: float | None
    ci_high: float | None


def mean_interval(mean: float | None, variance: float | None, n: int) -> Estimate:
    """mean ∓ z·sd/√n; bounds None without a variance."""
    if mean is None or n == 0:
        return Estimate(None, None, None)
    if variance is None or n < 2:
        return Estimate(mean, None, None)
    half = Z * math.sqrt(max(variance, 0.0) / n)
    return Estimate(mean, mean - half, mean + half)


def ips(s: LoggedSums) -> Estimate:
    return mean_interval(s.ips_mean, s.ips_var, s.n)


def snips(s: LoggedSums) -> Estimate:
    if not s.n or not s.sum_w:  # Σw = 0: the candidate never shows what the log shows
        return Estimate(None, None, None)
    value = s.sum_wr / s.sum_w
    spread = s.sum_w2r * (1 - value) ** 2 + (s.sum_w2 - s.sum_w2r) * value ** 2
    half = Z * math.sqrt(max(spread, 0.0)) / s.sum_w
    return Estimate(value, value - half, value + half)


def dr(s: LoggedSums) -> Estimate:
    return mean_interval(s.dr_mean, s.dr_var, s.n)


def ess(s: LoggedSums) -> float | None:
    if not s.n or not s.sum_w:
        return None
    return s.sum_w ** 2 / s.sum_w2


def estimates(s: LoggedSums) -> dict[str, Estimate]:
    """Every estimator of one candidate, in the table's order."""
    return {"ips": ips(s), "snips": snips(s), "dr": dr(s)}

