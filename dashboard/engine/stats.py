"""Statistics for the experiments and offline_online tables (metric definitions v1,
sections "experiments", "offline_online" and "Exact rules"); DuckDB computes the inputs.

Pure functions: plain Python floats/ints (or None) in, plain floats/ints/None out. None stands
for SQL NULL; no function ever returns NaN or infinity. A NaN in an input is read as None
(pandas turns SQL NULL into NaN), so a caller may pass a DataFrame column as it is.

Choices the spec leaves open are written in the docstrings under "Choice:".

The statistics themselves are scipy.stats' (pearsonr, kendalltau, rankdata,
false_discovery_control and the normal, t and chi-square tails); this module keeps the spec's
exact rules around them (z = 1.959964, which inputs give NULL, |r| = 1 gives p = 0). scipy.stats
is imported on first use, not with this module: it costs about half a second, which every page
and CLI command would pay at start-up although most never compute a test.
"""
from __future__ import annotations

import math
import sys
import threading
from collections.abc import Sequence

import numpy as np
import pandas as pd

# Every 95 % interval in the spec uses this z (not norm.ppf(0.975) = 1.95996398...).
Z95 = 1.959964

__all__ = [
    "Z95",
    "delta_vs_control",
    "srm_p_value",
    "mde",
    "mde_rel",
    "correlation_summary",
    "bh_adjust",
    "diff_correlation",
    "normal_sf",
    "normal_quantile",
    "chi2_sf",
]


# ---------------------------------------------------------------------------------------------
# scipy.stats, imported on first use


def _scipy_stats():
    import scipy.stats  # noqa: PLC0415 (lazy on purpose: see the module's docstring)

    return scipy.stats


_warming: threading.Thread | None = None


def warm_up() -> None:
    """Start importing scipy.stats in a background thread, for a command that will need it only
    after loading a source (`export`): the import (≈0.45 s) then runs while DuckDB reads and
    checks the files, which leaves part of a core idle. The first statistic waits for the import
    if it is not done yet (Python's import lock), so only the time changes."""
    global _warming
    if _warming is None and "scipy.stats" not in sys.modules:
        _warming = threading.Thread(target=_scipy_stats, name="import scipy.stats", daemon=True)
        _warming.start()


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z (scipy.stats.norm.sf)."""
    return float(_scipy_stats().norm.sf(z))


def normal_quantile(q: float) -> float:
    """z with P(Z ≤ z) = q (scipy.stats.norm.ppf)."""
    return float(_scipy_stats().norm.ppf(q))


def chi2_sf(statistic: float, df: int) -> float:
    """P(X > statistic) for X chi-square with df degrees of freedom (scipy.stats.chi2.sf)."""
    return float(_scipy_stats().chi2.sf(statistic, df))


# ---------------------------------------------------------------------------------------------
# helpers


def _num(v) -> float | None:
    """A float, or None for None/NaN/pd.NA. Infinity is a programming error upstream."""
    if v is None:
        return None
    try:
        f = float(v)
    except TypeError:
        if pd.isna(v):  # pd.NA from nullable pandas dtypes
            return None
        raise
    if math.isnan(f):
        return None
    if math.isinf(f):
        raise ValueError(f"infinite value {v!r}: inputs must be finite or None")
    return f


def _count(v) -> int | None:
    f = _num(v)
    if f is None:
        return None
    if f < 0 or f != int(f):
        raise ValueError(f"a count must be a non-negative integer, got {v!r}")
    return int(f)


def _variance(v) -> float | None:
    """A sample variance. Choice: tiny negative values (float round-off in SQL) become 0;
    clearly negative ones are an error."""
    f = _num(v)
    if f is None:
        return None
    if f < 0:
        if f < -1e-12:
            raise ValueError(f"negative variance {v!r}")
        f = 0.0
    return f


def _se(var_t, n_t, var_c, n_c) -> float | None:
    """√(s²_t/n_t + s²_c/n_c); None unless both groups have n ≥ 2 and known variances."""
    n_t, n_c = _count(n_t), _count(n_c)
    var_t, var_c = _variance(var_t), _variance(var_c)
    if n_t is None or n_c is None or n_t < 2 or n_c < 2 or var_t is None or var_c is None:
        return None
    return math.sqrt(var_t / n_t + var_c / n_c)


def _z_two_sided(alpha: float) -> float:
    """z_{1-α/2}; exactly Z95 for α = 0.05 so that intervals and MDEs agree with the spec's z."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if alpha == 0.05:
        return Z95
    return float(_scipy_stats().norm.isf(alpha / 2.0))


