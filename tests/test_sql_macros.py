"""The local-time macro (queries/macros/local_ts.sql), expanded by dashboard/engine/sql.py."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from dashboard.engine import sql

QUERIES = Path(sql.QUERIES_DIR)


def test_a_macro_call_is_expanded_in_code_and_left_alone_in_a_comment():
    text = sql.expand_macros("select local_ts(e.ts) as x -- local_ts(y.z) stays a comment\nfrom events as e")
    assert "then e.ts" in text and "epoch_us(e.ts)" in text and "timezone($tz, cast(e.ts as timestamptz))" in text
    assert text.endswith("-- local_ts(y.z) stays a comment\nfrom events as e")
    assert "y.z" not in text.split("--")[0]
    assert sql.parameter_names(text) == {"tz"}


def test_the_local_time_expression_is_written_once():
    # Regression: it stood in five query files (off_policy, serving_model_weekly, stg_sessions,
    # stg_attributed_carts, stg_activity_all); now only in the macro.
    written = [p.relative_to(QUERIES).as_posix() for p in sorted(QUERIES.rglob("*.sql"))
               if "z.offsets[" in sql._strip_comments(p.read_text(encoding="utf-8"))]
    assert written == ["macros/local_ts.sql"]
    callers = [p.stem for p in sorted(QUERIES.rglob("*.sql")) if "local_ts(" in sql._strip_comments(p.read_text(encoding="utf-8"))]
    assert {"off_policy", "serving_model_weekly", "stg_sessions", "stg_attributed_carts", "stg_activity_all"} <= set(callers)


def local_times(tz: str, instants: list[dt.datetime]) -> list[dt.datetime]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE events (ts TIMESTAMP)")
    con.execute("CREATE TABLE orders (ts TIMESTAMP)")
    con.executemany("INSERT INTO events VALUES (?)", [(t,) for t in instants])
    sql.execute(con, "CREATE TEMP TABLE stg_tz AS " + sql.query_text("staging/stg_tz"), {"tz": tz})
    query = sql.expand_macros("select local_ts(e.ts) as local from events as e cross join stg_tz as z order by e.ts")
    return [row[0] for row in con.execute(query, sql.bind(query, {"tz": tz})).fetchall()]


def test_local_ts_across_a_dst_switch_worked_by_hand():
    # Europe/Berlin: CET (UTC+1) until 2026-03-29 01:00 UTC, then CEST (UTC+2).
    instants = [dt.datetime(2026, 3, 28, 12, 0),   # CET: 13:00
                dt.datetime(2026, 3, 29, 0, 30),   # before the switch: 01:30
                dt.datetime(2026, 3, 29, 1, 30),   # after it (the hour of the switch is looked up exactly): 03:30
                dt.datetime(2026, 3, 30, 9, 15)]   # CEST: 11:15
    assert local_times("Europe/Berlin", instants) == [
        dt.datetime(2026, 3, 28, 13, 0), dt.datetime(2026, 3, 29, 1, 30),
        dt.datetime(2026, 3, 29, 3, 30), dt.datetime(2026, 3, 30, 11, 15)]
    assert local_times("UTC", instants) == instants  # UTC: the instant itself
