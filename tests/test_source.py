"""Loading a source: contract checks, rejected rows, duplicates, time zones, file kinds."""
import datetime as dt

import duckdb
import pandas as pd
import pytest

from conftest import TEST_NOW, write_source
from dashboard.engine.families import families
from dashboard.engine.source import SourceError, load_source


def ev(event_id, ts="2026-03-02 09:00:00", user="u1", event_type="app_open", **extra):
    return {"event_id": event_id, "ts": ts, "user_id": user, "event_type": event_type, **extra}


def problems(source, table):
    return {(p.column, p.reason): (p.rows, p.examples) for p in source.tables[table].problems}


def test_rejected_rows_are_counted_per_column_and_reason_with_row_numbers(make_source):
    source = make_source({"events": [
        ev("e1"),
        ev("e2", event_type="teleport"),  # row 2
        ev("e3", ts="yesterday"),  # row 3
        ev("e4", event_type="click", block="home_feed"),  # row 4: a click needs item_id
        ev("e5", event_type="impression", item_id="i1", block="hf", position="0"),  # row 5
        ev("e6", user=None),  # row 6
        ev("e7", ts="2026-11-02 00:00:01"),  # row 7: more than a day after TEST_NOW
        ev("e8", ts="2026-11-01 23:00:00"),  # less than a day ahead: fine
    ]})
    found = problems(source, "events")
    assert found[("event_type", "unknown event_type (allowed: app_open, impression, click, add_to_cart, filter_use, suggest_use)")] == (1, [2])
    assert found[("ts", "not a timestamp")] == (1, [3])
    assert found[("item_id", "missing value for a click event")] == (1, [4])
    assert found[("position", "position below 1")] == (1, [5])
    assert found[("user_id", "missing value")] == (1, [6])
    assert found[("ts", "more than a day in the future")] == (1, [7])
    report = source.tables["events"]
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (8, 2, 6)
    assert sorted(source.readable_cursor().sql("select event_id from events").fetchnumpy()["event_id"]) == ["e1", "e8"]


def test_exact_duplicates_count_once_and_conflicting_ids_are_both_rejected(make_source):
    source = make_source({"events": [ev("e1"), ev("e1"), ev("e2"), ev("e2", user="u9"), ev("e3")]})
    report = source.tables["events"]
    assert report.duplicates_merged == 1
    assert problems(source, "events")[("event_id", "different rows share the same event_id")] == (2, [3, 4])
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (5, 2, 2)


def test_orders_key_is_order_and_item(make_source):
    base = {"order_id": "o1", "ts": "2026-03-02 10:00:00", "user_id": "u1", "quantity": "1", "price": "5"}
    source = make_source({"events": [ev("e1")], "orders": [
        dict(base, item_id="a"), dict(base, item_id="b"), dict(base, item_id="b", price="6"),
        dict(base, item_id="c", quantity="2.5"), dict(base, item_id="d", price="-1"),
    ]})
    found = problems(source, "orders")
    assert found[("order_id, item_id", "different rows share the same order_id, item_id")] == (2, [2, 3])
    assert found[("quantity", "not an integer")] == (1, [4])
    assert found[("price", "negative amount")] == (1, [5])
    assert source.tables["orders"].rows_loaded == 1


def test_offsets_become_utc_and_naive_values_are_utc(make_source):
    source = make_source({"events": [
        ev("e1", ts="2026-03-02 10:00:00+02:00"), ev("e2", ts="2026-03-02T10:00:00Z"), ev("e3", ts="2026-03-02 10:00:00"),
    ]})
    got = dict(source.readable_cursor().sql("select event_id, ts from events").fetchall())
    assert got == {"e1": dt.datetime(2026, 3, 2, 8), "e2": dt.datetime(2026, 3, 2, 10), "e3": dt.datetime(2026, 3, 2, 10)}


def test_ids_are_text_and_keep_leading_zeros(make_source):
    source = make_source({"events": [ev("007", user="00123"), ev("7", user="123")]})
    assert sorted(source.readable_cursor().sql("select user_id from events").fetchnumpy()["user_id"]) == ["00123", "123"]


def test_defaults_for_optional_money_and_flags(make_source):
    source = make_source({"events": [ev("e1")], "orders": [
        {"order_id": "o1", "item_id": "i", "ts": "2026-03-02 10:00:00", "user_id": "u1", "quantity": "1", "price": "2.5"},
    ]})
    commission, delivery, discount, returned = source.readable_cursor().execute(
        "select commission, delivery_cost, discount, returned from orders").fetchone()
    assert (commission, delivery, discount, returned) == (0, 0, 0, False)
    assert not source.has_column("orders", "market_price")