def _is_constant(a: np.ndarray) -> bool:
    return a.size == 0 or bool(a.max() == a.min())


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson r; None when n < 2 or either side is constant (exact equality)."""
    return _pearson_test(x, y)[0]


def _pearson_test(x: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None]:
    """(r, two-sided p of H0: ρ = 0) by scipy.stats.pearsonr, with the spec's NULL rules:
    r None when n < 2 or a side is constant (pearsonr would warn and give NaN); p None when
    n < 3 (pearsonr gives 1.0 for two points, which always lie on a line) or r is None;
    |r| = 1 gives p = 0. pearsonr's p is the t test with n − 2 df (as a beta distribution)."""
    n = int(x.size)
    if n < 2 or _is_constant(x) or _is_constant(y):
        return None, None
    result = _scipy_stats().pearsonr(x, y)
    r = float(result.statistic)
    if abs(r) > 1.0 - 4 * np.finfo(float).eps:
        # Round-off at the ends: a line (y = 2x, identical ranks) is exactly ±1, so its p is 0.
        r = math.copysign(1.0, r)
    if n < 3:
        return r, None
    return r, 0.0 if abs(r) == 1.0 else float(min(1.0, result.pvalue))


def _fisher_ci(r: float | None, n: int) -> tuple[float | None, float | None]:
    """tanh(atanh r ∓ Z95/√(n − 3)); (None, None) when n < 4; [r, r] when |r| = 1."""
    if r is None or n < 4:
        return None, None
    if abs(r) == 1.0:
        return r, r
    z = math.atanh(r)
    h = Z95 / math.sqrt(n - 3)
    return math.tanh(z - h), math.tanh(z + h)


def _kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall tau-b (scipy.stats.kendalltau, variant "b"), for n ≥ 2 and non-constant x and y."""
    tau = float(_scipy_stats().kendalltau(x, y).statistic)
    return min(1.0, max(-1.0, tau))


def _average_ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their average rank (scipy.stats.rankdata, method "average")."""
    return _scipy_stats().rankdata(a, method="average")


