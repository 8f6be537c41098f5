"""Figures and CSV texts are memoised by the content of their data, never by identity alone."""
from __future__ import annotations

import pandas as pd

from dashboard import charts
from dashboard.memo import memoised


def _weekly(values):
    return pd.DataFrame({"week_start": pd.to_datetime(["2026-10-05", "2026-10-12"]), "gmv": values})


def test_equal_data_in_a_new_frame_reuses_the_figure():
    first = charts.weekly_lines(_weekly([10.0, 20.0]), ["gmv"], "GMV")
    again = charts.weekly_lines(_weekly([10.0, 20.0]), ["gmv"], "GMV")  # a new, equal frame
    assert again is first


def test_any_change_of_data_or_options_draws_anew():
    base = charts.weekly_lines(_weekly([10.0, 20.0]), ["gmv"], "GMV")
    changed_value = charts.weekly_lines(_weekly([10.0, 20.5]), ["gmv"], "GMV")
    changed_title = charts.weekly_lines(_weekly([10.0, 20.0]), ["gmv"], "GMV (net)")
    with_line = charts.weekly_lines(_weekly([10.0, 20.0]), ["gmv"], "GMV", reference_y=1)
    assert changed_value is not base and list(changed_value.data[0].y) == [10.0, 20.5]
    assert changed_title is not base and changed_title.layout.title.text == "GMV (net)"
    assert [shape.y0 for shape in with_line.layout.shapes] == [1]
    assert not base.layout.shapes


def test_same_values_of_another_dtype_are_another_key():
    calls = []

    @memoised
    def describe(frame):
        calls.append(1)
        return str(frame.dtypes.iloc[0])

    assert describe(pd.DataFrame({"x": [1, 2]})) == "int64"
    assert describe(pd.DataFrame({"x": [1.0, 2.0]})) == "float64"
    assert describe(pd.DataFrame({"x": [1, 2]})) == "int64"
    assert len(calls) == 2


def test_unpicklable_arguments_are_computed_without_the_cache():
    calls = []

    @memoised
    def first(items):
        calls.append(1)
        return items[0]

    frame = pd.DataFrame({"f": [lambda: 1]})  # a lambda in a cell cannot be pickled
    assert first([frame]) is frame
    assert first([frame]) is frame
    assert len(calls) == 2