def test_missing_required_column_names_file_and_column(tmp_path):
    folder = write_source(tmp_path / "s", {"events": [{"event_id": "e1", "ts": "2026-03-02", "user_id": "u"}]})
    with pytest.raises(SourceError) as err:
        load_source(folder, now=TEST_NOW)
    assert err.value.problems == [
        "events.csv: missing required column 'event_type' (columns found: event_id, ts, user_id)"
    ]


def test_semicolon_delimiter_is_detected(tmp_path):
    (tmp_path / "events.csv").write_text("event_id;ts;user_id;event_type\ne1;2026-03-02;u;app_open\n")
    assert load_source(tmp_path, now=TEST_NOW).tables["events"].rows_loaded == 1


def test_header_only_file_loads_empty(tmp_path):
    (tmp_path / "events.csv").write_text("event_id,ts,user_id,event_type\n")
    report = load_source(tmp_path, now=TEST_NOW).tables["events"]
    assert (report.rows_read, report.rows_loaded) == (0, 0)


def test_a_column_that_never_parses_is_a_file_error(make_source):
    with pytest.raises(SourceError) as err:
        make_source({"events": [ev("e1", ts="monday"), ev("e2", ts="tuesday")]})
    assert err.value.problems == [
        "events.csv: column 'ts' is not a timestamp in any of its 2 rows (expected timestamp; first at row 1)"
    ]


def test_missing_events_and_missing_folder(tmp_path):
    with pytest.raises(SourceError, match="required table 'events' is missing"):
        load_source(tmp_path, now=TEST_NOW)
    with pytest.raises(SourceError, match="no such folder or file"):
        load_source(tmp_path / "nope", now=TEST_NOW)


def test_experiment_rules_across_tables(make_source):
    source = make_source({
        "events": [ev("e1")],
        "experiments": [
            {"experiment_id": "x1", "start_ts": "2026-03-01", "end_ts": "2027-01-01"},  # planned end may be future
            {"experiment_id": "x2", "start_ts": "2026-03-01", "end_ts": "2026-04-01"},
        ],
        "experiment_variants": [
            {"experiment_id": "x1", "variant": "a", "model_version": "m1", "is_control": "true"},
            {"experiment_id": "x1", "variant": "b", "model_version": "m2", "is_control": "false"},
            {"experiment_id": "x2", "variant": "a", "model_version": "m1", "is_control": "false"},
        ],
        "assignments": [
            {"experiment_id": "x1", "user_id": "u1", "variant": "a"},
            {"experiment_id": "x1", "user_id": "u2", "variant": "a"},
            {"experiment_id": "x1", "user_id": "u2", "variant": "b"},  # assigned twice: both rows
            {"experiment_id": "x1", "user_id": "u3", "variant": "zz"},  # no such variant
        ],
    })
    assert problems(source, "experiment_variants")[("is_control", "experiment has no control variant")] == (1, [3])
    found = problems(source, "assignments")
    assert found[("experiment_id, user_id", "different rows share the same experiment_id, user_id")] == (2, [2, 3])
    assert found[("variant", "variant not in experiment_variants for this experiment")] == (1, [4])
    assert source.tables["assignments"].rows_loaded == 1
    assert source.tables["experiments"].rows_loaded == 2


def test_parquet_and_duckdb_sources_load_the_same(tmp_path):
    frame = pd.DataFrame({
        "event_id": ["e1", "e2"], "ts": pd.to_datetime(["2026-03-02 09:00", "2026-03-02 10:00"]),
        "user_id": ["u1", "u2"], "event_type": ["app_open", "app_open"],
    })
    folder = tmp_path / "pq"
    folder.mkdir()
    frame.to_parquet(folder / "events.parquet")
    db = tmp_path / "source.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table events as select * from frame")
    for path in (folder, db):
        source = load_source(path, now=TEST_NOW)
        assert source.tables["events"].rows_loaded == 2
        assert sorted(source.readable_cursor().sql("select user_id from events").fetchnumpy()["user_id"]) == ["u1", "u2"]


def test_not_a_duckdb_file(tmp_path):
    fake = tmp_path / "fake.duckdb"
    fake.write_bytes(b"this is not a database")
    with pytest.raises(SourceError, match="fake.duckdb: not a readable DuckDB database"):
        load_source(fake, now=TEST_NOW)


def test_events_only_source_reports_unavailable_families(make_source):
    source = make_source({"events": [ev("e1")]})
    status = {f.table: (f.available, f.note) for f in families(source)}
    assert status["buyer_weekly"] == (True, "purchase columns are empty: no 'orders' table")
    assert status["seller_weekly"] == (False, "needs 'orders'")
    assert status["offline_metrics"] == (False, "needs 'recommendations', 'holdout'")
    assert status["experiments"] == (False, "needs 'experiments', 'experiment_variants', 'assignments'")
