"""Simulated A/B tests with a known truth: do the experiments table's intervals keep their promises?

    python bench/sim_experiments.py [--sims 2000] [--seed 1]

Every world draws per-user outcomes y (and pre-period values x) with numpy, reduces each simulated
test to what queries/metrics/experiments.sql hands to Python (per variant: users, mean, sample
variance of y and x, their sample covariance) and calls the same functions of
dashboard/core/stats.py that the product calls (delta_vs_control, relative_interval, cuped_theta,
cuped_vs_control, sequential_interval). Printed, each with a 95 % Wilson interval over the
simulations:

1. A/A false-positive rate and 95 % coverage of the raw, CUPED and relative intervals, and the
   relative interval's coverage at true lifts of +50 % and +100 % (beside the old "absolute
   interval / control mean");
2. any-look false-positive rate over 6 weekly looks, fixed 95 % interval vs the always-valid one;
3. median interval-width reduction by CUPED where corr(x, y) = 0.7 (theory 1 − √(1 − 0.49) = 28.6 %);
4. Pareto-tailed GMV per user, A/A, without and with capping at the 0.99 quantile of the pooled
   users (the SQL's quantile_cont; numpy's default linear quantile is the same rule).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard.core import stats  # noqa: E402

Z = stats.Z95


def wilson(successes: int, n: int, z: float = Z) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


def rate_line(label: str, hits: np.ndarray, target: str = "") -> str:
    hits = np.asarray(hits, dtype=bool)
    k, n = int(hits.sum()), int(hits.size)
    lo, hi = wilson(k, n)
    return f"  {label:<62} {100 * k / n:5.1f} %  [{100 * lo:4.1f}, {100 * hi:4.1f}]  (n = {n}){target}"


def moments(y: np.ndarray, x: np.ndarray | None = None) -> list[dict]:
    """Per simulation (rows), the per-variant statistics the SQL returns for one group of users."""
    n = y.shape[1]
    mean = y.mean(axis=1)
    var = y.var(axis=1, ddof=1)
    if x is None:
        return [dict(users=n, mean=m, variance=v) for m, v in zip(mean.tolist(), var.tolist())]
    pre_mean = x.mean(axis=1)
    pre_var = x.var(axis=1, ddof=1)
    cov = ((x - pre_mean[:, None]) * (y - mean[:, None])).sum(axis=1) / (n - 1)
    return [dict(users=n, mean=a, variance=b, pre_mean=c, pre_variance=d, covariance=e)
            for a, b, c, d, e in zip(mean.tolist(), var.tolist(), pre_mean.tolist(), pre_var.tolist(), cov.tolist())]


def compare(t: dict, c: dict) -> dict:
    """One simulated test through the product's functions (as experiments._v2_columns does)."""
    raw = stats.delta_vs_control(t["mean"], t["variance"], t["users"], c["mean"], c["variance"], c["users"])
    lo_rel, hi_rel = stats.relative_interval(t["mean"], t["variance"], t["users"], c["mean"], c["variance"], c["users"])
    out = dict(raw, ci_low_rel=lo_rel, ci_high_rel=hi_rel)
    if "pre_mean" in t:
        theta = stats.cuped_theta([t, c])
        out.update(stats.cuped_vs_control(t, c, theta))
        _, out["ci_low_rel_cuped"], out["ci_high_rel_cuped"] = stats.cuped_relative_interval(t, c, theta)
    return out


def covers(lo, hi, truth) -> bool:
    return lo is not None and hi is not None and lo <= truth <= hi


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# worlds


