"""off_policy: a candidate policy's click rate estimated from logged impressions (v2).

Loading first (events.propensity, target_policies), then every estimator on tiny hand-built logs
whose expected values are worked out in the comments.
"""
from __future__ import annotations

import math

import duckdb
import pytest

from conftest import TEST_NOW, compute, write_source
from dashboard.core.source import load_source

Z = 1.959964


def ev(event_id, ts="2026-10-05 09:00:00", user="u1", event_type="impression", **extra):
    return {"event_id": event_id, "ts": ts, "user_id": user, "event_type": event_type, **extra}


def tp(model="cand", block="home", position="1", item="a", probability="1", user=None):
    return {"model_version": model, "block": block, "position": position, "item_id": item,
            "probability": probability, "user_id": user}


def problems(source, table):
    return {(p.column, p.reason): (p.rows, p.examples) for p in source.tables[table].problems}


# --- loading ---------------------------------------------------------------------------------------

def test_propensity_outside_zero_one_is_a_rejected_row(make_source):
    source = make_source({"events": [
        ev("e1", item_id="a", block="home", propensity="0.5"),
        ev("e2", item_id="a", block="home", propensity="0"),  # row 2: 0 is outside (0, 1]
        ev("e3", item_id="a", block="home", propensity="1"),  # 1 is inside
        ev("e4", item_id="a", block="home", propensity="1.2"),  # row 4
        ev("e5", item_id="a", block="home", propensity="-0.1"),  # row 5
        ev("e6", item_id="a", block="home"),  # no propensity: fine (not used by off-policy)
        ev("e7", item_id="a", block="home", propensity="often"),  # row 7: not a number
    ]})
    found = problems(source, "events")
    assert found[("propensity", "propensity outside (0, 1]")] == (3, [2, 4, 5])
    assert found[("propensity", "not a number")] == (1, [7])
    loaded = dict(source.con.sql("select event_id, propensity from events").fetchall())
    assert loaded == {"e1": 0.5, "e3": 1.0, "e6": None}
    assert source.has_column("events", "propensity")


def test_target_policies_types_ranges_and_a_slot_summing_above_one(make_source):
    source = make_source({"events": [ev("e1", item_id="a", block="home")], "target_policies": [
        tp(item="a", probability="0.6"),                          # row 1  } slot (cand, home, null, 1):
        tp(item="b", probability="0.4"),                          # row 2  } 0.6 + 0.4 = 1: fine
        tp(item="a", probability="0.7", user="u1"),               # row 3  } slot (cand, home, u1, 1):
        tp(item="b", probability="0.4", user="u1"),               # row 4  } 1.1 > 1: both rejected
        tp(item="a", probability="0.5", position="2"),            # row 5: its own slot (position 2)
        tp(item="a", probability="1.5", position="3"),            # row 6: probability outside [0, 1]
        tp(item="a", probability="0.5", position="0"),            # row 7: position below 1
        tp(item="a", probability="0.5", block="nowhere"),         # row 8: an unknown block is fine
        tp(model=None, item="a", probability="0.5"),              # row 9: model_version missing
        tp(item="a", probability="0.3333333333", position="4"),   # rows 10-12: 0.9999999999 ≤ 1 + 1e-9
        tp(item="b", probability="0.3333333333", position="4"),
        tp(item="c", probability="0.3333333333", position="4"),
    ]})
    found = problems(source, "target_policies")
    assert found[("probability", "probabilities of one (model_version, block, user_id, position) sum above 1")] == (2, [3, 4])
    assert found[("probability", "probability outside [0, 1]")] == (1, [6])
    assert found[("position", "position below 1")] == (1, [7])
    assert found[("model_version", "missing value")] == (1, [9])
    report = source.tables["target_policies"]
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (12, 7, 5)
    rows = source.con.sql("select _row from target_policies order by _row").fetchnumpy()["_row"].tolist()
    assert rows == [1, 2, 5, 8, 10, 11, 12]


def test_a_slot_just_above_one_by_more_than_the_tolerance_is_rejected(make_source):
    # 0.5 + 0.500000001 = 1.000000001 > 1 + 1e-9 (1.000000001 - 1 = 1e-9 + rounding: use 2e-9 to be clear)
    source = make_source({"events": [ev("e1", item_id="a", block="home")], "target_policies": [
        tp(item="a", probability="0.5"), tp(item="b", probability="0.500000002"),
    ]})
    assert problems(source, "target_policies")[
        ("probability", "probabilities of one (model_version, block, user_id, position) sum above 1")] == (2, [1, 2])


def test_absent_target_policies_and_propensity_exist_empty_in_the_sandbox(make_source):
    source = make_source({"events": [ev("e1", item_id="a", block="home")]})
    assert not source.has("target_policies")
    assert not source.has_column("events", "propensity")
    assert source.con.execute("select count(*) from target_policies").fetchall() == [(0,)]
    columns = [r[0] for r in source.con.sql("describe target_policies").fetchall()]
    assert columns == ["_row", "model_version", "block", "position", "item_id", "probability", "user_id"]
    assert source.con.execute("select propensity from events").fetchall() == [(None,)]


def test_target_policies_file_is_read_inside_the_sandbox(tmp_path):
    folder = write_source(tmp_path / "src", {"events": [ev("e1", item_id="a", block="home", propensity="0.5")],
                                             "target_policies": [tp()]})
    source = load_source(folder, now=TEST_NOW)
    assert source.con.execute("select count(*) from target_policies").fetchall() == [(1,)]
    # after loading, no file is readable and the configuration is locked
    assert source.con.execute("select value from duckdb_settings() where name = 'lock_configuration'").fetchall() == [("true",)]
    other = tmp_path / "elsewhere.csv"
    other.write_text("x\n1\n")
    with pytest.raises(duckdb.PermissionException):
        source.con.execute(f"select * from read_csv('{other}')").fetchall()
