"""SQL safety: filter values are bound parameters, identifiers come from the contract only.

- A block or platform named like an injection behaves exactly like any other unknown name in
  every metric table (compared with the results for harmless unknown names), selects nothing,
  and writes no file.
- Loading a source formats no file-derived text into SQL: a CSV or Parquet column named like an
  injection is ignored (and listed in a note), hostile values load as plain text, and every SQL
  statement the loader runs is recorded and searched for the hostile strings.
"""
from __future__ import annotations

import os

import pandas as pd
import pytest

import dashboard.engine.source.load as source_module  # where load_source opens its connection
from conftest import TEST_NOW, write_source
from dashboard.engine.context import MetricContext
from dashboard.engine.contract import TABLES
from dashboard.engine.metrics import METRIC_TABLES, compute_table
from dashboard.engine.source.keys import ENUM_COLUMNS, ENUM_VALUES_TABLE, KEYED_COLUMNS, keys_table
from dashboard.engine.params import Params
from dashboard.engine.source import load_source

OR_TRUE = "x' OR 1=1 --"
COPY_OUT = "'); COPY (SELECT * FROM events) TO '{leak}'; --"
HOSTILE_COLUMN = 'a"; DROP TABLE events; --'
LEAK = "/tmp/leak.csv"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from dashboard.engine.demo import generate

    folder = tmp_path_factory.mktemp("sql-safety-demo")
    generate(folder, users=1500, weeks=8, seed=3)
    return load_source(folder, now=TEST_NOW)


def compute(source, name: str, params: Params) -> pd.DataFrame:
    ctx = MetricContext(source, params)
    try:
        return compute_table(name, ctx)
    finally:
        ctx.close()