def conversion_world(rng, sims: int, n: int, lift: float):
    """Conversion with a per-user propensity u ~ Beta(0.5, 9.5) (mean 5 %): x ~ Bernoulli(u) in the
    pre-period, y ~ Bernoulli(u·(1 + lift)) in the test: buyers who bought before buy again."""
    def group(mult):
        u = rng.beta(0.5, 9.5, size=(sims, n))
        x = (rng.random((sims, n)) < u).astype(float)
        y = (rng.random((sims, n)) < np.minimum(1.0, u * mult)).astype(float)
        return y, x
    yt, xt = group(1.0 + lift)
    yc, xc = group(1.0)
    return moments(yt, xt), moments(yc, xc), 0.05 * lift, lift


def counts_world(rng, sims: int, n: int, lift: float):
    """Clicks per user: rate λ ~ Gamma(0.5, 2) (mean 1, skewed), x ~ Poisson(λ), y ~ Poisson(λ·(1 + lift))."""
    def group(mult):
        lam = rng.gamma(0.5, 2.0, size=(sims, n))
        return rng.poisson(lam * mult).astype(float), rng.poisson(lam).astype(float)
    yt, xt = group(1.0 + lift)
    yc, xc = group(1.0)
    return moments(yt, xt), moments(yc, xc), lift, lift


def normal_world(rng, sims: int, n: int, rho: float, effect: float):
    """Bivariate normal (x, y) with corr ρ, unit variances; the treatment shifts y by `effect`."""
    def group(shift):
        x = rng.standard_normal((sims, n))
        y = rho * x + math.sqrt(1 - rho * rho) * rng.standard_normal((sims, n)) + 10.0 + shift
        return y, x
    yt, xt = group(effect)
    yc, xc = group(0.0)
    return moments(yt, xt), moments(yc, xc), effect


def pareto_gmv(rng, sims: int, n: int, alpha: float = 1.2, buy: float = 0.1, scale: float = 20.0):
    """GMV per user: 10 % buy, spending a Pareto(α = 1.2) amount from 20 (infinite variance)."""
    bought = rng.random((sims, n)) < buy
    return np.where(bought, scale * (1.0 + rng.pareto(alpha, size=(sims, n))), 0.0)


# ---------------------------------------------------------------------------------------------
# the checks


def check_fixed_intervals(rng, sims: int, n: int) -> list[str]:
    lines = [f"1. Fixed 95 % intervals ({sims} simulated tests per line, {n} users per variant)"]
    for name, world in (("conversion (5 %, pre-period buyers buy again)", conversion_world),
                        ("clicks per user (Poisson-gamma)", counts_world)):
        progress(f"A/A {name}")
        treat, control, true_abs, _ = world(rng, sims, n, 0.0)
        results = [compare(t, c) for t, c in zip(treat, control)]
        lines.append(f" {name}, A/A:")
        lines.append(rate_line("false-positive rate, raw (p < 0.05)",
                               [r["p_value"] is not None and r["p_value"] < 0.05 for r in results], "  target 5 %"))
        lines.append(rate_line("false-positive rate, CUPED (p < 0.05)",
                               [r["p_value_cuped"] is not None and r["p_value_cuped"] < 0.05 for r in results],
                               "  target 5 %"))
        lines.append(rate_line("coverage, raw interval", [covers(r["ci_low"], r["ci_high"], 0.0) for r in results],
                               "  target 93-97 %"))
        lines.append(rate_line("coverage, CUPED interval",
                               [covers(r["ci_low_cuped"], r["ci_high_cuped"], 0.0) for r in results],
                               "  target 93-97 %"))
        lines.append(rate_line("coverage, relative interval (delta method)",
                               [covers(r["ci_low_rel"], r["ci_high_rel"], 0.0) for r in results],
                               "  target 93-97 %"))
    for lift in (0.5, 1.0):
        progress(f"relative interval at +{lift:.0%}")
        treat, control, true_abs, true_rel = conversion_world(rng, sims, n, lift)
        results = [compare(t, c) for t, c in zip(treat, control)]
        naive = []
        for r, c in zip(results, control):
            m = c["mean"]
            naive.append(m > 0 and r["ci_low"] is not None and r["ci_low"] / m <= true_rel <= r["ci_high"] / m)
        lines.append(f" conversion 5 %, true lift +{lift:.0%} (true Δ = {true_abs:+.3f}):")
        lines.append(rate_line("coverage, raw interval of Δ", [covers(r["ci_low"], r["ci_high"], true_abs) for r in results],
                               "  target 93-97 %"))
        lines.append(rate_line("coverage, CUPED interval of Δ",
                               [covers(r["ci_low_cuped"], r["ci_high_cuped"], true_abs) for r in results],
                               "  target 93-97 %"))
        lines.append(rate_line("coverage, relative interval (delta method, ci_*_rel)",
                               [covers(r["ci_low_rel"], r["ci_high_rel"], true_rel) for r in results],
                               "  target 93-97 %"))
        lines.append(rate_line("coverage, CUPED relative interval (page only)",
                               [covers(r["ci_low_rel_cuped"], r["ci_high_rel_cuped"], true_rel) for r in results],
                               "  target 93-97 %"))
        lines.append(rate_line("coverage, old relative interval (absolute CI / control mean)", naive))
    return lines