def _pairs(x: Sequence, y: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Aligned float arrays, leaving out every position where either side is None/NaN."""
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} != {len(y)}")
    xa, ya = _float_array(x), _float_array(y)
    if np.isinf(xa).any() or np.isinf(ya).any():
        raise ValueError("infinite value: inputs must be finite or None")
    keep = ~(np.isnan(xa) | np.isnan(ya))
    if not keep.all():
        xa, ya = xa[keep], ya[keep]
    return xa, ya


def _float_array(v: Sequence) -> np.ndarray:
    """1-D float array with NaN for None/NaN/pd.NA."""
    try:
        a = np.asarray(v, dtype=float)  # None becomes NaN
    except (TypeError, ValueError):  # e.g. pd.NA
        a = np.array([np.nan if (f := _num(e)) is None else f for e in v], dtype=float)
    if a.ndim != 1:
        raise ValueError("expected a 1-D sequence")
    return a


# ---------------------------------------------------------------------------------------------
# experiments


def delta_vs_control(mean_t, var_t, n_t, mean_c, var_c, n_c) -> dict:
    """Treatment variant against the control: `delta_abs, delta_rel, ci_low, ci_high, p_value`.

    delta_abs = mean_t − mean_c; delta_rel = delta_abs / mean_c (None when mean_c is 0);
    se = √(var_t/n_t + var_c/n_c) with sample variances (ddof 1) as passed in;
    CI = delta_abs ∓ Z95·se; p = 2·(1 − Φ(|delta_abs|/se)) computed as 2·norm.sf(·).
    CI and p are None unless n_t ≥ 2 and n_c ≥ 2 (and both variances are known).
    delta_abs is None when either mean is None; then everything is None.

    Choice (se == 0, i.e. both groups constant): the CI degenerates to [delta, delta] and
    p = 1.0 when delta == 0 (no evidence of a difference) else 0.0 (the difference is
    certain under the normal model with zero noise).
    """
    mean_t, mean_c = _num(mean_t), _num(mean_c)
    out = dict(delta_abs=None, delta_rel=None, ci_low=None, ci_high=None, p_value=None)
    if mean_t is None or mean_c is None:
        return out
    delta = mean_t - mean_c
    out["delta_abs"] = delta
    out["delta_rel"] = None if mean_c == 0.0 else delta / mean_c
    se = _se(var_t, n_t, var_c, n_c)
    if se is None:
        return out
    if se == 0.0:
        out["ci_low"] = out["ci_high"] = delta
        out["p_value"] = 1.0 if delta == 0.0 else 0.0
        return out
    out["ci_low"] = delta - Z95 * se
    out["ci_high"] = delta + Z95 * se
    out["p_value"] = float(min(1.0, 2.0 * normal_sf(abs(delta) / se)))
    return out


def srm_p_value(counts: Sequence[int], shares: Sequence[float | None]) -> float | None:
    """Sample-ratio-mismatch p-value: χ² goodness of fit of the variants' user counts against
    expected = total × normalised shares, df = variants − 1.

    Any None (or NaN) share means an equal split; variants with 0 users are included.
    None when total is 0 or there are fewer than 2 variants.

    Choices: all shares 0 → equal split (no usable configuration); a negative share is an
    error. A variant with share 0 and 0 users adds nothing to χ²; a variant with share 0 but
    users > 0 makes χ² infinite, reported as p = 0.0.
    """
    if len(counts) != len(shares):
        raise ValueError(f"counts and shares differ in length: {len(counts)} != {len(shares)}")
    obs = [_count(c) for c in counts]
    if any(c is None for c in obs):
        raise ValueError("a variant's user count is None")
    k = len(obs)
    total = sum(obs)
    if k < 2 or total == 0:
        return None
    sh = [_num(s) for s in shares]
    if any(s is not None and s < 0 for s in sh):
        raise ValueError(f"negative traffic share in {shares!r}")
    if any(s is None for s in sh) or sum(sh) == 0.0:
        sh = [1.0] * k
    ssum = sum(sh)
    chi2 = 0.0
    for o, s in zip(obs, sh):
        e = total * s / ssum
        if e == 0.0:
            if o > 0:
                return 0.0
            continue
        chi2 += (o - e) ** 2 / e
    return chi2_sf(chi2, k - 1)


def mde(var_t, n_t, var_c, n_c, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """Minimum detectable absolute effect of the two-sided normal test:
    (z_{1−α/2} + z_{power}) · √(var_t/n_t + var_c/n_c).

    None under the same rule as the CI (both n ≥ 2, variances known).
    Choice: for α = 0.05, z_{1−α/2} is the spec's Z95 (1.959964), so that mde at power 0.5
    equals the CI half-width exactly.
    """
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    z = _z_two_sided(alpha) + normal_quantile(power)
    se = _se(var_t, n_t, var_c, n_c)
    if se is None:
        return None
    return z * se


def mde_rel(var_t, n_t, var_c, n_c, mean_c, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """mde(...) / |mean_c|; None when mean_c is 0 or None or mde is None.

    Choice: divided by the absolute control mean so that the relative MDE stays positive.
    """
    m = _num(mean_c)
    d = mde(var_t, n_t, var_c, n_c, alpha=alpha, power=power)
    if d is None or m is None or m == 0.0:
        return None
    return d / abs(m)


# ---------------------------------------------------------------------------------------------
# offline_online


def correlation_summary(x: Sequence[float], y: Sequence[float]) -> dict:
    """Offline deltas `x` against online deltas `y` (one element per experiment pair).

    Keys: n_pairs, pearson_r, p_value, r_ci_low, r_ci_high, spearman_rho, kendall_tau,
    sign_agreement, slope — per the spec's offline_online rules:
    - pearson_r, spearman_rho (Pearson of average ranks), kendall_tau (tau-b): None when
      n < 2 or either side is constant;
    - p_value: two-sided, t distribution with n − 2 df; None when n < 3 or r is None
      (|r| = 1 gives 0.0);
    - r_ci_low/high: tanh(atanh r ∓ Z95/√(n − 3)); None when n < 4; [r, r] when |r| = 1;
    - sign_agreement: share of pairs with the same sign among pairs whose deltas are both
      ≠ 0; None when there is no such pair (so it is defined for n = 1);
    - slope: least-squares slope of y on x; None when n < 2 or x is constant (y constant → 0).

    Choice: positions where x or y is None/NaN are left out (the spec leaves such pairs out),
    and n_pairs counts the pairs kept. "Constant" means exactly equal values.
    """
    xa, ya = _pairs(x, y)
    n = int(xa.size)
    r = p = rho = tau = slope = None
    if n >= 2 and not _is_constant(xa):
        xm = xa - xa.mean()
        sxx = float(np.dot(xm, xm))
        if sxx > 0.0:
            slope = float(np.dot(xm, ya - ya.mean())) / sxx
        if not _is_constant(ya):
            r, p = _pearson_test(xa, ya)
            rho = _pearson(_average_ranks(xa), _average_ranks(ya))
            tau = _kendall_tau_b(xa, ya)
    lo, hi = _fisher_ci(r, n)
    both = (xa != 0) & (ya != 0)
    sign_agreement = None
    if both.any():
        sign_agreement = float(np.count_nonzero(np.sign(xa[both]) == np.sign(ya[both]))) / int(both.sum())
    return dict(
        n_pairs=n,
        pearson_r=r,
        p_value=p,
        r_ci_low=lo,
        r_ci_high=hi,
        spearman_rho=rho,
        kendall_tau=tau,
        sign_agreement=sign_agreement,
        slope=slope,
    )


# ---------------------------------------------------------------------------------------------
# offline_online v2: experiments as the unit, and out-of-sample prediction


def experiment_correlation(groups: Sequence, x: Sequence[float], y: Sequence[float]) -> dict:
    """Pearson r of the experiment-level points and its test (metric definitions v2).

    `groups[i]` is the experiment of pair i. Each experiment becomes one point: the mean
    offline delta and the mean online delta of its pairs. Pairs of one experiment share its
    control and are not independent; the experiment-level points are.
    Keys: n_experiments, r_experiments, p_value (t, n_experiments − 2 df), r_ci_low, r_ci_high
    (Fisher, √(n_experiments − 3)) with correlation_summary's NULL rules.

    Choice: a pair whose x or y is None/NaN is left out before grouping (as in correlation_summary).
    """
    g, xa, ya = _grouped(groups, x, y)
    if xa.size == 0:
        return dict(n_experiments=0, r_experiments=None, p_value=None, r_ci_low=None, r_ci_high=None)
    codes, uniques = pd.factorize(pd.Series(g, dtype=object), sort=False)
    counts = np.bincount(codes)
    mx = np.bincount(codes, weights=xa) / counts
    my = np.bincount(codes, weights=ya) / counts
    n = int(len(uniques))
    r, p = _pearson_test(mx, my)
    lo, hi = _fisher_ci(r, n)
    return dict(n_experiments=n, r_experiments=r, p_value=p, r_ci_low=lo, r_ci_high=hi)


def loo_predictions(groups: Sequence, x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-experiment-out predictions of y from x.

    For each experiment e: least squares y = a + b·x on the pairs of the other experiments,
    skipped when those are fewer than 2 or their x is constant; ŷ = a + b·x for e's pairs.
    Returns (ŷ, ȳ₋ₑ) aligned with the input, NaN where a pair was not predicted (also where its
    x or y is None/NaN); ȳ₋ₑ is the mean y of the other experiments' pairs (q2's yardstick).
    """
    g = np.asarray(pd.Series(list(groups), dtype=object))
    xa, ya = _float_array(x), _float_array(y)
    if not (len(g) == xa.size == ya.size):
        raise ValueError(f"groups, x and y differ in length: {len(g)}, {xa.size}, {ya.size}")
    known = ~(np.isnan(xa) | np.isnan(ya))
    yhat = np.full(xa.size, np.nan)
    ybar = np.full(xa.size, np.nan)
    codes, _ = pd.factorize(pd.Series(g, dtype=object), sort=False)
    for code in np.unique(codes[known]):
        held = known & (codes == code)
        train = known & (codes != code)
        fit = _least_squares(xa[train], ya[train])
        if fit is None:
            continue
        a, b = fit
        yhat[held] = a + b * xa[held]
        ybar[held] = ya[train].mean()
    return yhat, ybar


def expanding_predictions(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Each point predicted from the points before it only (a time series in order).

    Point i gets ŷ_i = a + b·x_i from least squares on the known points j < i (skipped when
    fewer than 2 or their x is constant), and ȳ_i = the mean of those earlier y. NaN where not
    predicted. No future value is used, so this is what one could have predicted at the time.
    """
    xa, ya = _float_array(x), _float_array(y)
    if xa.size != ya.size:
        raise ValueError(f"x and y differ in length: {xa.size} != {ya.size}")
    known = ~(np.isnan(xa) | np.isnan(ya))
    yhat = np.full(xa.size, np.nan)
    ybar = np.full(xa.size, np.nan)
    for i in range(xa.size):
        if not known[i]:
            continue
        before = known.copy()
        before[i:] = False
        fit = _least_squares(xa[before], ya[before])
        if fit is None:
            continue
        a, b = fit
        yhat[i] = a + b * xa[i]
        ybar[i] = ya[before].mean()
    return yhat, ybar


def prediction_summary(y: Sequence[float], yhat: Sequence[float], ybar: Sequence[float]) -> dict:
    """How good held-out predictions ŷ of y are, against the baseline of ignoring x.

    Over the predicted points (ŷ not NaN): `loo_pairs` = their number; `sign_pairs` = those
    with y ≠ 0 and ŷ ≠ 0, `sign_hits` = those of them whose signs agree, `loo_sign_accuracy`
    = sign_hits / sign_pairs (None when sign_pairs is 0); `baseline_accuracy` = over the same
    sign_pairs, the larger of the shares of positive and of negative y (always launching or
    never launching); `q2` = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² with ȳ the held-out mean (None when the
    denominator is 0).
    """
    ya, pa_, ba = _float_array(y), _float_array(yhat), _float_array(ybar)
    predicted = ~np.isnan(pa_) & ~np.isnan(ya)
    ya, pa_, ba = ya[predicted], pa_[predicted], ba[predicted]
    signed = (ya != 0) & (pa_ != 0)
    n_signed = int(signed.sum())
    accuracy = baseline = q2 = None
    hits = int(np.count_nonzero(np.sign(ya[signed]) == np.sign(pa_[signed])))
    if n_signed:
        accuracy = hits / n_signed
        positive = int(np.count_nonzero(ya[signed] > 0))
        baseline = max(positive, n_signed - positive) / n_signed
    denominator = float(np.sum((ya - ba) ** 2))
    if denominator > 0.0:
        q2 = 1.0 - float(np.sum((ya - pa_) ** 2)) / denominator
    return dict(loo_pairs=int(ya.size), loo_sign_accuracy=accuracy, baseline_accuracy=baseline, q2=q2,
                sign_pairs=n_signed, sign_hits=hits)


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval of a proportion successes / n; (None, None) when n is 0."""
    k, n = _count(successes), _count(n)
    if n is None or k is None or n == 0:
        return None, None
    if k > n:
        raise ValueError(f"successes {k} > n {n}")
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _least_squares(x: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """(a, b) of y = a + b·x; None when fewer than 2 points or x is constant (exact equality)."""
    if x.size < 2 or _is_constant(x):
        return None
    xm = x - x.mean()
    sxx = float(np.dot(xm, xm))
    if sxx == 0.0:
        return None
    b = float(np.dot(xm, y - y.mean())) / sxx
    return float(y.mean()) - b * float(x.mean()), b


def _grouped(groups: Sequence, x: Sequence, y: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """groups, x, y with every position where x or y is None/NaN left out."""
    g = np.asarray(pd.Series(list(groups), dtype=object))
    xa, ya = _float_array(x), _float_array(y)
    if not (len(g) == xa.size == ya.size):
        raise ValueError(f"groups, x and y differ in length: {len(g)}, {xa.size}, {ya.size}")
    if np.isinf(xa).any() or np.isinf(ya).any():
        raise ValueError("infinite value: inputs must be finite or None")
    keep = ~(np.isnan(xa) | np.isnan(ya))
    return g[keep], xa[keep], ya[keep]


__all__ += [
    "experiment_correlation", "loo_predictions", "expanding_predictions", "prediction_summary",
    "wilson_interval",
]


def bh_adjust(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini–Hochberg adjusted p-values, in the original order.

    Over the non-None p-values only (m = their count): with p_(1) ≤ … ≤ p_(m),
    adjusted_(i) = min over j ≥ i of p_(j)·m/j, capped at 1. None (or NaN) stays None.
    A p-value outside [0, 1] is an error.
    """
    vals = [_num(p) for p in p_values]
    idx = [i for i, p in enumerate(vals) if p is not None]
    out: list[float | None] = [None] * len(vals)
    m = len(idx)
    if m == 0:
        return out
    p = np.array([vals[i] for i in idx], dtype=float)
    if (p < 0).any() or (p > 1).any():
        raise ValueError(f"p-values must lie in [0, 1]: {p_values!r}")
    adj = _scipy_stats().false_discovery_control(p, method="bh")
    for k, i in enumerate(idx):
        out[i] = float(adj[k])
    return out


def diff_correlation(a: Sequence[float | None], b: Sequence[float | None]) -> dict:
    """Correlation of two weekly series in levels and in first differences (week over week).

    `a` and `b` are aligned by week (same length, consecutive weeks). Keys:
    n (pairs of levels used), r_levels, p_levels, r_diffs, p_diffs, shared_trend_warning.
    r/p follow correlation_summary's Pearson rules (r None when n < 2 or a side is
    constant, p None when n < 3). shared_trend_warning is True when p_levels < 0.05 but
    the differences do not correlate significantly (p_diffs ≥ 0.05 or p_diffs None):
    a correlation that only comes from a common trend.

    Choices: weeks where a or b is None/NaN are left out of the levels; a difference is
    taken only between consecutive weeks that are both present in both series (a gap breaks
    the difference, it is not bridged). A significant *negative* correlation of differences
    also counts as "correlating", so no warning then.
    """
    if len(a) != len(b):
        raise ValueError(f"a and b differ in length: {len(a)} != {len(b)}")
    av = [_num(v) for v in a]
    bv = [_num(v) for v in b]
    ok = [x is not None and y is not None for x, y in zip(av, bv)]
    la = np.array([x for x, k in zip(av, ok) if k], dtype=float)
    lb = np.array([y for y, k in zip(bv, ok) if k], dtype=float)
    da = np.array([av[i] - av[i - 1] for i in range(1, len(av)) if ok[i] and ok[i - 1]], dtype=float)
    db = np.array([bv[i] - bv[i - 1] for i in range(1, len(bv)) if ok[i] and ok[i - 1]], dtype=float)
    n = int(la.size)
    r_levels, p_levels = _pearson_test(la, lb)
    r_diffs, p_diffs = _pearson_test(da, db)
    warning = p_levels is not None and p_levels < 0.05 and (p_diffs is None or p_diffs >= 0.05)
    return dict(
        n=n,
        r_levels=r_levels,
        p_levels=p_levels,
        r_diffs=r_diffs,
        p_diffs=p_diffs,
        shared_trend_warning=bool(warning),
    )


# ---------------------------------------------------------------------------------------------
# experiments, v2 (metrics.md "v2 additions"): relative interval, CUPED, always-valid interval


def standard_error(var_t, n_t, var_c, n_c) -> float | None:
    """√(var_t/n_t + var_c/n_c); None unless both groups have n ≥ 2 and known variances."""
    return _se(var_t, n_t, var_c, n_c)


def relative_interval(mean_t, var_t, n_t, mean_c, var_c, n_c) -> tuple[float | None, float | None]:
    """95 % interval of delta_rel = m_t/m_c − 1 by the delta method:
    var = s²_t/(n_t·m_c²) + m_t²·s²_c/(n_c·m_c⁴); delta_rel ∓ Z95·√var.
    (None, None) when m_c is 0 or None, either n < 2 or a variance is unknown."""
    m_t, m_c = _num(mean_t), _num(mean_c)
    if _se(var_t, n_t, var_c, n_c) is None or m_t is None or m_c is None or m_c == 0.0:
        return None, None
    v_t, v_c = _variance(var_t), _variance(var_c)
    n_t, n_c = _count(n_t), _count(n_c)
    var = v_t / (n_t * m_c ** 2) + m_t ** 2 * v_c / (n_c * m_c ** 4)
    rel = m_t / m_c - 1.0
    half = Z95 * math.sqrt(var)
    return rel - half, rel + half


def _n_var(n, var) -> float:
    """(n − 1)·s², the sum of squares about the group mean; 0 for a group of one (s² NULL)."""
    v = _variance(var)
    return 0.0 if v is None or n < 2 else (n - 1) * v


def cuped_theta(groups: Sequence[dict]) -> tuple[float, float] | None:
    """θ = Σ(x − x̄)(y − ȳ) / Σ(x − x̄)² over every user of the groups pooled, and the pooled x̄.

    Each group (variant) gives its sufficient statistics: `users`, `mean`, `pre_mean`,
    `pre_variance`, `covariance` (sample moments, ddof 1, of y and of the pre-period x);
    the pooled sums are Σ_v [(n_v − 1)·c_v + n_v·(x̄_v − x̄)(ȳ_v − ȳ)]. Groups without users
    are left out. None when no user is left or Σ(x − x̄)² = 0.

    Choice: Σ(x − x̄)² counts as 0 when it is below 1e-12 × (1 + Σx²), i.e. x is constant up to
    the round-off of the per-group means (the spec's rule "Σ(x − x̄)² = 0" meant exactly).
    """
    used = []
    for g in groups:
        n = _count(g.get("users")) or 0
        if n == 0:
            continue
        mx, my = _num(g.get("pre_mean")), _num(g.get("mean"))
        if mx is None or my is None:
            return None
        used.append((n, mx, my, g.get("pre_variance"), _num(g.get("covariance"))))
    total = sum(n for n, *_ in used)
    if total == 0:
        return None
    x_bar = sum(n * mx for n, mx, *_ in used) / total
    y_bar = sum(n * my for n, _, my, *_ in used) / total
    sxx = sum(_n_var(n, vx) + n * (mx - x_bar) ** 2 for n, mx, _, vx, _ in used)
    sxy = sum((0.0 if c is None or n < 2 else (n - 1) * c) + n * (mx - x_bar) * (my - y_bar)
              for n, mx, my, _, c in used)
    sum_x2 = sum(_n_var(n, vx) + n * mx * mx for n, mx, _, vx, _ in used)
    if sxx <= 1e-12 * (1.0 + sum_x2):
        return None
    return sxy / sxx, x_bar


def cuped_moments(mean, variance, pre_mean, pre_variance, covariance, theta: float, x_bar: float
                  ) -> tuple[float | None, float | None]:
    """Mean and sample variance of y' = y − θ·(x − x̄) within one group, from its moments:
    mean' = ȳ − θ·(x̄_g − x̄), s²' = s²_y − 2θ·c + θ²·s²_x (None where the inputs are None).
    Round-off below 0 becomes 0."""
    my, mx = _num(mean), _num(pre_mean)
    adjusted_mean = None if my is None or mx is None else my - theta * (mx - x_bar)
    vy, vx, c = _variance(variance), _variance(pre_variance), _num(covariance)
    if vy is None or vx is None or c is None:
        return adjusted_mean, None
    v = vy - 2.0 * theta * c + theta * theta * vx
    # cancellation leaves at worst a few ulps of the terms below zero
    return adjusted_mean, max(v, 0.0)


CUPED_KEYS = ("delta_abs_cuped", "ci_low_cuped", "ci_high_cuped", "p_value_cuped", "variance_reduction")


def cuped_vs_control(treatment: dict, control: dict, theta_x_bar: tuple[float, float] | None) -> dict:
    """The CUPED columns of one variant against its control: the raw formulas (delta_vs_control)
    applied to y' = y − θ·(x − x̄), and variance_reduction = 1 − (se_cuped / se)².

    `treatment`/`control` carry users, mean, variance, pre_mean, pre_variance, covariance;
    `theta_x_bar` is cuped_theta of every group of the experiment. All five None when θ is
    None (Σ(x − x̄)² = 0) or the raw se is None or 0."""
    out = dict.fromkeys(CUPED_KEYS)
    se = _se(treatment.get("variance"), treatment.get("users"), control.get("variance"), control.get("users"))
    if theta_x_bar is None or se is None or se == 0.0:
        return out
    theta, x_bar = theta_x_bar
    m_t, v_t = cuped_moments(treatment.get("mean"), treatment.get("variance"), treatment.get("pre_mean"),
                             treatment.get("pre_variance"), treatment.get("covariance"), theta, x_bar)
    m_c, v_c = cuped_moments(control.get("mean"), control.get("variance"), control.get("pre_mean"),
                             control.get("pre_variance"), control.get("covariance"), theta, x_bar)
    adjusted = delta_vs_control(m_t, v_t, treatment.get("users"), m_c, v_c, control.get("users"))
    out["delta_abs_cuped"] = adjusted["delta_abs"]
    out["ci_low_cuped"] = adjusted["ci_low"]
    out["ci_high_cuped"] = adjusted["ci_high"]
    out["p_value_cuped"] = adjusted["p_value"]
    se_cuped = _se(v_t, treatment.get("users"), v_c, control.get("users"))
    out["variance_reduction"] = None if se_cuped is None else 1.0 - (se_cuped / se) ** 2
    return out


SEQ_ALPHA = 0.05


def sequential_half_width(se, n_t, n_c, tuning: int = 10_000, alpha: float = SEQ_ALPHA) -> float | None:
    """Half-width of the always-valid (mixture-SPRT) interval, safe to look at after every batch:
    N = n_t + n_c, σ = se·√N, ρ² = (−2 ln α + ln(−2 ln α + 1)) / N*, N* = `tuning`;
    half = σ·√( 2(Nρ² + 1)/(N²ρ²) · ln(√(Nρ² + 1)/α) ). None when se is None."""
    s = _num(se)
    n_t, n_c = _count(n_t), _count(n_c)
    if s is None or n_t is None or n_c is None or n_t + n_c == 0:
        return None
    if not isinstance(tuning, int) or tuning < 1:
        raise ValueError(f"tuning must be a whole number ≥ 1, got {tuning!r}")
    n = n_t + n_c
    sigma = s * math.sqrt(n)
    minus_2_ln_alpha = -2.0 * math.log(alpha)
    rho2 = (minus_2_ln_alpha + math.log(minus_2_ln_alpha + 1.0)) / tuning
    n_rho2 = n * rho2
    return sigma * math.sqrt(2.0 * (n_rho2 + 1.0) / (n * n * rho2) * math.log(math.sqrt(n_rho2 + 1.0) / alpha))


def sequential_interval(delta_abs, se, n_t, n_c, tuning: int = 10_000, alpha: float = SEQ_ALPHA
                        ) -> tuple[float | None, float | None]:
    """(ci_low_seq, ci_high_seq) = delta_abs ∓ sequential_half_width; (None, None) when se or
    delta_abs is None."""
    d = _num(delta_abs)
    half = sequential_half_width(se, n_t, n_c, tuning, alpha)
    if d is None or half is None:
        return None, None
    return d - half, d + half


def required_users_per_group(variance: float, effect_abs: float, alpha: float = 0.05, power: float = 0.8
                             ) -> float | None:
    """Users per group (two equal groups of variance `variance`) for the two-sided normal test to
    detect a true absolute difference `effect_abs` with probability `power`:
    n = 2·σ²·(z_{1−α/2} + z_power)² / effect². None when the effect is 0 or the variance unknown."""
    v, e = _variance(variance), _num(effect_abs)
    if v is None or e is None or e == 0.0:
        return None
    z = _z_two_sided(alpha) + normal_quantile(power)
    return 2.0 * v * z * z / (e * e)


def cuped_relative_interval(treatment: dict, control: dict, theta_x_bar: tuple[float, float] | None
                            ) -> tuple[float | None, float | None, float | None]:
    """(delta_rel, low, high) of the CUPED-adjusted values: m'_t/m'_c − 1 and relative_interval
    of the adjusted means and variances (y' keeps y's expectation, x being centred on the pooled
    x̄). Not a spec column: the pages' relative view with CUPED on. None where cuped_vs_control
    is None or the adjusted control mean is 0."""
    none = (None, None, None)
    se = _se(treatment.get("variance"), treatment.get("users"), control.get("variance"), control.get("users"))
    if theta_x_bar is None or se is None or se == 0.0:
        return none
    theta, x_bar = theta_x_bar
    m_t, v_t = cuped_moments(treatment.get("mean"), treatment.get("variance"), treatment.get("pre_mean"),
                             treatment.get("pre_variance"), treatment.get("covariance"), theta, x_bar)
    m_c, v_c = cuped_moments(control.get("mean"), control.get("variance"), control.get("pre_mean"),
                             control.get("pre_variance"), control.get("covariance"), theta, x_bar)
    if m_t is None or m_c is None or m_c == 0.0:
        return none
    low, high = relative_interval(m_t, v_t, treatment.get("users"), m_c, v_c, control.get("users"))
    return m_t / m_c - 1.0, low, high