def normalised(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """Labels renamed, rows in a fixed order: two runs that differ only in names compare equal."""
    out = frame.replace(names)
    text = [c for c in out.columns if out[c].dtype == object or pd.api.types.is_string_dtype(out[c])]
    return out.sort_values(text or list(out.columns)).reset_index(drop=True) if len(out) else out


@pytest.mark.parametrize("name", METRIC_TABLES)
def test_injection_in_filters_is_just_an_unknown_name(demo, name, tmp_path):
    leak = tmp_path / "leak.csv"
    copy_out = COPY_OUT.format(leak=leak)
    brief_leak_existed = os.path.exists(LEAK)
    hostile = Params(blocks=(OR_TRUE, copy_out, COPY_OUT.format(leak=LEAK)), platform=copy_out)
    harmless = Params(blocks=("unknown-1", "unknown-2", "unknown-3"), platform="unknown-platform")

    got = compute(demo, name, hostile)
    expected = compute(demo, name, harmless)
    # Params sorts blocks: map the hostile names onto the harmless ones in the same order.
    names = dict(zip(hostile.blocks, harmless.blocks)) | {copy_out: "unknown-platform"}
    pd.testing.assert_frame_equal(normalised(got, names), normalised(expected, names))
    assert not leak.exists()
    if not brief_leak_existed:
        assert not os.path.exists(LEAK)


def test_injected_block_and_platform_select_nothing(demo, tmp_path):
    copy_out = COPY_OUT.format(leak=tmp_path / "leak.csv")
    everything = compute(demo, "buyer_weekly", Params())
    assert everything.impressions.sum() > 0  # the data has impressions to leak
    buyer = compute(demo, "buyer_weekly", Params(blocks=(OR_TRUE, copy_out)))
    assert set(buyer.block) <= {"ALL", OR_TRUE, copy_out} and len(buyer) > 0
    assert buyer.impressions.sum() == 0 and buyer.clicks.sum() == 0 and buyer.rec_users.sum() == 0
    business = compute(demo, "business_weekly", Params(platform=OR_TRUE))
    assert business.wau.sum() == 0 and business.orders.fillna(0).sum() == 0
    assert compute(demo, "experiments", Params(blocks=(OR_TRUE,))).empty


# --- identifiers while loading ------------------------------------------------------------------

class Recording:
    """A DuckDB connection that remembers every SQL text it is given."""

    def __init__(self, con, log: list[str]):
        self._con, self._log = con, log

    def execute(self, sql, *args, **kwargs):
        self._log.append(sql)
        self._con.execute(sql, *args, **kwargs)
        return self

    def executemany(self, sql, *args, **kwargs):
        self._log.append(sql)
        self._con.executemany(sql, *args, **kwargs)
        return self

    def __getattr__(self, name):
        return getattr(self._con, name)


@pytest.fixture
def recorded(monkeypatch) -> list[str]:
    log: list[str] = []
    real = source_module.new_connection
    monkeypatch.setattr(source_module, "new_connection", lambda settings=None: Recording(real(settings), log))
    return log


HOSTILE_VALUES = ["'); DROP TABLE events; --", 'x" OR 1=1 --', "$tz", "{c}", "e'; COPY events TO '/tmp/leak.csv'; --"]


def test_hostile_csv_column_is_ignored_and_never_becomes_sql(tmp_path, recorded):
    rows = [{"event_id": f"e{i}", "ts": "2026-03-02 09:00:00", "user_id": value, "event_type": "app_open",
             HOSTILE_COLUMN: value} for i, value in enumerate(HOSTILE_VALUES)]
    source = load_source(write_source(tmp_path / "csv", {"events": rows}), now=TEST_NOW)

    report = source.tables["events"]
    assert (report.rows_read, report.rows_loaded) == (5, 5)
    assert report.notes == [f"columns not in the data contract are ignored: '{HOSTILE_COLUMN}'"]
    assert sorted(source.readable_cursor().execute("select user_id from events").fetchnumpy()["user_id"]) == sorted(HOSTILE_VALUES)
    assert "_row" in [r[0] for r in source.readable_cursor().execute("describe events").fetchall()]
    tables = {r[0] for r in source.con.execute("select table_name from duckdb_tables()").fetchall()}
    # events has user ids and event types: one dictionary of users, and the ENUMs' values
    assert tables == set(TABLES) | {"_keys_user", "_enum_values"}
    for sql in recorded:
        assert HOSTILE_COLUMN not in sql and "DROP TABLE events" not in sql and "leak" not in sql, sql


def test_hostile_parquet_column_names_are_renamed_by_position(tmp_path, recorded):
    folder = tmp_path / "pq"
    folder.mkdir()
    frame = pd.DataFrame({
        "EVENT_ID": ["e1", "e2"], "ts": pd.to_datetime(["2026-03-02", "2026-03-03"]), "User_Id": ["u1", "u2"],
        "event_type": ["app_open", "app_open"], HOSTILE_COLUMN: [1, 2], 'ts"); --': ["x", "y"],
    })
    frame.to_parquet(folder / "events.parquet")
    source = load_source(folder, now=TEST_NOW)
    assert source.tables["events"].rows_loaded == 2
    assert source.tables["events"].columns_present == ("event_id", "ts", "user_id", "event_type")
    assert sorted(source.readable_cursor().execute("select user_id from events").fetchnumpy()["user_id"]) == ["u1", "u2"]
    for sql in recorded:
        assert HOSTILE_COLUMN not in sql and 'ts"); --' not in sql and "EVENT_ID" not in sql, sql


def test_duckdb_file_with_quotes_in_its_name_loads(tmp_path):
    import duckdb

    db = tmp_path / "it's \"odd\"; DROP TABLE x; --.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table events as select 'e1' as event_id, timestamp '2026-03-02' as ts, "
                    "'u1' as user_id, 'app_open' as event_type")
    assert load_source(db, now=TEST_NOW).tables["events"].rows_loaded == 1


def test_loader_sql_names_only_contract_tables_and_columns(tmp_path, recorded):
    """Every `create … table <name>` the loader runs names a contract table or a helper of one."""
    import re

    load_source(write_source(tmp_path / "s", {"events": [
        {"event_id": "e1", "ts": "2026-03-02", "user_id": "u1", "event_type": "app_open"}]}), now=TEST_NOW)
    created = {m.group(1) for sql in recorded
               for m in re.finditer(r"(?i)create (?:or replace )?(?:temp )?table (\w+)", sql)}
    helpers = {"_valid", "_repeated"} | {f"_{kind}_{t}" for t in TABLES for kind in ("checked", "bad", "steps")}
    # the dictionaries of ids and labels, and the values collected for them (source/keys.py)
    kinds = set(KEYED_COLUMNS.values()) | set(ENUM_COLUMNS.values())
    helpers |= {ENUM_VALUES_TABLE} | {keys_table(k) for k in kinds} | {f"_values_{k}" for k in kinds}
    assert created <= set(TABLES) | helpers, created - set(TABLES) - helpers