def check_sequential(rng, sims: int, per_week: int, weeks: int = 6, tuning: int = 10_000) -> list[str]:
    """A/A on clicks per user; users arrive `per_week` per variant each week; a look after every week."""
    progress("weekly looks")
    lines = [f"2. Weekly looks, A/A, {weeks} looks, {per_week} new users per variant per week "
             f"(N* = {tuning}; {sims} simulated tests)"]
    any_fixed = np.zeros(sims, dtype=bool)
    any_seq = np.zeros(sims, dtype=bool)
    detected_seq = np.zeros(sims, dtype=bool)  # the same with a true +10 % on clicks
    sums = {}
    for arm, mult in (("t", 1.0), ("c", 1.0), ("t_eff", 1.1)):
        lam = rng.gamma(0.5, 2.0, size=(sims, weeks, per_week))
        y = rng.poisson(lam * mult).astype(float)
        sums[arm] = (np.cumsum(y.sum(axis=2), axis=1), np.cumsum((y * y).sum(axis=2), axis=1))
    for week in range(weeks):
        n = per_week * (week + 1)
        stats_of = {}
        for arm, (s1, s2) in sums.items():
            mean = s1[:, week] / n
            var = (s2[:, week] - n * mean * mean) / (n - 1)
            stats_of[arm] = (mean.tolist(), var.tolist())
        for i in range(sims):
            for treat, flags, fixed in (("t", any_seq, any_fixed), ("t_eff", detected_seq, None)):
                mt, vt = stats_of[treat][0][i], stats_of[treat][1][i]
                mc, vc = stats_of["c"][0][i], stats_of["c"][1][i]
                raw = stats.delta_vs_control(mt, vt, n, mc, vc, n)
                se = stats.standard_error(vt, n, vc, n)
                lo, hi = stats.sequential_interval(raw["delta_abs"], se, n, n, tuning)
                if lo is not None and not lo <= 0.0 <= hi:
                    flags[i] = True
                if fixed is not None and raw["p_value"] is not None and raw["p_value"] < 0.05:
                    fixed[i] = True
    lines.append(rate_line("any-look false-positive rate, fixed 95 % interval", any_fixed, "  expect > 5 %"))
    lines.append(rate_line("any-look false-positive rate, always-valid interval", any_seq, "  target <= 5 %"))
    lines.append(rate_line("always-valid interval excludes 0 by week 6 at a true +10 %", detected_seq, "  (power)"))
    return lines


