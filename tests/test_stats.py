"""Tests of dashboard/core/stats.py against the spec (experiments, offline_online, Exact rules).

Expected values are worked out by hand in the comments (Φ and t/χ² tail values are the
closed forms or table values named there); where hand arithmetic is impractical the result is
cross-checked against scipy's own implementations. The simulations are seeded, hence
deterministic, and each also checks that a deliberately wrong variant would fail it.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from dashboard.core.stats import (
    Z95,
    bh_adjust,
    correlation_summary,
    delta_vs_control,
    diff_correlation,
    mde,
    mde_rel,
    srm_p_value,
)

approx = pytest.approx

CORR_KEYS = {
    "n_pairs", "pearson_r", "p_value", "r_ci_low", "r_ci_high",
    "spearman_rho", "kendall_tau", "sign_agreement", "slope",
}
DELTA_KEYS = {"delta_abs", "delta_rel", "ci_low", "ci_high", "p_value"}


def assert_plain(d: dict) -> None:
    """Values are plain Python int/float/bool or None, never NaN/inf, never numpy scalars."""
    for k, v in d.items():
        assert v is None or type(v) in (int, float, bool), (k, type(v))
        if type(v) is float:
            assert math.isfinite(v), (k, v)


def test_z95_is_the_spec_constant():
    assert Z95 == 1.959964


# ---------------------------------------------------------------------------------------------
# delta_vs_control


def test_delta_vs_control_by_hand():
    # t: mean 12, s² 4, n 4 → s²/n = 1;  c: mean 10, s² 12, n 4 → s²/n = 3;  se = √(1+3) = 2
    # delta = 2, rel = 2/10 = 0.2, CI = 2 ∓ 1.959964·2 = [-1.919928, 5.919928]
    # z = 2/2 = 1 → p = 2·(1 − Φ(1)) = 2·(1 − 0.8413447460685429) = 0.3173105078629141
    d = delta_vs_control(12.0, 4.0, 4, 10.0, 12.0, 4)
    assert set(d) == DELTA_KEYS
    assert_plain(d)
    assert d["delta_abs"] == approx(2.0)
    assert d["delta_rel"] == approx(0.2)
    assert d["ci_low"] == approx(-1.919928, abs=1e-12)
    assert d["ci_high"] == approx(5.919928, abs=1e-12)
    assert d["p_value"] == approx(0.3173105078629141, rel=1e-12)


def test_delta_vs_control_negative_delta_and_p_at_z95():
    # var 50, n 100 in each group → se = √(50/100 + 50/100) = 1; delta = −Z95
    # → CI = [−2·Z95, 0], p = 2·(1 − Φ(1.959964)) = 0.05 (to ~1e-7, Z95 being rounded)
    d = delta_vs_control(10.0 - Z95, 50.0, 100, 10.0, 50.0, 100)
    assert d["delta_abs"] == approx(-Z95)
    assert d["delta_rel"] == approx(-Z95 / 10)
    assert d["ci_low"] == approx(-2 * Z95)
    assert d["ci_high"] == approx(0.0, abs=1e-12)
    assert d["p_value"] == approx(0.05, abs=1e-7)


def test_delta_vs_control_matches_scipy_on_data():
    rng = np.random.default_rng(7)
    t = rng.binomial(1, 0.12, 500).astype(float)
    c = rng.binomial(1, 0.10, 450).astype(float)
    d = delta_vs_control(t.mean(), t.var(ddof=1), t.size, c.mean(), c.var(ddof=1), c.size)
    se = math.sqrt(t.var(ddof=1) / t.size + c.var(ddof=1) / c.size)
    delta = t.mean() - c.mean()
    assert d["delta_abs"] == approx(delta)
    assert d["ci_low"] == approx(delta - 1.959964 * se)
    assert d["ci_high"] == approx(delta + 1.959964 * se)
    # Welch's z-test = normal approximation of the unequal-variance t-test statistic
    welch = st.ttest_ind(t, c, equal_var=False)
    assert abs(delta) / se == approx(abs(welch.statistic))
    assert d["p_value"] == approx(2 * st.norm.sf(abs(welch.statistic)), rel=1e-10)


@pytest.mark.parametrize("n_t,n_c", [(1, 10), (10, 1), (0, 10), (1, 1), (None, 10)])
def test_delta_vs_control_ci_and_p_null_below_two_users(n_t, n_c):
    d = delta_vs_control(3.0, 1.0, n_t, 2.0, 1.0, n_c)
    assert d["delta_abs"] == approx(1.0)  # the means are known, so the delta is
    assert d["delta_rel"] == approx(0.5)
    assert d["ci_low"] is None and d["ci_high"] is None and d["p_value"] is None


def test_delta_vs_control_zero_control_mean_gives_null_rel():
    d = delta_vs_control(0.5, 0.25, 10, 0.0, 0.0, 10)
    assert d["delta_abs"] == 0.5
    assert d["delta_rel"] is None
    # se = √(0.25/10 + 0) = 0.158113883 → still a CI and a p
    assert d["ci_low"] == approx(0.5 - Z95 * math.sqrt(0.025))
    assert d["p_value"] is not None


def test_delta_vs_control_zero_se():
    # both groups constant: se = 0 → CI [delta, delta]; p = 0 when delta ≠ 0, 1 when delta = 0
    d = delta_vs_control(1.0, 0.0, 5, 0.0, 0.0, 5)
    assert (d["ci_low"], d["ci_high"], d["p_value"]) == (1.0, 1.0, 0.0)
    assert d["delta_rel"] is None
    d = delta_vs_control(2.0, 0.0, 5, 2.0, 0.0, 5)
    assert (d["delta_abs"], d["delta_rel"], d["ci_low"], d["ci_high"], d["p_value"]) == (
        0.0, 0.0, 0.0, 0.0, 1.0)
    assert_plain(d)


def test_delta_vs_control_null_inputs():
    d = delta_vs_control(None, 1.0, 10, 2.0, 1.0, 10)
    assert all(v is None for v in d.values())
    d = delta_vs_control(float("nan"), 1.0, 10, 2.0, 1.0, 10)  # pandas' NULL
    assert all(v is None for v in d.values())
    d = delta_vs_control(3.0, None, 10, 2.0, 1.0, 10)  # unknown variance: no CI
    assert d["delta_abs"] == 1.0 and d["ci_low"] is None and d["p_value"] is None


def test_delta_vs_control_bad_inputs():
    from decimal import Decimal

    d = delta_vs_control(Decimal("3"), Decimal("2"), 8, Decimal("2"), Decimal("2"), 8)  # DuckDB DECIMAL
    assert d["delta_abs"] == 1.0 and type(d["delta_abs"]) is float
    with pytest.raises(ValueError):
        delta_vs_control(3.0, -1.0, 8, 2.0, 2.0, 8)  # negative variance
    with pytest.raises(ValueError):
        delta_vs_control(3.0, 1.0, 2.5, 2.0, 2.0, 8)  # fractional user count
    with pytest.raises(ValueError):
        delta_vs_control(math.inf, 1.0, 8, 2.0, 2.0, 8)


def test_delta_vs_control_accepts_numpy_scalars_returns_plain():
    d = delta_vs_control(np.float64(3), np.float64(2), np.int64(8), np.float64(2), np.float64(2), np.int64(8))
    assert_plain(d)
    # se = √(2/8 + 2/8) = √0.5; z = 1/√0.5 = √2
    assert d["p_value"] == approx(2 * st.norm.sf(math.sqrt(2)))


def test_null_ab_ci_coverage_simulation():
    """200 seeded null A/B tests (normal data, 200 users per arm): the 95 % CI of delta_abs
    covers the true 0 in 93–97 % of them. A wrong se (control variance forgotten) covers
    only ≈ 83 %, which this test would reject."""
    rng = np.random.default_rng(4)
    n, reps = 200, 200
    covered = wrong_covered = 0
    for _ in range(reps):
        t = rng.normal(1.0, 2.0, n)
        c = rng.normal(1.0, 2.0, n)
        d = delta_vs_control(t.mean(), t.var(ddof=1), n, c.mean(), c.var(ddof=1), n)
        covered += d["ci_low"] <= 0.0 <= d["ci_high"]
        wrong_half = Z95 * math.sqrt(t.var(ddof=1) / n)
        wrong_covered += abs(d["delta_abs"]) <= wrong_half
    assert 0.93 <= covered / reps <= 0.97
    assert not 0.93 <= wrong_covered / reps <= 0.97


# ---------------------------------------------------------------------------------------------
# srm_p_value


def test_srm_by_hand():
    # 50/50 on a 50/50 split: χ² = 0 → p = 1
    assert srm_p_value([50, 50], [0.5, 0.5]) == approx(1.0)
    # 60/40 on 50/50: χ² = 10²/50 + 10²/50 = 4, df 1 → p = P(|N(0,1)| > 2) = 2·(1 − Φ(2))
    #   = 2·(1 − 0.9772498680518208) = 0.0455002638963584
    assert srm_p_value([60, 40], [0.5, 0.5]) == approx(0.0455002638963584, rel=1e-10)
    # shares are normalised: [1, 1] and [50, 50] mean 50/50
    assert srm_p_value([60, 40], [1, 1]) == approx(0.0455002638963584, rel=1e-10)
    assert srm_p_value([60, 40], [50, 50]) == approx(0.0455002638963584, rel=1e-10)
    # 30/70 on 20/80: expected 20, 80 → χ² = 100/20 + 100/80 = 6.25 = 2.5², df 1
    #   → p = 2·(1 − Φ(2.5)) = 2·(1 − 0.9937903346742238) = 0.0124193306515524
    assert srm_p_value([30, 70], [0.2, 0.8]) == approx(0.0124193306515524, rel=1e-10)
    # a plain float, never numpy
    assert type(srm_p_value([30, 70], [0.2, 0.8])) is float


def test_srm_null_share_means_equal_split_and_zero_user_variant_counts():
    # [10, 10, 0], equal split: expected 20/3 each
    # χ² = 2·(10 − 20/3)²/(20/3) + (20/3)²/(20/3) = 2·(100/9)/(20/3) + 20/3 = 10/3 + 20/3 = 10
    # df = 2 → p = exp(−χ²/2) = e^−5 = 0.006737946999085467
    assert srm_p_value([10, 10, 0], [None, 0.5, 0.5]) == approx(math.exp(-5), rel=1e-10)
    assert srm_p_value([10, 10, 0], [None, None, None]) == approx(math.exp(-5), rel=1e-10)
    assert srm_p_value([10, 10, 0], [float("nan"), 0.3, 0.7]) == approx(math.exp(-5), rel=1e-10)


def test_srm_matches_scipy_chisquare():
    counts = [1012, 968, 1530]
    shares = [0.3, 0.3, 0.4]
    total = sum(counts)
    ref = st.chisquare(counts, f_exp=[total * s for s in shares])
    assert srm_p_value(counts, shares) == approx(ref.pvalue, rel=1e-10)
    counts = [120, 0, 95, 101]
    ref = st.chisquare(counts)  # equal split
    assert srm_p_value(counts, [None] * 4) == approx(ref.pvalue, rel=1e-10)


def test_srm_nulls_and_edges():
    assert srm_p_value([0, 0], [0.5, 0.5]) is None  # total 0
    assert srm_p_value([100], [1.0]) is None  # one variant
    assert srm_p_value([], []) is None
    # zero share: 0 users expected and seen → no contribution; users where none expected → p 0
    assert srm_p_value([50, 50, 0], [0.5, 0.5, 0.0]) == approx(1.0)
    assert srm_p_value([50, 49, 1], [0.5, 0.5, 0.0]) == 0.0
    with pytest.raises(ValueError):
        srm_p_value([1, 2], [0.5])
    with pytest.raises(ValueError):
        srm_p_value([1, 2], [1.5, -0.5])


# ---------------------------------------------------------------------------------------------
# mde / mde_rel


def test_mde_by_hand():
    # se = √(4/4 + 12/4) = 2; z_{0.975} = 1.959964 (Z95), z_{0.8} = Φ⁻¹(0.8) = 0.8416212335729143
    # mde = (1.959964 + 0.8416212335729143)·2 = 5.6031704671458286
    assert mde(4.0, 4, 12.0, 4) == approx(5.6031704671458286, rel=1e-12)
    assert mde_rel(4.0, 4, 12.0, 4, 10.0) == approx(0.56031704671458286, rel=1e-12)
    # power 0.5 → z_power = 0 → mde = CI half-width = Z95·se
    assert mde(4.0, 4, 12.0, 4, power=0.5) == approx(Z95 * 2, rel=1e-12)
    # α = 0.01 → z_{0.995} = 2.5758293035489 ; power 0.9 → z = 1.2815515655446004
    assert mde(4.0, 4, 12.0, 4, alpha=0.01, power=0.9) == approx(
        (2.5758293035489004 + 1.2815515655446004) * 2, rel=1e-12)


def test_mde_nulls():
    assert mde(4.0, 1, 12.0, 4) is None
    assert mde(4.0, 4, None, 4) is None
    assert mde_rel(4.0, 4, 12.0, 4, 0.0) is None
    assert mde_rel(4.0, 4, 12.0, 4, None) is None
    assert mde_rel(4.0, 4, 12.0, 4, -10.0) == approx(0.56031704671458286)  # divides by |mean|
    with pytest.raises(ValueError):
        mde(4.0, 4, 12.0, 4, alpha=0.0)
    with pytest.raises(ValueError):
        mde(4.0, 4, 12.0, 4, power=1.0)


def test_mde_detects_its_effect_with_the_stated_power():
    # the true effect equal to mde gives power 0.8: P(|Z + mde/se| > Z95) ≈ 0.8
    se = 2.0
    eff = mde(4.0, 4, 12.0, 4)
    power = st.norm.sf(Z95 - eff / se) + st.norm.cdf(-Z95 - eff / se)
    assert power == approx(0.8, abs=1e-4)  # the far tail adds ~6e-6


# ---------------------------------------------------------------------------------------------
# correlation_summary


def test_correlation_n3_by_hand():
    # x = [1,2,3], y = [2,4,7]: x̄ = 2, ȳ = 13/3
    # x−x̄ = [−1,0,1], y−ȳ = [−7/3,−1/3,8/3]; Sxy = 7/3 + 0 + 8/3 = 5; Sxx = 2; Syy = 114/9
    # r = 5/√(2·114/9) = 15/√228 = 0.9933992677987828; slope = Sxy/Sxx = 2.5
    # 1 − r² = 1 − 225/228 = 1/76; t = r·√(1/(1−r²)) = 15/√228·√76 = 15/√3 = 8.660254
    # df 1 = Cauchy: p = 1 − (2/π)·atan(t) = 0.0731863950...
    # ranks identical in order → rho = 1, tau = 1; all deltas > 0 → sign agreement 1
    # n = 3 < 4 → no Fisher interval
    d = correlation_summary([1, 2, 3], [2, 4, 7])
    assert set(d) == CORR_KEYS
    assert_plain(d)
    assert d["n_pairs"] == 3
    assert d["pearson_r"] == approx(15 / math.sqrt(228), rel=1e-12)
    assert d["p_value"] == approx(1 - 2 / math.pi * math.atan(15 / math.sqrt(3)), rel=1e-10)
    assert d["r_ci_low"] is None and d["r_ci_high"] is None
    assert d["spearman_rho"] == approx(1.0)
    assert d["kendall_tau"] == approx(1.0)
    assert d["sign_agreement"] == 1.0
    assert d["slope"] == approx(2.5)


def test_correlation_n4_by_hand():
    # x = [1,2,3,4], y = [1,3,2,4]: centred [−1.5,−.5,.5,1.5] and [−1.5,.5,−.5,1.5]
    # Sxy = 2.25 − .25 − .25 + 2.25 = 4, Sxx = Syy = 5 → r = 0.8, slope = 4/5 = 0.8
    # df 2: two-sided p = 1 − |t|/√(2 + t²), and with t² = 2r²/(1−r²) that is 1 − |r| = 0.2
    # Fisher: atanh 0.8 = ½ln 9 = ln 3; √(n−3) = 1 → [tanh(ln 3 − Z95), tanh(ln 3 + Z95)]
    # spearman: ranks = values → 0.8; kendall: pairs (2,3) discordant, 5 concordant → (5−1)/6
    d = correlation_summary([1, 2, 3, 4], [1, 3, 2, 4])
    assert_plain(d)
    assert d["pearson_r"] == approx(0.8, rel=1e-12)
    assert d["p_value"] == approx(0.2, rel=1e-10)
    assert d["r_ci_low"] == approx(math.tanh(math.log(3) - 1.959964), rel=1e-12)
    assert d["r_ci_high"] == approx(math.tanh(math.log(3) + 1.959964), rel=1e-12)
    assert d["r_ci_low"] == approx(-0.6969534532, abs=1e-9)
    assert d["spearman_rho"] == approx(0.8, rel=1e-12)
    assert d["kendall_tau"] == approx(4 / 6, rel=1e-12)
    assert d["slope"] == approx(0.8, rel=1e-12)


def test_kendall_tau_b_with_ties_by_hand_and_vs_scipy():
    # x = [1,1,2,3], y = [1,2,2,3]; 6 pairs: (1,2) tied in x, (2,3) tied in y, 4 concordant
    # tau-b = (C − D)/√((n0 − n1)(n0 − n2)) = 4/√(5·5) = 0.8
    d = correlation_summary([1, 1, 2, 3], [1, 2, 2, 3])
    assert d["kendall_tau"] == approx(0.8, rel=1e-12)
    assert d["kendall_tau"] == approx(st.kendalltau([1, 1, 2, 3], [1, 2, 2, 3]).statistic)
    # spearman with ties: average ranks x = [1.5,1.5,3,4], y = [1,2.5,2.5,4]
    assert d["spearman_rho"] == approx(st.spearmanr([1, 1, 2, 3], [1, 2, 2, 3]).statistic, rel=1e-12)


def test_correlation_vs_scipy_with_ties_and_negatives():
    rng = np.random.default_rng(11)
    for n in (5, 9, 30):
        x = rng.integers(-3, 4, n).astype(float)  # plenty of ties and zeros
        y = 0.5 * x + rng.integers(-2, 3, n)
        d = correlation_summary(list(x), list(y))
        pr = st.pearsonr(x, y)
        assert d["pearson_r"] == approx(pr.statistic, rel=1e-10)
        assert d["p_value"] == approx(pr.pvalue, rel=1e-8)
        assert d["spearman_rho"] == approx(st.spearmanr(x, y).statistic, rel=1e-10)
        assert d["kendall_tau"] == approx(st.kendalltau(x, y).statistic, rel=1e-10)  # tau-b
        assert d["slope"] == approx(st.linregress(x, y).slope, rel=1e-10)
        z = np.arctanh(pr.statistic)
        assert d["r_ci_low"] == approx(np.tanh(z - 1.959964 / math.sqrt(n - 3)), rel=1e-10)
        assert d["r_ci_high"] == approx(np.tanh(z + 1.959964 / math.sqrt(n - 3)), rel=1e-10)
        both = (x != 0) & (y != 0)
        assert d["sign_agreement"] == approx(np.mean(np.sign(x[both]) == np.sign(y[both])))


def test_correlation_n2_has_r_but_no_p():
    # two points lie on a line: r = rho = tau = −1; scipy's p for n = 2 is 1.0 (meaningless):
    # the spec says NULL. slope = (1 − 3)/(2 − 1) = −2. Both deltas positive in both pairs.
    d = correlation_summary([1, 2], [3, 1])
    assert d["n_pairs"] == 2
    assert (d["pearson_r"], d["spearman_rho"], d["kendall_tau"]) == (-1.0, -1.0, -1.0)
    assert d["p_value"] is None
    assert d["r_ci_low"] is None and d["r_ci_high"] is None
    assert d["slope"] == approx(-2.0)
    assert d["sign_agreement"] == 1.0


def test_correlation_n0_and_n1():
    d = correlation_summary([], [])
    assert d["n_pairs"] == 0
    assert all(d[k] is None for k in CORR_KEYS - {"n_pairs"})
    d = correlation_summary([0.1], [-0.2])
    assert d["n_pairs"] == 1
    assert all(d[k] is None for k in CORR_KEYS - {"n_pairs", "sign_agreement"})
    assert d["sign_agreement"] == 0.0  # one pair, opposite signs


def test_correlation_constant_sides():
    # constant online side: no correlations, p or interval; slope of a flat y is 0
    d = correlation_summary([1, 2, 3, 4, 5], [0.2, 0.2, 0.2, 0.2, 0.2])
    for k in ("pearson_r", "p_value", "r_ci_low", "r_ci_high", "spearman_rho", "kendall_tau"):
        assert d[k] is None, k
    assert d["slope"] == 0.0
    assert d["sign_agreement"] == 1.0
    # constant offline side (e.g. all pairs with equal models: offline delta 0)
    d = correlation_summary([0, 0, 0, 0, 0], [1, -2, 3, 4, 5])
    for k in ("pearson_r", "p_value", "r_ci_low", "r_ci_high", "spearman_rho", "kendall_tau", "slope"):
        assert d[k] is None, k
    assert d["sign_agreement"] is None  # every pair has a zero offline delta
    assert_plain(d)


def test_correlation_perfect_r_interval_collapses():
    # y = 2x: Sxy = 10, Sxx = 5, Syy = 20 → r = 10/√100 = 1 exactly; |r| = 1 → p 0, CI [1, 1]
    d = correlation_summary([1, 2, 3, 4], [2, 4, 6, 8])
    assert d["pearson_r"] == 1.0
    assert d["p_value"] == 0.0
    assert (d["r_ci_low"], d["r_ci_high"]) == (1.0, 1.0)
    d = correlation_summary([1, 2, 3, 4, 5], [5, 4, 3, 2, 1])
    assert d["pearson_r"] == -1.0
    assert (d["r_ci_low"], d["r_ci_high"]) == (-1.0, -1.0)
    assert_plain(d)


def test_sign_agreement_leaves_out_zero_deltas():
    # pairs (1,2) same, (−2,−1) same, (0,4) out, (3,−1) differ, (2,0) out → 2/3
    d = correlation_summary([1, -2, 0, 3, 2], [2, -1, 4, -1, 0])
    assert d["sign_agreement"] == approx(2 / 3)


def test_correlation_leaves_out_missing_pairs():
    full = correlation_summary([1, 2, 3, 4], [1, 3, 2, 4])
    d = correlation_summary([1, None, 2, 3, float("nan"), 4], [1, 5, 3, 2, 7, 4])
    assert d == full
    with pytest.raises(ValueError):
        correlation_summary([1, 2], [1, 2, 3])


def test_correlation_accepts_pandas_and_rejects_infinity():
    import pandas as pd

    x = pd.Series([1, 2, None, 3, 4], dtype="Float64")  # pd.NA, as from a nullable column
    y = pd.Series([1.0, 3.0, 5.0, 2.0, 4.0])
    d = correlation_summary(x, y)
    assert d == correlation_summary([1, 2, 3, 4], [1, 3, 2, 4])
    assert_plain(d)
    with pytest.raises(ValueError):
        correlation_summary([1, 2, math.inf], [1, 2, 3])


# ---------------------------------------------------------------------------------------------
# bh_adjust


def test_bh_textbook_example():
    # p = [0.01, 0.04, 0.03, 0.005], m = 4; sorted 0.005, 0.01, 0.03, 0.04 (ranks 1..4)
    # p·m/rank = 0.02, 0.02, 0.04, 0.04; running min from the top keeps them
    # → back in the original order: [0.02, 0.04, 0.04, 0.02]
    assert bh_adjust([0.01, 0.04, 0.03, 0.005]) == approx([0.02, 0.04, 0.04, 0.02])


def test_bh_step_up_monotone_and_ties():
    # p = [0.01, 0.02, 0.025]: p·3/rank = 0.03, 0.03, 0.025 → min over j ≥ i: all 0.025
    assert bh_adjust([0.01, 0.02, 0.025]) == approx([0.025, 0.025, 0.025])
    # ties: [0.02, 0.02] → 0.04, 0.02 → both 0.02
    assert bh_adjust([0.02, 0.02]) == approx([0.02, 0.02])
    # large p: sorted 0.5, 0.8, 0.9 → 1.5, 1.2, 0.9 → all 0.9 (never above 1)
    assert bh_adjust([0.5, 0.9, 0.8]) == approx([0.9, 0.9, 0.9])
    assert bh_adjust([1.0, 1.0, 0.0]) == approx([1.0, 1.0, 0.0])


def test_bh_with_nones():
    # m = 4 (the non-null ones), so the textbook example again, Nones in place
    out = bh_adjust([None, 0.01, None, 0.04, 0.03, float("nan"), 0.005])
    assert out[0] is None and out[2] is None and out[5] is None
    assert [out[i] for i in (1, 3, 4, 6)] == approx([0.02, 0.04, 0.04, 0.02])
    assert all(v is None or type(v) is float for v in out)
    assert bh_adjust([]) == []
    assert bh_adjust([None, None]) == [None, None]
    assert bh_adjust([0.3]) == [0.3]
    with pytest.raises(ValueError):
        bh_adjust([0.1, 1.2])


def test_bh_matches_scipy():
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(size=40), rng.uniform(0, 0.01, 10)])
    assert bh_adjust(list(p)) == approx(list(st.false_discovery_control(p, method="bh")), rel=1e-12)


def test_bh_null_offline_online_grid_simulation():
    """20 independent uncorrelated (offline, online) metric pairs with n = 15 experiment pairs,
    200 seeded replications: under BH < 5 % of the cells are significant at 0.05 (under the
    global null BH keeps the chance of any rejection ≈ 5 %, so in fact far fewer cells).
    The unadjusted p-values are uniform (≈ 5 % below 0.05), and the BH share is far below."""
    rng = np.random.default_rng(0)
    reps, cells, n = 200, 20, 15
    bh_sig = raw_sig = any_bh = 0
    for _ in range(reps):
        ps = [correlation_summary(rng.normal(size=n), rng.normal(size=n))["p_value"] for _ in range(cells)]
        adj = bh_adjust(ps)
        bh_sig += sum(p < 0.05 for p in adj)
        raw_sig += sum(p < 0.05 for p in ps)
        any_bh += any(p < 0.05 for p in adj)
    assert bh_sig / (reps * cells) < 0.05
    assert bh_sig / (reps * cells) < 0.01
    assert any_bh / reps <= 0.08  # FWER ≈ 0.05 under the global null
    assert 0.03 < raw_sig / (reps * cells) < 0.07  # p-values calibrated; raw would be ≈ 5 %


# ---------------------------------------------------------------------------------------------
# diff_correlation


def test_diff_correlation_shared_trend_by_hand():
    # weekly changes da = [1,1,2,2,1,1,2,2], db = [1,2,2,1,1,2,2,1] (same mean 1.5)
    # centred: [−.5,−.5,.5,.5,...] and [−.5,.5,.5,−.5,...]: products alternate ±.25 → Sxy = 0
    # → r_diffs = 0, t = 0, p_diffs = 1; the levels (cumulative sums) both trend up → r ≈ 0.99
    a = [0, 1, 2, 4, 6, 7, 8, 10, 12]
    b = [0, 1, 3, 5, 6, 7, 9, 11, 12]
    d = diff_correlation(a, b)
    assert set(d) == {"n", "r_levels", "p_levels", "r_diffs", "p_diffs", "shared_trend_warning"}
    assert_plain(d)
    assert d["n"] == 9
    assert d["r_diffs"] == approx(0.0, abs=1e-15)
    assert d["p_diffs"] == approx(1.0)
    pr = st.pearsonr(a, b)
    assert d["r_levels"] == approx(pr.statistic, rel=1e-12)
    assert d["p_levels"] == approx(pr.pvalue, rel=1e-8)
    assert d["p_levels"] < 0.05
    assert d["shared_trend_warning"] is True


def test_diff_correlation_gaps_and_no_warning():
    # week 2 of a is NULL: levels use weeks 1,3,4,5 → x = [1,3,4,6], y = [2,1,2,4]
    # centred x [−2.5,−.5,.5,2.5], y [−.25,−1.25,−.25,1.75]: Sxy = 5.5, Sxx = 13, Syy = 4.75
    # r = 5.5/√61.75 = 0.6999132; n = 4 → p = 1 − |r| = 0.3000868 (not significant → no warning)
    # differences only across unbroken weeks 3→4, 4→5: da = [1, 2], db = [1, 2] → r = 1, n 2 → p None
    d = diff_correlation([1, None, 3, 4, 6], [2, 5, 1, 2, 4])
    assert d["n"] == 4
    assert d["r_levels"] == approx(5.5 / math.sqrt(61.75), rel=1e-12)
    assert d["p_levels"] == approx(1 - 5.5 / math.sqrt(61.75), rel=1e-10)
    assert d["r_diffs"] == 1.0
    assert d["p_diffs"] is None
    assert d["shared_trend_warning"] is False


def test_diff_correlation_real_co_movement_no_warning():
    # b moves with a week by week: differences correlate too → no warning
    rng = np.random.default_rng(5)
    steps = rng.normal(size=30)
    a = np.cumsum(steps)
    b = np.cumsum(steps + 0.3 * rng.normal(size=30))
    d = diff_correlation(list(a), list(b))
    assert d["p_levels"] < 0.05 and d["p_diffs"] < 0.05
    assert d["shared_trend_warning"] is False


def test_diff_correlation_pure_trends_warn_even_without_diff_p():
    # two straight lines a = [1..6], b = 2a + 1 = [3,5,..,13]
    # levels: r = 1 exactly (Sxy = 2·Sxx, Syy = 4·Sxx) → p = 0; differences [1]*5 and [2]*5 are
    # constant → r_diffs and p_diffs NULL: the correlation is all shared trend → warning
    d = diff_correlation([1, 2, 3, 4, 5, 6], [3, 5, 7, 9, 11, 13])
    assert (d["r_levels"], d["p_levels"]) == (1.0, 0.0)
    assert d["r_diffs"] is None and d["p_diffs"] is None
    assert d["shared_trend_warning"] is True


def test_diff_correlation_short_and_constant():
    d = diff_correlation([1.0], [2.0])
    assert d == dict(n=1, r_levels=None, p_levels=None, r_diffs=None, p_diffs=None,
                     shared_trend_warning=False)
    d = diff_correlation([1, 2, 3, 4], [5, 5, 5, 5])
    assert d["r_levels"] is None and d["r_diffs"] is None and d["shared_trend_warning"] is False
    with pytest.raises(ValueError):
        diff_correlation([1, 2], [1])


def test_random_walks_correlate_in_levels_not_in_differences():
    """Two independent Gaussian random walks of 52 weeks, 200 seeded replications:
    |r| > 0.5 in levels in a large share (spurious, ≈ 40 %), in differences almost never."""
    rng = np.random.default_rng(0)
    reps = 200
    big_levels = big_diffs = warnings = 0
    for _ in range(reps):
        a = np.cumsum(rng.normal(size=52))
        b = np.cumsum(rng.normal(size=52))
        d = diff_correlation(list(a), list(b))
        big_levels += abs(d["r_levels"]) > 0.5
        big_diffs += abs(d["r_diffs"]) > 0.5
        warnings += d["shared_trend_warning"]
    assert big_levels / reps > 0.25
    assert big_diffs / reps < 0.02
    assert big_levels > 10 * max(big_diffs, 1)
    assert warnings / reps > 0.4  # most random-walk pairs look "significant" in levels


# --- v2: relative interval, CUPED, always-valid interval, planner --------------------------------

def test_relative_interval_null_rules():
    from dashboard.core.stats import relative_interval

    assert relative_interval(1.0, 1.0, 10, 0.0, 1.0, 10) == (None, None)  # m_c = 0
    assert relative_interval(1.0, 1.0, 1, 2.0, 1.0, 10) == (None, None)  # n_t < 2
    assert relative_interval(1.0, None, 10, 2.0, 1.0, 10) == (None, None)


def test_relative_interval_by_hand():
    from dashboard.core.stats import relative_interval

    # m_t 3, s²_t 4, n_t 100; m_c 2, s²_c 1, n_c 50: rel = 0.5
    # var = 4/(100·4) + 9·1/(50·16) = 0.01 + 0.01125 = 0.02125; √ = 0.145774; × 1.959964 = 0.285712
    lo, hi = relative_interval(3.0, 4.0, 100, 2.0, 1.0, 50)
    assert lo == pytest.approx(0.5 - 0.285712, abs=1e-6)
    assert hi == pytest.approx(0.5 + 0.285712, abs=1e-6)


def test_cuped_theta_pools_groups_by_hand():
    from dashboard.core.stats import cuped_theta

    # group 1: x 0, 2 (mean 1, s² 2), y 1, 3 (mean 2), cov = ((−1)(−1) + (1)(1))/1 = 2
    # group 2: x 4 (one user, s² NULL), y 2 (cov NULL)
    # pooled x̄ = 6/3 = 2, ȳ = 6/3 = 2; Σ(x − x̄)² = 4 + 0 + 4 = 8; Σ(x − x̄)(y − ȳ) = (−2)(−1) + 0·1 + 2·0 = 2
    # θ = 2/8 = 0.25
    theta, x_bar = cuped_theta([
        dict(users=2, mean=2.0, pre_mean=1.0, pre_variance=2.0, covariance=2.0),
        dict(users=1, mean=2.0, pre_mean=4.0, pre_variance=None, covariance=None),
    ])
    assert theta == pytest.approx(0.25)
    assert x_bar == pytest.approx(2.0)


def test_cuped_theta_none_when_x_is_constant():
    from dashboard.core.stats import cuped_theta

    assert cuped_theta([dict(users=3, mean=1.0, pre_mean=0.1, pre_variance=0.0, covariance=0.0),
                        dict(users=5, mean=2.0, pre_mean=0.1, pre_variance=0.0, covariance=0.0)]) is None
    assert cuped_theta([dict(users=0, mean=None, pre_mean=None, pre_variance=None, covariance=None)]) is None


def test_cuped_vs_control_none_when_raw_se_is_zero():
    from dashboard.core.stats import CUPED_KEYS, cuped_vs_control

    t = dict(users=3, mean=1.0, variance=0.0, pre_mean=1.0, pre_variance=1.0, covariance=0.0)
    c = dict(users=3, mean=1.0, variance=0.0, pre_mean=2.0, pre_variance=1.0, covariance=0.0)
    assert cuped_vs_control(t, c, (0.5, 1.5)) == dict.fromkeys(CUPED_KEYS)


def test_sequential_half_width_by_hand_and_null():
    from dashboard.core.stats import sequential_half_width, sequential_interval

    # se 0.1, n 50 + 50 = 100 = N*: σ = 1; ρ² = 7.936157/100 = 0.0793616; Nρ² = 7.936157
    # 2(8.936157)/(10000 × 0.0793616) = 0.0225200; ln(√8.936157/0.05) = 4.090784
    # half = √(0.0225200 × 4.090784) = √0.0921244 = 0.303520
    assert sequential_half_width(0.1, 50, 50, tuning=100) == pytest.approx(0.303520, abs=1e-5)
    assert sequential_interval(0.2, None, 50, 50) == (None, None)
    # always wider than the fixed 95 % interval (1.959964 × 0.1)
    assert sequential_half_width(0.1, 50, 50, tuning=100) > 0.1959964


def test_required_users_per_group_by_hand():
    from dashboard.core.stats import required_users_per_group

    # σ² = 0.25, effect 0.05: n = 2 × 0.25 × (1.959964 + 0.841621)² / 0.0025 = 0.5 × 7.848879 / 0.0025 = 1569.78
    assert required_users_per_group(0.25, 0.05) == pytest.approx(1569.776, abs=0.01)
    assert required_users_per_group(0.25, 0.0) is None


# --- offline_online v2: experiment-level correlation, held-out prediction, Wilson -------------
from dashboard.core import stats  # noqa: E402


def test_experiment_correlation_averages_pairs_per_experiment():
    # a: pairs (1, 1) and (−1, −1) → point (0, 0); b: (2, 1); c: (−2, 0.5)
    # points x [0, 2, −2], y [0, 1, 0.5]: x̄ 0, ȳ 0.5; Sxy = 0 + 2·0.5 + (−2)·0 = 1, Sxx 8,
    # Syy = 0.25 + 0.25 + 0 = 0.5 → r = 1/√4 = 0.5; 1 df: p = 1 − (2/π)·atan(t), t = 0.5·√(1/0.75)
    # = 0.577350 → atan = π/6 → p = 1 − 1/3 = 0.666667; n = 3 < 4 → no interval
    out = stats.experiment_correlation(["a", "a", "b", "c"], [1, -1, 2, -2], [1, -1, 1, 0.5])
    assert out["n_experiments"] == 3
    assert out["r_experiments"] == pytest.approx(0.5)
    assert out["p_value"] == pytest.approx(2 / 3)
    assert out["r_ci_low"] is None and out["r_ci_high"] is None


def test_experiment_correlation_missing_and_degenerate():
    # a None on either side leaves the pair out before grouping: only b and c remain → 2 points,
    # r = ±1 but no p (n < 3)
    out = stats.experiment_correlation(["a", "b", "c"], [None, 1, 2], [1, 1, 3])
    assert out["n_experiments"] == 2 and out["r_experiments"] == 1.0 and out["p_value"] is None
    # all experiments with the same mean offline delta: constant → r NULL
    out = stats.experiment_correlation(["a", "a", "b"], [1, -1, 0], [1, 2, 3])
    assert out["n_experiments"] == 2 and out["r_experiments"] is None
    assert stats.experiment_correlation([], [], [])["n_experiments"] == 0
    with pytest.raises(ValueError):
        stats.experiment_correlation(["a"], [1, 2], [1, 2])


def test_loo_predictions_hold_out_whole_experiments_and_skip_unfittable():
    # experiments a (x 0, 1), b (x 2), c (x 2): y = x + 1 exactly on a, b; c is off the line.
    # − a held out: fit on b, c: x [2, 2] constant → skipped (NaN)
    # − b held out: fit on a, c: x [0, 1, 2], y [1, 2, 5]: x̄ 1, ȳ 8/3;
    #   xm [−1, 0, 1], ym [−5/3, −2/3, 7/3] → Sxy = 5/3 + 7/3 = 4, Sxx 2 → b 2, a 8/3 − 2 = 2/3;
    #   ŷ(2) = 14/3; ȳ₋ₑ = 8/3
    # − c held out: fit on a, b: x [0, 1, 2], y [1, 2, 3] → b 1, a 1; ŷ(2) = 3; ȳ₋ₑ = 2
    yhat, ybar = stats.loo_predictions(["a", "a", "b", "c"], [0, 1, 2, 2], [1, 2, 3, 5])
    assert np.isnan(yhat[:2]).all() and np.isnan(ybar[:2]).all()
    assert yhat[2:] == pytest.approx([14 / 3, 3])
    assert ybar[2:] == pytest.approx([8 / 3, 2])
    # one experiment only: nothing to learn from
    yhat, _ = stats.loo_predictions(["a", "a"], [0, 1], [1, 2])
    assert np.isnan(yhat).all()


def test_prediction_summary_by_hand():
    # y [1, −1, 2, 0, 3], ŷ [0.5, 0.5, 1, 1, NaN], ȳ [1, 1, 1, 1, NaN]
    # predicted: the first 4 (loo_pairs 4); signs where y ≠ 0 and ŷ ≠ 0: first 3 → hits 1, 3 → 2/3;
    # their y: + − + → baseline 2/3; q2 = 1 − (0.25 + 2.25 + 1 + 1) / (0 + 4 + 1 + 1) = 1 − 4.5/6 = 0.25
    out = stats.prediction_summary([1, -1, 2, 0, 3], [0.5, 0.5, 1, 1, None], [1, 1, 1, 1, None])
    assert out["loo_pairs"] == 4 and (out["sign_pairs"], out["sign_hits"]) == (3, 2)
    assert out["loo_sign_accuracy"] == pytest.approx(2 / 3)
    assert out["baseline_accuracy"] == pytest.approx(2 / 3)
    assert out["q2"] == pytest.approx(0.25)
    # nothing predicted → counts 0, the rest NULL; all y equal to the held-out mean → q2 NULL
    empty = stats.prediction_summary([1.0], [None], [None])
    assert empty == dict(loo_pairs=0, loo_sign_accuracy=None, baseline_accuracy=None, q2=None,
                         sign_pairs=0, sign_hits=0)
    assert stats.prediction_summary([1, 1], [2, 0], [1, 1])["q2"] is None


def test_expanding_predictions_use_only_earlier_points():
    # x [1, 2, 3, 4, 5], y [1, 2, 3, 10, 5]; point i is fitted on points < i:
    # 0, 1: fewer than 2 earlier points → NaN; 2: fit on (1,1), (2,2) → ŷ 3, ȳ 1.5;
    # 3: fit on y = x (3 points) → ŷ 4, ȳ 2 — the outlier y 10 is not used to predict itself;
    # 4: fit on x [1..4], y [1, 2, 3, 10]: x̄ 2.5, ȳ 4; xm [−1.5, −0.5, 0.5, 1.5], ym [−3, −2, −1, 6]
    #    Sxy = 4.5 + 1 − 0.5 + 9 = 14, Sxx 5 → b 2.8, a 4 − 7 = −3; ŷ(5) = 11, ȳ 4
    yhat, ybar = stats.expanding_predictions([1, 2, 3, 4, 5], [1, 2, 3, 10, 5])
    assert np.isnan(yhat[:2]).all()
    assert yhat[2:] == pytest.approx([3, 4, 11])
    assert ybar[2:] == pytest.approx([1.5, 2, 4])
    # a missing point is neither predicted nor learnt from
    yhat, _ = stats.expanding_predictions([1, 2, None, 3], [1, 2, 50, 3])
    assert np.isnan(yhat[2]) and yhat[3] == pytest.approx(3)


def test_wilson_interval_textbook():
    # 8 of 10 (Wilson 1927; e.g. Newcombe 1998 table I): [0.4902, 0.9433]
    low, high = stats.wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    # 0 of 10: lower bound exactly 0, upper z²/(n + z²) = 3.841459/13.841459 = 0.277533
    low, high = stats.wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.277533, abs=1e-6)
    assert stats.wilson_interval(0, 0) == (None, None)
    with pytest.raises(ValueError):
        stats.wilson_interval(3, 2)
