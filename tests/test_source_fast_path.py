"""The loader's fast paths: Parquet columns of the contract's types used as they are, the clean
table built straight from the file, and the key resolved only where keys repeat.

Each case pins counts, reasons and example rows, for columns that already have the contract's
type and for columns that must still be converted and checked.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from conftest import TEST_NOW
from dashboard.engine.contract import SQL_TYPES, TABLES
from dashboard.engine.source import SourceError, load_source
from dashboard.engine.source import rules as rules_module

UNKNOWN_EVENT_TYPE = "unknown event_type (allowed: app_open, impression, click, add_to_cart, filter_use, suggest_use)"


def parquet_source(folder: Path, tables: dict[str, str]) -> Path:
    """A folder of `<table>.parquet` files, each written from a DuckDB query (which fixes its types)."""
    folder.mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        for table, query in tables.items():
            con.execute(f"COPY ({query}) TO '{folder / (table + '.parquet')}' (FORMAT parquet)")
    return folder


def problems(source, table) -> dict:
    return {(p.column, p.reason): (p.rows, p.examples) for p in source.tables[table].problems}


def counts(source, table) -> tuple[int, int, int, int]:
    r = source.tables[table]
    return r.rows_read, r.rows_loaded, r.rows_rejected, r.duplicates_merged


def column_types(source, table) -> dict[str, str]:
    return {name: kind for name, kind, *_ in source.readable_cursor().execute(f"DESCRIBE {table}").fetchall()}


def contract_types(table) -> dict[str, str]:
    return {"_row": "BIGINT", **{c.name: SQL_TYPES[c.kind] for c in TABLES[table].columns}}


# Events whose columns already have the contract's types (VARCHAR, TIMESTAMP, BIGINT).
TYPED_EVENTS = """
    SELECT * FROM (VALUES
        ('e1', TIMESTAMP '2026-03-02 09:00:00', 'u1', 's1', 'app_open',   NULL, NULL,   NULL::BIGINT, 'm1', 'ios'),
        ('e2', TIMESTAMP '2026-03-02 09:01:00', 'u1', 's1', 'impression', 'i1', 'home', 1,            'm1', 'ios'),
        ('e3', TIMESTAMP '2026-03-02 09:02:00', 'u1', 's1', 'click',      'i1', 'home', 0,            'm1', 'ios'),
        ('e4', TIMESTAMP '2030-01-01 00:00:00', 'u2', 's2', 'app_open',   NULL, NULL,   NULL,         'm1', 'web'),
        ('e5', TIMESTAMP '2026-03-02 09:03:00', NULL, 's2', 'app_open',   NULL, NULL,   NULL,         'm1', 'web'),
        ('e6', TIMESTAMP '2026-03-02 09:04:00', 'u2', 's2', 'teleport',   NULL, NULL,   NULL,         'm1', 'web'),
        ('e7', TIMESTAMP '2026-03-02 09:05:00', 'u2', 's2', 'click',      NULL, NULL,   2,            'm1', 'web'),
        ('e8', TIMESTAMP '2026-11-01 23:00:00', 'u2', 's2', 'app_open',   NULL, NULL,   NULL,         'm1', 'web')
    ) AS t(event_id, ts, user_id, session_id, event_type, item_id, block, position, model_version, platform)
