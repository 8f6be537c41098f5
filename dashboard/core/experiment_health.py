"""Health checks an experimentation reviewer runs before trusting a result, per experiment.

Each check gives a verdict in words, whether it flags a problem, and the numbers behind it:

- **SRM**: the users split between the variants as planned (srm_p_value ≥ 0.001);
- **pre-period balance**: the groups did not differ before the start (every pre_p_value ≥ 0.001);
- **exposure**: the share of assigned users with no impression in the tested block is the same in
  every variant (χ² test of homogeneity, p ≥ 0.001): otherwise the treatment changes who reaches
  the block and the comparison is no longer like with like;
- **novelty**: the delta by week since assignment, with 95 % intervals; flagged when the first
  and the last week's deltas differ (two-sided z test, p < 0.05): a novelty (or learning) effect;
- **overlap**: other experiments on the same block in the same weeks, with the users they share.

SQL computes the per-variant counts and moments (queries/metrics/experiment_*.sql); this module
only compares them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from dashboard.core import stats
from dashboard.core.context import MetricContext
from dashboard.core.metrics.experiments import SRM_BROKEN_BELOW

# The spec's threshold for a broken split, used for every "the groups differ" check.
FLAG_BELOW = SRM_BROKEN_BELOW
NOVELTY_ALPHA = 0.05


@dataclass
class Check:
    name: str
    flagged: bool | None  # None: cannot be judged (no data)
    verdict: str
    numbers: pd.DataFrame = field(default_factory=pd.DataFrame)


# --- what SQL computes (the pages cache these per source and filters) ----------------------------

def experiment_exposure(ctx: MetricContext) -> pd.DataFrame:
    ctx.require("experiments", "experiment_variants", "assignments", why="experiment health checks")
    frame = ctx.query("experiment_exposure")
    frame["share_unexposed"] = 1 - frame["exposed_users"] / frame["users"].where(frame["users"] > 0)
    return frame


def experiment_novelty(ctx: MetricContext) -> pd.DataFrame:
    """Per (experiment, non-control variant, metric, week since assignment): the delta against the
    control in that week with its 95 % interval (stats.delta_vs_control)."""
    ctx.require("experiments", "experiment_variants", "assignments", why="experiment health checks")
    weekly = ctx.query("experiment_novelty")
    variants = _variants(ctx)
    weekly = weekly.merge(variants, on=["experiment_id", "variant"], how="left")
    rows = []
    for (experiment, metric, week), group in weekly.groupby(["experiment_id", "metric", "week_since"], sort=True):
        control = group[group["is_control"].astype(bool)]
        if control.empty:
            continue
        c = control.iloc[0]
        for _, t in group[~group["is_control"].astype(bool)].iterrows():
            d = stats.delta_vs_control(t["mean"], t["variance"], int(t["users"]), c["mean"], c["variance"], int(c["users"]))
            rows.append({"experiment_id": experiment, "variant": t["variant"], "metric": metric,
                         "week_since": int(week), "users": int(t["users"]), "control_users": int(c["users"]),
                         "delta_abs": d["delta_abs"], "ci_low": d["ci_low"], "ci_high": d["ci_high"],
                         "p_value": d["p_value"]})
    columns = ["experiment_id", "variant", "metric", "week_since", "users", "control_users", "delta_abs",
               "ci_low", "ci_high", "p_value"]
    return pd.DataFrame(rows, columns=columns)


def experiment_overlaps(ctx: MetricContext) -> pd.DataFrame:
    ctx.require("experiments", "experiment_variants", "assignments", why="experiment health checks")
    return ctx.query("experiment_overlaps")


def _variants(ctx: MetricContext) -> pd.DataFrame:
    from dashboard.core.metrics.experiments import experiment_details

    details = experiment_details(ctx)
    return details.drop_duplicates(["experiment_id", "variant"])[["experiment_id", "variant", "is_control"]]


# --- verdicts ------------------------------------------------------------------------------------

def health_panel(experiment_id: str, details: pd.DataFrame, exposure: pd.DataFrame | None,
                 novelty: pd.DataFrame | None, overlaps: pd.DataFrame | None, metric: str) -> list[Check]:
    """The five checks of one experiment (novelty on `metric`)."""
    mine = details[details["experiment_id"] == experiment_id]
    return [
        srm_check(mine),
        balance_check(mine),
        exposure_check(None if exposure is None else exposure[exposure["experiment_id"] == experiment_id]),
        novelty_check(None if novelty is None else
                      novelty[(novelty["experiment_id"] == experiment_id) & (novelty["metric"] == metric)], metric),
        overlap_check(None if overlaps is None else overlaps[overlaps["experiment_id"] == experiment_id]),
    ]


def srm_check(mine: pd.DataFrame) -> Check:
    numbers = mine.drop_duplicates("variant")[["variant", "users", "traffic_share"]].reset_index(drop=True)
    p = _num(mine["srm_p_value"].iloc[0]) if len(mine) else None
    if p is None:
        return Check("Traffic split (SRM)", None, "cannot be judged: no users", numbers)
    if p < FLAG_BELOW:
        return Check("Traffic split (SRM)", True,
                     f"broken: the users did not split as planned (p = {p:.1e}); do not trust the results", numbers)
    return Check("Traffic split (SRM)", False, f"as planned (p = {p:.2g})", numbers)


def balance_check(mine: pd.DataFrame) -> Check:
    rows = mine[~mine["is_control"].astype(bool)]
    numbers = rows[["variant", "metric", "pre_p_value"]].reset_index(drop=True) if "pre_p_value" in rows else pd.DataFrame()
    values = [(r.variant, r.metric, _num(r.pre_p_value)) for r in numbers.itertuples(index=False)] if len(numbers) else []
    values = [v for v in values if v[2] is not None]
    if not values:
        return Check("Pre-period balance", None, "cannot be judged: no pre-period values", numbers)
    variant, metric, p = min(values, key=lambda v: v[2])
    if p < FLAG_BELOW:
        return Check("Pre-period balance", True,
                     f"unbalanced: {variant} already differed from the control in {metric} before the start "
                     f"(p = {p:.1e}); the assignment may not be random", numbers)
    return Check("Pre-period balance", False, f"balanced before the start (smallest p = {p:.2g})", numbers)


def exposure_check(mine: pd.DataFrame | None) -> Check:
    if mine is None or mine.empty or int(mine["users"].sum()) == 0:
        return Check("Exposure", None, "cannot be judged: no assigned users", pd.DataFrame())
    numbers = mine[["variant", "users", "exposed_users", "share_unexposed"]].reset_index(drop=True)
    p = proportions_differ_p(list(mine["exposed_users"]), list(mine["users"]))
    shares = ", ".join(f"{v} {s:.1%}" for v, s in zip(mine["variant"], mine["share_unexposed"]) if s == s)
    if p is None:
        return Check("Exposure", None, f"assigned users without an impression in the block: {shares}", numbers)
    if p < FLAG_BELOW:
        return Check("Exposure", True, f"differs between variants: users without an impression in the block "
                                       f"{shares} (p = {p:.1e})", numbers)
    return Check("Exposure", False, f"alike in every variant: users without an impression in the block {shares} "
                                    f"(p = {p:.2g})", numbers)


def novelty_check(mine: pd.DataFrame | None, metric: str) -> Check:
    if mine is None or mine.empty:
        return Check("Novelty", None, "cannot be judged: no weekly data", pd.DataFrame())
    numbers = mine.drop(columns=["experiment_id", "metric"]).reset_index(drop=True)
    usable = mine.dropna(subset=["ci_low"])
    weeks = sorted(usable["week_since"].unique())
    if len(weeks) < 2:
        return Check("Novelty", None, f"only one week since assignment: {metric} cannot be compared across weeks",
                     numbers)
    flagged, said = False, []
    for variant, rows in usable.groupby("variant", sort=True):
        first, last = rows[rows.week_since == rows.week_since.min()].iloc[0], rows[rows.week_since == rows.week_since.max()].iloc[0]
        p = first_last_p(first, last)
        changed = p is not None and p < NOVELTY_ALPHA
        flagged |= changed
        said.append(f"{variant}: week 1 {first.delta_abs:+.4g}, week {int(last.week_since) + 1} {last.delta_abs:+.4g}"
                    + (f" (changed, p = {p:.2g})" if changed else f" (p = {p:.2g})" if p is not None else ""))
    if flagged:
        return Check("Novelty", True, f"the effect on {metric} changes with time since assignment — " + "; ".join(said)
                     + ": judge the later weeks, not the average", numbers)
    return Check("Novelty", False, f"the effect on {metric} is steady across weeks — " + "; ".join(said), numbers)


def overlap_check(mine: pd.DataFrame | None) -> Check:
    if mine is None or mine.empty:
        return Check("Overlapping experiments", False, "none on the same block at the same time", pd.DataFrame())
    numbers = mine.drop(columns=["experiment_id"]).reset_index(drop=True)
    said = ", ".join(f"{r.other_experiment_id} ({int(r.shared_users):,} shared users, "
                     f"{r.overlap_from:%Y-%m-%d} to {r.overlap_to:%Y-%m-%d})" for r in mine.itertuples(index=False))
    return Check("Overlapping experiments", True,
                 f"{len(mine)} other experiment{'s' if len(mine) > 1 else ''} on the same block at the same time: {said}",
                 numbers)


# --- the two tests ---------------------------------------------------------------------------------

def proportions_differ_p(successes: list[int], totals: list[int]) -> float | None:
    """χ² test of homogeneity of k proportions (k × 2 table, df = k − 1); None when fewer than two
    groups have users; 1.0 when the pooled proportion is 0 or 1 (every group alike)."""
    pairs = [(int(s), int(n)) for s, n in zip(successes, totals) if int(n) > 0]
    if len(pairs) < 2:
        return None
    total = sum(n for _, n in pairs)
    pooled = sum(s for s, _ in pairs) / total
    if pooled in (0.0, 1.0):
        return 1.0
    chi2 = sum((s - n * pooled) ** 2 / (n * pooled) + ((n - s) - n * (1 - pooled)) ** 2 / (n * (1 - pooled))
               for s, n in pairs)
    return float(stats._sp.chdtrc(len(pairs) - 1, chi2))


def first_last_p(first, last) -> float | None:
    """Two-sided p of "the first and the last week's deltas are equal", from their 95 % intervals
    (se = half-width / 1.959964). Choice: the two weeks are treated as independent; they share
    users, whose weeks correlate positively, so the test is conservative (p too large)."""
    se = [(_num(r.ci_high) - _num(r.ci_low)) / (2 * stats.Z95) for r in (first, last)]
    spread = math.sqrt(se[0] ** 2 + se[1] ** 2)
    if spread == 0:
        return None
    z = abs(_num(first.delta_abs) - _num(last.delta_abs)) / spread
    return float(2 * stats._sp.ndtr(-z))


def _num(value) -> float | None:
    if value is None or value is pd.NA:
        return None
    value = float(value)
    return None if value != value else value
