"""Verdicts of the Experiments page and the weekly review (dashboard/core/experiment_review.py):
relative intervals from the table's delta-method columns, the CUPED toggle, running experiments
judged on their always-valid interval. Hand-built details rows; the numbers are the inputs."""
from __future__ import annotations

import pandas as pd
import pytest

from dashboard.core import experiment_review


def _row(**kw):
    base = dict(experiment_id="E", name="e", block="home_feed", variant="B", metric="conversion", users=1000,
                is_control=False, mean=0.11, control_mean=0.10, delta_abs=0.01, delta_rel=0.10,
                ci_low=-0.002, ci_high=0.022, p_value=0.10, srm_p_value=0.5, mde_rel=0.15, mde_abs=0.015,
                ci_low_rel=-0.05, ci_high_rel=0.25, p_adj_bh=0.2,
                delta_abs_cuped=0.012, ci_low_cuped=0.004, ci_high_cuped=0.020, p_value_cuped=0.003,
                variance_reduction=0.5564, delta_rel_cuped=0.12, ci_low_rel_cuped=0.03, ci_high_rel_cuped=0.21,
                ci_low_seq=-0.03, ci_high_seq=0.05, running=False, start_ts=pd.Timestamp("2026-03-02"),
                end_ts=pd.Timestamp("2026-03-09"))
    base.update(kw)
    return base


def _details(*rows):
    control = dict(_row(), variant="A", is_control=True)
    return pd.DataFrame([control, *rows])


def test_relative_interval_comes_from_the_table_not_from_dividing():
    out = experiment_review.review(_details(_row()), "conversion")
    r = out.iloc[0]
    # the table's delta-method interval, not ci_low / control_mean = -0.02
    assert (r.ci_low_rel, r.ci_high_rel) == (pytest.approx(-0.05), pytest.approx(0.25))
    assert r.interval == "raw"
    assert r.p_adj_bh_experiment == pytest.approx(0.2)  # the table's within-experiment adjustment kept
    assert r.verdict.startswith("inconclusive")


def test_cuped_toggle_changes_interval_and_verdict():
    raw = experiment_review.review(_details(_row()), "conversion", cuped=False).iloc[0]
    adjusted = experiment_review.review(_details(_row()), "conversion", cuped=True).iloc[0]
    assert raw.verdict.startswith("inconclusive")
    # one variant shown: BH over one p-value leaves p_value_cuped 0.003 < 0.05, delta > 0
    assert adjusted.verdict == "better than control"
    assert adjusted.interval == "CUPED"
    assert (adjusted.ci_low_rel, adjusted.ci_high_rel) == (pytest.approx(0.03), pytest.approx(0.21))
    assert adjusted.delta_abs == pytest.approx(0.012)
    # variance reduction 0.5564 → width × √(1 − 0.5564) = × 0.666033: narrowed by 33.4 %
    assert adjusted.cuped_narrowed == pytest.approx(0.333967, abs=1e-5)
    assert adjusted.mde_rel == pytest.approx(0.15 * 0.666033, abs=1e-5)


def test_cuped_toggle_keeps_raw_where_cuped_is_null():
    row = _row(delta_abs_cuped=None, ci_low_cuped=None, ci_high_cuped=None, p_value_cuped=None,
               variance_reduction=None, delta_rel_cuped=None, ci_low_rel_cuped=None, ci_high_rel_cuped=None)
    r = experiment_review.review(_details(row), "conversion", cuped=True).iloc[0]
    assert r.interval == "raw" and r.delta_abs == pytest.approx(0.01)


@pytest.mark.parametrize("seq, expected", [
    ((0.001, 0.03), "can stop: B wins"),
    ((-0.03, -0.001), "can stop: B loses"),
    # meaningful 2 % of the control mean 0.10 = ±0.002
    ((-0.0015, 0.0019), "can stop: no effect larger than ±2% is likely"),
    ((-0.03, 0.05), "keep running"),
])
def test_running_experiment_verdict_on_the_always_valid_interval(seq, expected):
    row = _row(running=True, ci_low_seq=seq[0], ci_high_seq=seq[1])
    r = experiment_review.review(_details(row), "conversion", meaningful_rel=0.02, cuped=True).iloc[0]
    assert r.verdict == expected
    assert r.interval == "always-valid"
    assert (r.ci_low, r.ci_high) == (pytest.approx(seq[0]), pytest.approx(seq[1]))
    # relative: the absolute always-valid interval / control mean 0.10, so that it agrees with the verdict
    assert (r.ci_low_rel, r.ci_high_rel) == (pytest.approx(seq[0] / 0.10), pytest.approx(seq[1] / 0.10))
