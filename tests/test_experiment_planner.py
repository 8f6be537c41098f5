"""Power planner (dashboard/core/experiment_planner.py): the formula, worked by hand."""
from __future__ import annotations

import pandas as pd
import pytest

from dashboard.core import experiment_planner


def _details():
    # two experiments on home_feed: controls of 1000 and 3000 users; conversion means 0.04 and 0.06,
    # variances 0.0384 and 0.0564; variance reductions of the treatments 0.3 and 0.5 (median 0.4)
    return pd.DataFrame(dict(
        experiment_id=["E1", "E1", "E2", "E2", "E3"], variant=["A", "B", "A", "B", "A"], block=["home_feed"] * 4 + ["similar_items"],
        metric="conversion", is_control=[True, False, True, False, True], users=[1000, 1000, 3000, 3000, 50],
        mean=[0.04, 0.05, 0.06, 0.06, 0.9], variance=[0.0384, 0.0475, 0.0564, 0.0564, 0.09],
        variance_reduction=[None, 0.3, None, 0.5, None]))


def test_plan_by_hand():
    weekly = pd.DataFrame(dict(block=["home_feed"] * 4 + ["ALL"], rec_users=[100, 5000, 6000, 7000, 99999]))
    p = experiment_planner.plan(_details(), weekly, "home_feed", "conversion", 0.10)
    # users per week: median of 100, 5000, 6000, 7000 = 5500
    assert p.users_per_week == pytest.approx(5500)
    # baseline = (0.04 × 1000 + 0.06 × 3000)/4000 = 0.055; variance = (38.4 + 169.2)/4000 = 0.0519
    assert p.baseline_mean == pytest.approx(0.055)
    assert p.variance == pytest.approx(0.0519)
    # effect 0.0055; n = 2 × 0.0519 × (1.959964 + 0.841621)² / 0.0055² = 0.1038 × 7.848879 / 0.00003025 = 26932.5
    assert p.users_per_group == pytest.approx(26932.5, rel=1e-4)
    # weeks = ⌈2 × 26932.5 / 5500⌉ = ⌈9.79⌉ = 10
    assert p.weeks == 10
    # CUPED: median reduction 0.4 → n × 0.6 = 16159.5 → ⌈32319 / 5500⌉ = ⌈5.88⌉ = 6
    assert p.variance_reduction == pytest.approx(0.4)
    assert p.users_per_group_cuped == pytest.approx(16159.5, rel=1e-4)
    assert p.weeks_cuped == 6
    assert "about 10 weeks" in experiment_planner.plan_sentence(p) and "about 6 weeks" in experiment_planner.plan_sentence(p)


def test_plan_without_baseline_or_users():
    p = experiment_planner.plan(_details(), None, "cart_upsell", "conversion", 0.1)
    assert p.weeks is None and "no baseline" in experiment_planner.plan_sentence(p)
    assert experiment_planner.weeks_needed(100.0, 0) is None


def test_blocks_by_traffic():
    # home_feed: E1 1000 + 1000, E2 3000 + 3000 = 8000 assigned users; similar_items 50
    assert experiment_planner.blocks_by_traffic(_details()) == ["home_feed", "similar_items"]