def check_cuped_width(rng, sims: int, n: int) -> list[str]:
    progress("CUPED width at corr 0.7")
    treat, control, effect = normal_world(rng, sims, n, 0.7, 0.1)
    results = [compare(t, c) for t, c in zip(treat, control)]
    reduction = np.array([1 - (r["ci_high_cuped"] - r["ci_low_cuped"]) / (r["ci_high"] - r["ci_low"]) for r in results])
    vr = np.array([r["variance_reduction"] for r in results])
    lines = [f"3. CUPED on a world with corr(x, y) = 0.7 ({sims} simulated tests, {n} users per variant, true Δ = 0.1)"]
    lines.append(f"  median interval-width reduction: {100 * float(np.median(reduction)):.1f} %  "
                 f"(quartiles {100 * np.quantile(reduction, 0.25):.1f} to {100 * np.quantile(reduction, 0.75):.1f}; "
                 f"theory 1 - sqrt(1 - 0.49) = {100 * (1 - math.sqrt(0.51)):.1f} %)")
    lines.append(f"  median variance_reduction column: {100 * float(np.median(vr)):.1f} %  (theory 49.0 %)")
    lines.append(rate_line("coverage, CUPED interval", [covers(r["ci_low_cuped"], r["ci_high_cuped"], effect) for r in results],
                           "  target 93-97 %"))
    lines.append(rate_line("coverage, raw interval", [covers(r["ci_low"], r["ci_high"], effect) for r in results],
                           "  target 93-97 %"))
    return lines


def check_pareto(rng, sims: int, n: int, cap: float = 0.99) -> list[str]:
    progress("Pareto-tailed GMV")
    yt, yc = pareto_gmv(rng, sims, n), pareto_gmv(rng, sims, n)
    lines = [f"4. GMV per user with Pareto(1.2) tails, A/A ({sims} simulated tests, {n} users per variant)"]
    for label, (a, b) in (("no capping", (yt, yc)), (f"capped at pooled q{cap}", _capped(yt, yc, cap))):
        results = [compare(t, c) for t, c in zip(moments(a), moments(b))]
        lines.append(rate_line(f"false-positive rate, {label}",
                               [r["p_value"] is not None and r["p_value"] < 0.05 for r in results], "  target 5 %"))
        lines.append(rate_line(f"coverage, {label}", [covers(r["ci_low"], r["ci_high"], 0.0) for r in results],
                               "  target 93-97 %"))
    # Where the uncapped interval fails: a true +20 % on the spend of buyers. The mean of
    # 20·(1 + Lomax(1.2)) is 20·1.2/0.2 = 120, so true Δ = 0.1 × 120 × 0.2 = 2.4 per user.
    lifted = pareto_gmv(rng, sims, n) * 1.2
    results = [compare(t, c) for t, c in zip(moments(lifted), moments(yc))]
    lines.append(rate_line("coverage of the true Δ at +20 % spend, no capping",
                           [covers(r["ci_low"], r["ci_high"], 2.4) for r in results], "  target 93-97 %"))
    return lines


def _capped(yt: np.ndarray, yc: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Winsorize both variants at the q quantile of the pooled users of each simulated test."""
    cap = np.quantile(np.concatenate([yt, yc], axis=1), q, axis=1)[:, None]
    return np.minimum(yt, cap), np.minimum(yc, cap)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=2000, help="simulated tests per line")
    parser.add_argument("--users", type=int, default=1000, help="users per variant (fixed-interval worlds)")
    parser.add_argument("--per-week", type=int, default=500, help="new users per variant per week (weekly looks)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    lines = [f"Simulation of the experiments table's statistics (seed {args.seed}); "
             "rates with 95 % Wilson intervals", ""]
    lines += check_fixed_intervals(rng, args.sims, args.users) + [""]
    lines += check_sequential(rng, args.sims, args.per_week) + [""]
    # the same with N* = the users of the last look (the tuning a planned 6-week test would use)
    lines += check_sequential(rng, args.sims, args.per_week, tuning=12 * args.per_week) + [""]
    lines += check_cuped_width(rng, args.sims, args.users) + [""]
    lines += check_pareto(rng, args.sims, 2 * args.users)
    lines += ["", f"({time.perf_counter() - started:.0f} s)"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
