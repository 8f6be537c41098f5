"""Simulation benchmark: offline_online v2 on worlds whose truth is known.

    python bench/sim_offline_online.py [--worlds 1000] [--experiments 12] [--weeks 26] [--seed 1]

Every statistic is computed by the product's own functions: `offline_online.summarise_pairs`
(the table's row: pair-level r, experiment-level r and p-value, leave-one-experiment-out
columns), `stats.bh_adjust`, `offline_online.is_proxy` / `beats_baseline` (the rule of the page,
the weekly review and the report), `trends.week_over_week_prediction` and
`stats.diff_correlation`. Only the worlds are simulated here.

Pair worlds: `--experiments` experiments, each a control and two candidates (three variants, so
two pairs share a control). Candidate j's true relative online effect d_j ~ N(0, 0.03); the
measured online delta is d_j + e_j − e_c with the variant's and the control's measurement noise
e ~ N(0, 0.02) (the control's e_c is shared by both pairs). An offline metric's value per model:
- noise metric: N(0, 1), independent of everything online;
- predictive metric: d + N(0, 0.015) (the control's true effect is 0).
The offline delta of a pair is the candidate's value − the control's (the control's value is
shared, too).

A. Null worlds (offline independent of online): false-positive rate at 0.05 of the v2 p_value
   (experiment-level, n_experiments − 2 df) and of the v1 p-value (every pair, n_pairs − 2 df),
   one noise metric per world (independent trials); then with six noise metrics per world and
   BH over them, how often the weekly review would name a "best proxy": v1 rule (n_pairs ≥ 10,
   BH p < 0.05 on the pair p-values, Fisher lower bound > 0) against the v2 rule (is_proxy).
B. Planted worlds: one predictive and five noise metrics per world; how often each beats the
   baseline out of sample and how often it is named a proxy (BH over the six).
C. Weekly worlds (`--weeks` weeks of one block): the serving model changes in a week with
   probability 0.25.
   - predictive: the online level = offline level + N(0, 0.006) weekly noise, the offline level
     stepping by N(0.01, 0.02) at each model change;
   - trend-only: the offline level grows with the model's age (0.004 per week since the start at
     each change, plus N(0, 0.002)), the online level grows 0.002 per week (the market) plus
     N(0, 0.006) — both trend, neither drives the other.
   How often the week-over-week changes beat the baseline out of sample (expanding window), and
   how often the levels correlate (p < 0.05).

Every rate is printed with its 95 % Wilson interval. Runs in well under a minute at the
defaults on one core; progress goes to stderr.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from dashboard.engine import stats
from dashboard.engine.metrics.offline_online import beats_baseline, is_proxy, summarise_pairs
from dashboard.review import trends

SIGMA_EFFECT, SIGMA_MEASURE, PREDICTIVE_NOISE = 0.03, 0.02, 0.015
NOISE_METRICS = 5
ALPHA = 0.05


def pair_world(rng: np.random.Generator, experiments: int, predictive: bool) -> list[pd.DataFrame]:
    """The pairs of one world, one frame per offline metric (predictive first when planted)."""
    effect = rng.normal(0, SIGMA_EFFECT, (experiments, 2))
    measure = rng.normal(0, SIGMA_MEASURE, (experiments, 3))           # column 0: the control
    online = effect + measure[:, 1:] - measure[:, [0]]
    experiment_id = np.repeat([f"e{i:03d}" for i in range(experiments)], 2)
    metrics = []
    if predictive:
        value = np.column_stack([np.zeros(experiments), effect]) + rng.normal(0, PREDICTIVE_NOISE, (experiments, 3))
        metrics.append(value)
    for _ in range(NOISE_METRICS + (0 if predictive else 1)):
        metrics.append(rng.normal(0, 1, (experiments, 3)))
    return [pd.DataFrame({"experiment_id": experiment_id,
                          "offline_delta": (v[:, 1:] - v[:, [0]]).ravel(),
                          "online_delta": online.ravel()}) for v in metrics]


def v1_proxy(rows: list[dict], p_adj: list) -> list[bool]:
    """The v1 weekly-review rule on the pair-level statistics."""
    return [r["n_pairs"] >= 10 and p is not None and p < ALPHA and r["v1_ci_low"] is not None and r["v1_ci_low"] > 0
            for r, p in zip(rows, p_adj)]


def summarise_world(frames: list[pd.DataFrame]) -> list[dict]:
    rows = []
    for frame in frames:
        row = summarise_pairs(frame)
        v1 = stats.correlation_summary(frame["offline_delta"].tolist(), frame["online_delta"].tolist())
        row["v1_p"], row["v1_ci_low"] = v1["p_value"], v1["r_ci_low"]
        rows.append(row)
    for row, p in zip(rows, stats.bh_adjust([r["p_value"] for r in rows])):
        row["p_adj_bh"] = p
    return rows


def weekly_world(rng: np.random.Generator, weeks: int, kind: str) -> pd.DataFrame:
    change = rng.random(weeks) < 0.25
    change[0] = True
    t = np.arange(weeks)
    if kind == "predictive":
        steps = np.where(change, rng.normal(0.01, 0.02, weeks), 0.0)
        steps[0] = 0.3
        offline = np.cumsum(steps)
        online = offline + rng.normal(0, 0.006, weeks)
    else:
        last_change = np.maximum.accumulate(np.where(change, t, 0))
        age_value = 0.3 + 0.004 * last_change
        noise = np.where(change, rng.normal(0, 0.002, weeks), 0.0)
        offline = age_value + np.cumsum(noise)
        online = 0.05 + 0.002 * t + rng.normal(0, 0.006, weeks)
    return pd.DataFrame({"week_start": pd.date_range("2026-01-05", periods=weeks, freq="7D"),
                         "offline_value": offline, "online_value": online})


def rate(label: str, hits: int, n: int) -> str:
    low, high = stats.wilson_interval(hits, n)
    return f"  {label:<62} {hits:>5}/{n:<5} = {hits / n:6.3f}  [95 % Wilson {low:.3f}, {high:.3f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worlds", type=int, default=1000, help="worlds per scenario")
    parser.add_argument("--experiments", type=int, default=12, help="three-variant experiments per pair world")
    parser.add_argument("--weeks", type=int, default=26, help="weeks per weekly world")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()

    def progress(part: str, i: int) -> None:
        if (i + 1) % max(1, args.worlds // 4) == 0:
            print(f"{part}: {i + 1}/{args.worlds} worlds, {time.perf_counter() - started:.1f} s", file=sys.stderr)

    # A. null worlds
    new_fp = old_fp = old_named = new_named = noise_beats = noise_tests = 0
    for i in range(args.worlds):
        rows = summarise_world(pair_world(rng, args.experiments, predictive=False))
        first = rows[0]
        new_fp += first["p_value"] is not None and first["p_value"] < ALPHA
        old_fp += first["v1_p"] is not None and first["v1_p"] < ALPHA
        old_named += any(v1_proxy(rows, stats.bh_adjust([r["v1_p"] for r in rows])))
        new_named += any(is_proxy(r) for r in rows)
        noise_beats += sum(beats_baseline(r) for r in rows)
        noise_tests += len(rows)
        progress("null worlds", i)

    # B. planted worlds
    pred_beats = pred_named = pn_beats = pn_named = pn_tests = 0
    pred_acc, pred_base, pred_q2 = [], [], []
    for i in range(args.worlds):
        rows = summarise_world(pair_world(rng, args.experiments, predictive=True))
        planted, noise = rows[0], rows[1:]
        pred_beats += beats_baseline(planted)
        pred_named += is_proxy(planted)
        pred_acc.append(planted["loo_sign_accuracy"])
        pred_base.append(planted["baseline_accuracy"])
        pred_q2.append(planted["q2"])
        pn_beats += sum(beats_baseline(r) for r in noise)
        pn_named += sum(is_proxy(r) for r in noise)
        pn_tests += len(noise)
        progress("planted worlds", i)

    # C. weekly worlds
    w_pred_beats = w_trend_beats = w_trend_levels = w_pred_levels = 0
    for i in range(args.worlds):
        for kind in ("predictive", "trend-only"):
            frame = weekly_world(rng, args.weeks, kind)
            _, summary = trends.week_over_week_prediction(frame)
            levels = stats.diff_correlation(frame["offline_value"].tolist(), frame["online_value"].tolist())
            correlated = levels["p_levels"] is not None and levels["p_levels"] < ALPHA
            if kind == "predictive":
                w_pred_beats += summary["beats_baseline"]
                w_pred_levels += correlated
            else:
                w_trend_beats += summary["beats_baseline"]
                w_trend_levels += correlated
        progress("weekly worlds", i)

    n, e = args.worlds, args.experiments
    print(f"offline_online v2 on simulated worlds: {n} worlds per scenario, seed {args.seed}")
    print(f"A. null worlds: {e} three-variant experiments ({2 * e} pairs), offline independent of online")
    print(rate("false positives of p_value (v2, experiments, p < 0.05)", new_fp, n))
    print(rate("false positives of the v1 p-value (pairs' df, p < 0.05)", old_fp, n))
    print(rate("worlds where the v1 review rule names a noise 'best proxy' (6)", old_named, n))
    print(rate("worlds where the v2 rule (is_proxy) names a noise proxy (6)", new_named, n))
    print(rate("noise metrics that beat the baseline out of sample", noise_beats, noise_tests))
    print(f"B. planted worlds: {e} three-variant experiments, 1 predictive + {NOISE_METRICS} noise metrics")
    print(rate("predictive metric beats the baseline out of sample", pred_beats, n))
    print(rate("predictive metric named a proxy (v2 rule, BH over 6)", pred_named, n))
    print(rate("noise metrics that beat the baseline out of sample", pn_beats, pn_tests))
    print(rate("noise metrics named a proxy", pn_named, pn_tests))
    print(f"  predictive metric: mean loo_sign_accuracy {np.nanmean(np.array(pred_acc, dtype=float)):.3f}, "
          f"mean baseline_accuracy {np.nanmean(np.array(pred_base, dtype=float)):.3f}, "
          f"mean q2 {np.nanmean(np.array(pred_q2, dtype=float)):.3f}")
    print(f"C. weekly worlds: {args.weeks} weeks, week-over-week changes predicted from earlier weeks only")
    print(rate("predictive offline metric: changes beat the baseline", w_pred_beats, n))
    print(rate("trend-only offline metric: changes beat the baseline", w_trend_beats, n))
    print(rate("predictive offline metric: levels correlate (p < 0.05)", w_pred_levels, n))
    print(rate("trend-only offline metric: levels correlate (p < 0.05)", w_trend_levels, n))
    print(f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
