"""Ids stored as integer keys and labels as ENUMs (dashboard/engine/source/keys.py).

Hand-worked: the dictionaries number the ids in their sort order, across tables; labels keep
their text; the rows read back as the source gave them; every metric table is the same as when
everything is stored as text.
"""
from __future__ import annotations

import pandas as pd
import pytest

from conftest import TEST_NOW, write_source
from dashboard.engine.context import MetricContext
from dashboard.engine.metrics import METRIC_TABLES, compute_table
from dashboard.engine.params import Params
from dashboard.engine.source import keys, load_source

EVENTS = [
    {"event_id": "e1", "ts": "2026-03-02 09:00:00", "user_id": "u9", "session_id": "s1", "event_type": "impression",
     "item_id": "i2", "block": "home", "position": "1", "platform": "web"},
    {"event_id": "e2", "ts": "2026-03-02 09:00:05", "user_id": "u9", "session_id": "s1", "event_type": "click",
     "item_id": "i2", "block": "home", "position": "1", "platform": "web"},
    {"event_id": "e3", "ts": "2026-03-03 10:00:00", "user_id": "u10", "session_id": "s2", "event_type": "impression",
     "item_id": "i10", "block": "cart", "position": "2", "platform": "ios"},
]
ORDERS = [
    # u2 buys without an event: a user of orders only still gets a key
    {"order_id": "o1", "item_id": "i2", "ts": "2026-03-02 09:10:00", "user_id": "u9", "seller_id": "s-b",
     "quantity": "1", "price": "10"},
    {"order_id": "o2", "item_id": "i7", "ts": "2026-03-04 12:00:00", "user_id": "u2", "seller_id": "s-a",
     "quantity": "2", "price": "5"},
]


@pytest.fixture
def source(tmp_path):
    return load_source(write_source(tmp_path / "src", {"events": EVENTS, "orders": ORDERS}), now=TEST_NOW)


def test_users_are_numbered_in_the_sort_order_of_their_ids_across_tables(source):
    # text order: "u10" < "u2" < "u9"
    assert source.con.execute("SELECT id, key FROM _keys_user ORDER BY key").fetchall() == [
        ("u10", 1), ("u2", 2), ("u9", 3)]
    assert source.con.execute("SELECT event_id, user_id FROM events ORDER BY event_id").fetchall() == [
        ("e1", 3), ("e2", 3), ("e3", 1)]
    assert source.con.execute("SELECT order_id, user_id FROM orders ORDER BY order_id").fetchall() == [
        ("o1", 3), ("o2", 2)]
    # items of both tables in one dictionary: "i10" < "i2" < "i7"
    assert source.con.execute("SELECT id, key FROM _keys_item ORDER BY key").fetchall() == [
        ("i10", 1), ("i2", 2), ("i7", 3)]
    assert source.con.execute("SELECT id FROM _keys_seller ORDER BY key").fetchall() == [("s-a",), ("s-b",)]
    assert source.con.execute("SELECT id FROM _keys_session ORDER BY key").fetchall() == [("s1",), ("s2",)]


def test_ids_are_stored_as_integers_and_labels_as_enums(source):
    types = dict(source.con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                                    "WHERE table_name = 'events'").fetchall())
    assert {c: types[c] for c in ("user_id", "session_id", "item_id")} == dict.fromkeys(
        ("user_id", "session_id", "item_id"), "UINTEGER")
    assert types["event_id"] == "VARCHAR"  # unique per row: not worth a dictionary
    assert types["block"] == "ENUM('cart', 'home')"
    assert types["platform"] == "ENUM('ios', 'web')"
    assert types["event_type"] == "ENUM('click', 'impression')"
    # a label compares with its text, as a bound parameter or a literal
    assert source.con.execute("SELECT count(*) FROM events WHERE block = $b", {"b": "home"}).fetchone()[0] == 2
    assert source.con.execute("SELECT count(*) FROM events WHERE event_type = 'click'").fetchone()[0] == 1


def test_rows_read_back_as_the_source_gave_them(source):
    rows = source.readable_cursor().execute(
        "SELECT event_id, user_id, session_id, item_id, block, platform, event_type FROM events ORDER BY _row").fetchall()
    assert rows == [("e1", "u9", "s1", "i2", "home", "web", "impression"),
                    ("e2", "u9", "s1", "i2", "home", "web", "click"),
                    ("e3", "u10", "s2", "i10", "cart", "ios", "impression")]
    assert source.readable_cursor().execute("SELECT user_id, seller_id FROM orders ORDER BY _row").fetchall() == [
        ("u9", "s-b"), ("u2", "s-a")]


def test_absent_tables_have_the_stored_types_so_joins_with_them_work(source):
    # no users.csv: the empty users table stores user_id as a key too
    types = dict(source.con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                                    "WHERE table_name = 'users'").fetchall())
    assert types["user_id"] == "UINTEGER"
    assert types["platform"] == "ENUM('ios', 'web')"
    assert source.con.execute("SELECT count(*) FROM events JOIN users USING (user_id)").fetchone()[0] == 0


def test_labels_with_too_many_values_stay_text(tmp_path, monkeypatch):
    monkeypatch.setattr(keys, "MAX_ENUM_VALUES", 1)
    source = load_source(write_source(tmp_path / "src", {"events": EVENTS}), now=TEST_NOW)
    types = dict(source.con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                                    "WHERE table_name = 'events'").fetchall())
    assert types["block"] == "VARCHAR"  # two blocks, more than 1
    assert types["user_id"] == "UINTEGER"  # ids are keys whatever their number
    assert source.con.execute("SELECT count(*) FROM _enum_values").fetchone()[0] == 0


def test_heavy_users_are_named_by_their_ids(tmp_path, monkeypatch):
    from dashboard.engine import loading
    from dashboard.engine.source import across

    for module in (loading, across):
        monkeypatch.setattr(module, "HEAVY_USER_MIN_EVENTS", 2, raising=False)
        monkeypatch.setattr(module, "HEAVY_USER_MIN_USERS", 2, raising=False)
        monkeypatch.setattr(module, "HEAVY_USER_SHARE", 0.5, raising=False)
    source = load_source(write_source(tmp_path / "src", {"events": EVENTS}), now=TEST_NOW)
    notes = source.tables["events"].notes
    assert len(notes) == 1 and "u9" in notes[0], notes


def test_every_metric_table_is_the_same_as_with_ids_stored_as_text(demo_dir, demo_source, monkeypatch):
    """The stored keys change no result: all tables of the demo, with and without them."""
    monkeypatch.setattr(keys, "ENCODE", False)
    as_text = load_source(demo_dir, now=TEST_NOW)
    assert as_text.con.execute("SELECT data_type FROM duckdb_columns() WHERE table_name = 'events' "
                               "AND column_name = 'user_id'").fetchone()[0] == "VARCHAR"
    for params in (Params(), Params(tz="Europe/Berlin", blocks=("home_feed",), platform="ios", window_days=1)):
        for name in METRIC_TABLES:
            stored = compute_table(name, MetricContext(demo_source, params))
            text = compute_table(name, MetricContext(as_text, params))
            assert list(stored.columns) == list(text.columns), name
            assert len(stored) > 0 or params != Params(), name  # (the filtered view has no off-policy log)
            pd.testing.assert_frame_equal(stored, text, check_exact=False, rtol=1e-9, obj=name)