"""


def test_parquet_columns_of_the_contract_types_are_used_as_they_are_and_still_checked(tmp_path):
    orders = """
        SELECT * FROM (VALUES
            ('o1', 'i1', TIMESTAMP '2026-03-02 10:00:00', 'u1', 2::BIGINT, 5.25::DECIMAL(18,4), NULL::DECIMAL(18,4), true),
            ('o2', 'i1', TIMESTAMP '2026-03-02 10:00:00', 'u1', 0,         5.25,                1.5,                 NULL),
            ('o3', 'i1', TIMESTAMP '2026-03-02 10:00:00', 'u1', 1,         -0.0001,             NULL,                false)
        ) AS t(order_id, item_id, ts, user_id, quantity, price, commission, returned)
    """
    source = load_source(parquet_source(tmp_path / "pq", {"events": TYPED_EVENTS, "orders": orders}), now=TEST_NOW)

    assert problems(source, "events") == {
        ("position", "position below 1"): (1, [3]),
        ("ts", "more than a day in the future"): (1, [4]),
        ("user_id", "missing value"): (1, [5]),
        ("event_type", UNKNOWN_EVENT_TYPE): (1, [6]),
        ("item_id", "missing value for a click event"): (1, [7]),
        ("block", "missing value for a click event"): (1, [7]),
    }
    assert counts(source, "events") == (8, 3, 5, 0)
    assert source.readable_cursor().execute("SELECT list(event_id ORDER BY _row) FROM events").fetchone()[0] == ["e1", "e2", "e8"]
    assert source.readable_cursor().execute("SELECT ts, position FROM events WHERE event_id = 'e2'").fetchone() == (
        dt.datetime(2026, 3, 2, 9, 1), 1)

    assert problems(source, "orders") == {
        ("quantity", "quantity below 1"): (1, [2]),
        ("price", "negative amount"): (1, [3]),
    }
    assert counts(source, "orders") == (3, 1, 2, 0)
    # Defaults still fill absent and null values.
    assert source.readable_cursor().execute("SELECT price, commission, discount, returned FROM orders").fetchone() == (
        5.25, 0, 0, True)
    # The loaded tables have the contract's types, whatever the file's types were.
    assert column_types(source, "events") == contract_types("events")
    assert column_types(source, "orders") == contract_types("orders")


def test_parquet_columns_of_other_types_are_converted_and_checked(tmp_path):
    # position stored as DOUBLE (2.5 is not an integer, 3.0 is), ts as text with and without
    # offsets, quantity as DOUBLE, price as text and market_price as DECIMAL(18,2).
    events = """
        SELECT * FROM (VALUES
            ('e1', '2026-03-02 10:00:00',       'u1', 'impression', 'i1', 'home', 3.0),
            ('e2', '2026-03-02T10:00:00+03:00', 'u1', 'impression', 'i1', 'home', 2.5),
            ('e3', '2026-03-02T10:00:00+03:00', 'u1', 'app_open',   NULL, NULL,   NULL),
            ('e4', '2026-03-02 10:00:00Z',      'u1', 'app_open',   NULL, NULL,   NULL),
            ('e5', '2026-03-02 10:00:00-05:30', 'u1', 'app_open',   NULL, NULL,   NULL),
            ('e6', 'yesterday',                 'u1', 'app_open',   NULL, NULL,   NULL),
            ('e7', '2099-01-01',                'u1', 'app_open',   NULL, NULL,   NULL)
        ) AS t(event_id, ts, user_id, event_type, item_id, block, position)
    """
    orders = """
        SELECT * FROM (VALUES
            ('o1', 'i1', '2026-03-02 10:00:00', 'u1', 1.0::DOUBLE, '5.5', 7.25::DECIMAL(18,2)),
            ('o2', 'i1', '2026-03-02 10:00:00', 'u1', 1.5,         '5.5', 7.25),
            ('o3', 'i1', '2026-03-02 10:00:00', 'u1', 2.0,         '1,5', 7.25),
            ('o4', 'i1', '2026-03-02 10:00:00', 'u1', 2.0,         'NaN', -7.25)
        ) AS t(order_id, item_id, ts, user_id, quantity, price, market_price)
    """
    source = load_source(parquet_source(tmp_path / "pq", {"events": events, "orders": orders}), now=TEST_NOW)

    assert problems(source, "events") == {
        ("position", "not an integer"): (1, [2]),
        ("ts", "not a timestamp"): (1, [6]),
        ("ts", "more than a day in the future"): (1, [7]),
    }
    assert counts(source, "events") == (7, 4, 3, 0)
    # Offsets become UTC, naive values are UTC; 3.0 is the integer 3.
    got = dict(source.readable_cursor().execute("SELECT event_id, strftime(ts, '%H:%M') FROM events").fetchall())
    assert got == {"e1": "10:00", "e3": "07:00", "e4": "10:00", "e5": "15:30"}
    assert source.readable_cursor().execute("SELECT position FROM events WHERE event_id = 'e1'").fetchone()[0] == 3

    assert problems(source, "orders") == {
        ("price", "not an amount"): (2, [3, 4]),
        ("quantity", "not an integer"): (1, [2]),
        ("market_price", "negative amount"): (1, [4]),
    }
    assert counts(source, "orders") == (4, 1, 3, 0)
    assert column_types(source, "events") == contract_types("events")
    assert column_types(source, "orders") == contract_types("orders")


def test_a_parquet_column_that_never_parses_refuses_the_file(tmp_path):
    events = """
        SELECT 'e' || range AS event_id, 'soon' AS ts, 'u1' AS user_id, 'app_open' AS event_type FROM range(3)
    """
    folder = parquet_source(tmp_path / "pq", {"events": events})
    with pytest.raises(SourceError) as err:
        load_source(folder, now=TEST_NOW)
    assert err.value.problems == [
        "events.parquet: column 'ts' is not a timestamp in any of its 3 rows (expected timestamp; first at row 1)"
    ]


# A large table's keys are checked in parts split by their hash (rules.KEY_CHECK_PART_ROWS):
# with parts of 2 rows the 9 events are checked in 5 parts and the orders in 3, and every
# repeated key must still be found, as in one part.
@pytest.mark.parametrize("part_rows", [5_000_000, 2])
def test_repeated_keys_exact_duplicates_merge_and_conflicts_reject_all_their_rows(tmp_path, monkeypatch, part_rows):
    monkeypatch.setattr(rules_module, "KEY_CHECK_PART_ROWS", part_rows)
    events = """
        SELECT * FROM (VALUES
            ('e1', TIMESTAMP '2026-03-02 09:00:00', 'u1', 'app_open'),
            ('e2', TIMESTAMP '2026-03-02 09:00:00', 'u1', 'app_open'),
            ('e1', TIMESTAMP '2026-03-02 09:00:00', 'u1', 'app_open'),
            ('e3', TIMESTAMP '2026-03-02 09:00:00', 'u1', 'app_open'),
            ('e2', TIMESTAMP '2026-03-02 09:00:00', 'u2', 'app_open'),
            ('e1', TIMESTAMP '2026-03-02 09:00:00', 'u1', 'app_open'),
            ('e4', TIMESTAMP '2026-03-02 09:00:00', 'u1', 'teleport'),
            ('e4', TIMESTAMP '2026-03-02 09:00:00', 'u1', 'app_open'),
            ('e2', TIMESTAMP '2026-03-02 09:00:00', 'u1', 'app_open')
        ) AS t(event_id, ts, user_id, event_type)
    """
    # orders: the key is (order_id, item_id); o1/a is an exact duplicate, o1/b conflicts on price.
    orders = """
        SELECT * FROM (VALUES
            ('o1', 'a', TIMESTAMP '2026-03-02 10:00:00', 'u1', 1::BIGINT, 5::DECIMAL(18,4)),
            ('o1', 'b', TIMESTAMP '2026-03-02 10:00:00', 'u1', 1,         5),
            ('o1', 'a', TIMESTAMP '2026-03-02 10:00:00', 'u1', 1,         5),
            ('o1', 'b', TIMESTAMP '2026-03-02 10:00:00', 'u1', 1,         6),
            ('o2', 'a', TIMESTAMP '2026-03-02 10:00:00', 'u1', 1,         5)
        ) AS t(order_id, item_id, ts, user_id, quantity, price)
    """
    source = load_source(parquet_source(tmp_path / "pq", {"events": events, "orders": orders}), now=TEST_NOW)

    # e1: three equal rows, kept once (the first, row 1). e2: rows 2, 5 and 9 differ: all rejected.
    # e4: the rejected row 7 does not make row 8 a repeat.
    assert problems(source, "events") == {
        ("event_type", UNKNOWN_EVENT_TYPE): (1, [7]),
        ("event_id", "different rows share the same event_id"): (3, [2, 5, 9]),
    }
    assert counts(source, "events") == (9, 3, 4, 2)
    assert source.readable_cursor().execute("SELECT list(_row ORDER BY _row) FROM events").fetchone()[0] == [1, 4, 8]

    assert problems(source, "orders") == {
        ("order_id, item_id", "different rows share the same order_id, item_id"): (2, [2, 4]),
    }
    assert counts(source, "orders") == (5, 2, 2, 1)
    assert source.readable_cursor().execute("SELECT list(_row ORDER BY _row) FROM orders").fetchone()[0] == [1, 5]
    assert column_types(source, "events") == contract_types("events")


# parts of 1,000 rows: the 5,000 distinct event ids are checked in 5 parts, and none is repeated
@pytest.mark.parametrize("part_rows", [5_000_000, 1_000])
def test_a_table_without_failing_rows_loads_every_row_and_leaves_no_helper_tables(tmp_path, monkeypatch, part_rows):
    monkeypatch.setattr(rules_module, "KEY_CHECK_PART_ROWS", part_rows)
    events = """
        SELECT 'e' || range AS event_id, TIMESTAMP '2026-03-02' + to_minutes(range) AS ts,
               'u' || (range % 7) AS user_id, 'impression' AS event_type, 'i' || (range % 5) AS item_id,
               'home' AS block, 1 + range % 10 AS position
        FROM range(5000)
    """
    source = load_source(parquet_source(tmp_path / "pq", {"events": events}), now=TEST_NOW)
    assert counts(source, "events") == (5000, 5000, 0, 0)
    assert source.tables["events"].problems == []
    assert source.readable_cursor().execute("SELECT min(_row), max(_row), count(DISTINCT event_id) FROM events").fetchone() == (
        1, 5000, 5000)
    tables = {r[0] for r in source.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    # beside the contract's tables only the dictionaries of users and items and the ENUMs' values
    assert tables == set(TABLES) | {"_keys_user", "_keys_item", "_enum_values"}


def test_duckdb_view_rows_keep_their_numbers_across_the_checks(tmp_path):
    # A view's rows are numbered once (read into a helper table), so the example rows of the
    # problems and the loaded rows agree.
    db = tmp_path / "shop.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(f"CREATE TABLE raw_events AS {TYPED_EVENTS}")
        con.execute("CREATE VIEW events AS SELECT * FROM raw_events")
    source = load_source(db, now=TEST_NOW)
    assert counts(source, "events") == (8, 3, 5, 0)
    assert problems(source, "events")[("ts", "more than a day in the future")] == (1, [4])
    assert source.readable_cursor().execute("SELECT list(event_id ORDER BY _row) FROM events").fetchone()[0] == ["e1", "e2", "e8"]


@pytest.mark.parametrize("encode", [True, False])
def test_rules_on_one_value_are_settled_on_its_distinct_values_and_kept_where_a_value_breaks_them(
        tmp_path, monkeypatch, encode):
    # Text ids and labels are collected once for the dictionaries (keys.py); a rule on one such
    # value alone (NUL byte, blank, allowed values) that no collected value breaks is not tested
    # row by row. Events: session_id has a NUL byte in row 3, item_id a blank in row 4 and
    # event_type an unknown value in row 5; orders: a NUL user id in row 2. The same rows are
    # rejected for the same reasons whether rules are settled (encode) or all tested per row.
    from dashboard.engine.source import keys, table as table_module
    monkeypatch.setattr(keys, "ENCODE", encode)
    settled = {}
    settle = table_module.settle_by_values

    def spy(con, checks, values):
        settle(con, checks, values)
        table = "events" if "event_type" in checks.columns else "orders"
        settled[table] = {(checks.columns[i], checks.reasons[i].split(" ")[0]) for i in checks.settled}
    monkeypatch.setattr(table_module, "settle_by_values", spy)

    events = """
        SELECT * FROM (VALUES
            ('e1', TIMESTAMP '2026-03-02 09:00:00', 'u1', 's1', 'app_open',   NULL, NULL,   'ios'),
            ('e2', TIMESTAMP '2026-03-02 09:01:00', 'u1', 's1', 'impression', 'i1', 'home', 'ios'),
            ('e3', TIMESTAMP '2026-03-02 09:02:00', 'u1', 's' || chr(0), 'app_open', NULL, NULL, 'ios'),
            ('e4', TIMESTAMP '2026-03-02 09:03:00', 'u2', 's2', 'click',      '  ', 'home', 'web'),
            ('e5', TIMESTAMP '2026-03-02 09:04:00', 'u2', 's2', 'teleport',   NULL, NULL,   'web'),
            ('e6', TIMESTAMP '2026-03-02 09:05:00', 'u2', 's2', 'app_open',   NULL, NULL,   'web')
        ) AS t(event_id, ts, user_id, session_id, event_type, item_id, block, platform)
    """
    orders = """
        SELECT * FROM (VALUES
            ('o1', 'i1', TIMESTAMP '2026-03-02 10:00:00', 'u1', 1::BIGINT, 5::DECIMAL(18,4)),
            ('o2', 'i1', TIMESTAMP '2026-03-02 10:00:00', 'u' || chr(0), 1, 5)
        ) AS t(order_id, item_id, ts, user_id, quantity, price)
    """
    source = load_source(parquet_source(tmp_path / "pq", {"events": events, "orders": orders}), now=TEST_NOW)

    assert problems(source, "events") == {
        ("session_id", "contains a NUL byte (binary data, not text)"): (1, [3]),
        ("item_id", "blank value (only spaces, tabs or line breaks)"): (1, [4]),
        ("event_type", UNKNOWN_EVENT_TYPE): (1, [5]),
    }
    assert problems(source, "orders") == {("user_id", "contains a NUL byte (binary data, not text)"): (1, [2])}
    assert source.readable_cursor().execute("SELECT list(event_id ORDER BY _row) FROM events").fetchone()[0] == [
        "e1", "e2", "e6"]
    assert source.readable_cursor().execute("SELECT list(order_id) FROM orders").fetchone()[0] == ["o1"]

    if not encode:  # nothing collected, every rule tested row by row
        assert settled == {"events": set(), "orders": set()}
        return
    # The values of a kind are those of every table read so far (events are read before orders):
    # events' user ids are clean when events are checked; orders' user ids include "u\0", and
    # the items' values include events' blank "  ", so those two rules stay for orders.
    assert settled == {
        "events": {
            ("user_id", "contains"), ("user_id", "blank"), ("session_id", "blank"),
            ("event_type", "contains"), ("event_type", "blank"),
            ("item_id", "contains"), ("block", "contains"), ("platform", "contains"),
        },
        "orders": {("item_id", "contains"), ("user_id", "blank")},
    }
