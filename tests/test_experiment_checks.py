"""Experiments of the input that produce no rows are named with the reason: in export, report and
on the Experiments page (dashboard/core/experiment_checks.py)."""
from __future__ import annotations

import datetime as dt

import pytest

from dashboard.core.context import MetricContext
from dashboard.core.experiment_checks import dropped_experiments
from dashboard.core.params import Params
from tests.test_experiments import E1_ASSIGNMENTS, E1_EVENTS, E1_EXPERIMENTS, E1_ORDERS, E1_VARIANTS


def _experiment(eid, block="home_feed", start="2026-03-02 00:00:00", end="2026-03-09 00:00:00"):
    return dict(experiment_id=eid, name=eid, block=block, start_ts=start, end_ts=end)


TABLES = {
    "events": E1_EVENTS,
    "orders": E1_ORDERS,
    "experiments": E1_EXPERIMENTS + [
        _experiment("exp-07"),  # both variant rows have a traffic_share that is no number
        _experiment("exp-08", end="not a date"),  # its own row is rejected
        _experiment("exp-09"),  # no variant rows at all
        _experiment("exp-10", block="similar_items"),  # fine, but left out by a block filter below
    ],
    "experiment_variants": E1_VARIANTS + [
        dict(experiment_id="exp-07", variant="A", model_version="m0", is_control="true", traffic_share="half"),
        dict(experiment_id="exp-07", variant="B", model_version="m1", is_control="false", traffic_share="half"),
        dict(experiment_id="exp-08", variant="A", model_version="m0", is_control="true", traffic_share=0.5),
        dict(experiment_id="exp-08", variant="B", model_version="m1", is_control="false", traffic_share=0.5),
        dict(experiment_id="exp-10", variant="A", model_version="m0", is_control="true", traffic_share=0.5),
        dict(experiment_id="exp-10", variant="B", model_version="m1", is_control="false", traffic_share=0.5),
    ],
    "assignments": E1_ASSIGNMENTS + [
        dict(experiment_id="exp-07", user_id="a1", variant="A", assigned_ts=None),
        dict(experiment_id="exp-10", user_id="a1", variant="A", assigned_ts=None),
        dict(experiment_id="exp-10", user_id="b1", variant="B", assigned_ts=None),
    ],
}
EXPECTED = [
    "exp-07: all variant rows rejected: traffic_share is not a number",
    "exp-08: its row in experiments was rejected: end_ts is not a timestamp",
    "exp-09: it has no rows in experiment_variants",
]


@pytest.fixture
def source(make_source):
    return make_source(TABLES)


def test_dropped_experiments_are_named_with_the_reason(source):
    assert dropped_experiments(MetricContext(source, Params())) == EXPECTED


def test_filtered_experiments_are_not_dropped(source):
    # exp-10 on similar_items is left out by the block filter: not "dropped"; exp-08 has no
    # dates or block to filter by and is always named
    said = dropped_experiments(MetricContext(source, Params(blocks=("home_feed",))))
    assert said == EXPECTED
    # with every experiment dated out of range, only the one without a valid row is named
    later = dropped_experiments(MetricContext(source, Params(start=dt.date(2026, 6, 1))))
    assert later == [EXPECTED[1]]


def test_export_names_dropped_experiments(source, tmp_path, capsys):
    from dashboard.__main__ import main

    assert main(["export", "--data", str(source.path), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    for message in EXPECTED:
        assert f"note: experiments.csv has no rows for {message}" in out


def test_report_names_dropped_experiments(source, tmp_path):
    from dashboard.core import report, review

    weekly = review.build(source, Params())
    for message in EXPECTED:
        assert f"Experiment {message} (it has no results)." in weekly.notes
    assert "exp-07: all variant rows rejected: traffic_share is not a number" in report.render(weekly)
