"""How numbers look on the KPI cards and in the review (dashboard/formatting.py)."""
from __future__ import annotations

from dashboard.formatting import format_change, format_change_size, format_value, is_no_change


def test_a_change_of_plus_zero_minutes_is_no_change():
    # Regression: +0.03 min was shown "+0.0 min", in red on a lower-is-better card.
    assert format_change(0.03, "minutes") == "0.0 min"
    assert format_change(-0.04, "minutes") == "0.0 min"
    assert format_change(0.0004, "share") == "0.0 pp"  # 0.04 pp rounds to 0.0 pp
    assert format_change(-0.0004, "share") == "0.0 pp"  # not "-0.0 pp"
    assert format_change(0, "count") == "0"
    assert all(is_no_change(t) for t in ("0.0 min", "0.0 pp", "0", "0.00"))


def test_a_real_change_keeps_its_sign():
    assert format_change(0.7, "minutes") == "+0.7 min"
    assert format_change(-0.06, "minutes") == "-0.1 min"
    assert format_change(0.023, "share") == "+2.3 pp"
    assert format_change(-0.004, "ratio") == "-0.004"
    assert not any(is_no_change(t) for t in ("+0.7 min", "-0.1 min", "+2.3 pp", "-0.004", "+10"))
    assert format_change(None, "money") is None and not is_no_change(None)


def test_contribution_is_compact_like_the_other_money_cards():
    # Regression: Contribution showed "-145.13" beside "18.6 k".
    assert format_value(-145.13, "money") == "-145"
    assert format_value(18_600.4, "money") == "18.6 k"
    assert format_value(2_345_000, "money") == "2.35 M"
    assert format_value(1_234.5, "money") == "1,234"  # 1,234.5 → whole units from 100 up
    assert format_value(35.27, "money") == "35.27"  # cents only below 100 (an average order)
    assert format_change(-145.13, "money") == "-145"


def test_the_usual_weekly_change_of_a_share_is_in_percentage_points():
    # a conversion that usually moves by 0.012 per week moves by 1.2 pp, not by "1.2 %"
    assert format_change_size(0.012, "share") == "1.2 pp"
    assert format_change_size(2500.0, "money") == "2,500"
    assert format_change_size(float("nan"), "share") == "—"


def test_the_report_says_a_shares_usual_weekly_change_in_points():
    from types import SimpleNamespace

    from dashboard.review.report import _what_moved

    headline = SimpleNamespace(stakeholder="Buyers", label="Buyer conversion", kind="share")
    moved = SimpleNamespace(headline=headline, change=0.031, value=0.142, noise=0.012, good=True)
    text = _what_moved(SimpleNamespace(what_moved=[moved]))
    assert "+3.1 pp" in text and "usual weekly change ±1.2 pp" in text and "1.2 %" not in text
