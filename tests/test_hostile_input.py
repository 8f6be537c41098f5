"""Hostile and messy input: every way a real export goes wrong, and exactly what the loader does.

Each case pins the behaviour and the message: a file that cannot be used is refused with a
sentence naming the file (and row or column); otherwise the valid rows load, every bad row is
counted under its table, column and reason with its row number, and nothing disappears
silently (rows in the file = loaded + rejected + duplicates merged). No case may end in a
traceback: `load_source` raises SourceError or returns a Source.
"""
from __future__ import annotations

import gzip
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import TEST_NOW, compute, write_source
from dashboard.engine.source import ROW, SourceError, load_source

HEADER = "event_id,ts,user_id,event_type\n"
ROOT = Path(__file__).resolve().parents[1]


def ev(event_id, ts="2026-03-02 09:00:00", user="u1", event_type="app_open", **extra):
    return {"event_id": event_id, "ts": ts, "user_id": user, "event_type": event_type, **extra}


def folder_with(tmp_path: Path, files: dict[str, bytes | str]) -> Path:
    folder = tmp_path / "source"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return folder


def load(tmp_path, files: dict[str, bytes | str]):
    return load_source(folder_with(tmp_path, files), now=TEST_NOW)


def refusal(tmp_path, files: dict[str, bytes | str]) -> list[str]:
    with pytest.raises(SourceError) as err:
        load(tmp_path, files)
    for problem in err.value.problems:
        assert "Traceback" not in problem and "\n" not in problem, problem
    return err.value.problems


def problems(source, table) -> dict:
    return {(p.column, p.reason): (p.rows, p.examples) for p in source.tables[table].problems}


def accounted(source, table: str, rows_in_file: int, loaded: int) -> None:
    """Every row of the file is loaded, rejected or a merged duplicate; the table holds `loaded`."""
    report = source.tables[table]
    assert report.rows_read == rows_in_file
    assert report.rows_loaded == loaded
    assert report.rows_loaded + report.rows_rejected + report.duplicates_merged == rows_in_file
    assert source.readable_cursor().execute(f"select count(*) from {table}").fetchone()[0] == loaded


# --- files that are not what they claim -------------------------------------------------------

def test_empty_file_is_refused_naming_it(tmp_path):
    assert refusal(tmp_path, {"events.csv": b""}) == [
        "events.csv: the file is empty (0 bytes); a CSV file needs at least a header row with the column names"
    ]


def test_empty_optional_table_file_refuses_the_source_too(tmp_path):
    problems_ = refusal(tmp_path, {"events.csv": HEADER + "e1,2026-03-02,u1,app_open\n", "orders.csv": b""})
    assert problems_ == [
        "orders.csv: the file is empty (0 bytes); a CSV file needs at least a header row with the column names"
    ]


def test_empty_gzipped_csv_is_empty_too(tmp_path):
    assert refusal(tmp_path, {"events.csv.gz": gzip.compress(b"")}) == [
        "events.csv.gz: the file is empty (0 bytes); a CSV file needs at least a header row with the column names"
    ]


def test_header_only_loads_an_empty_table_and_the_metrics_run(tmp_path):
    source = load(tmp_path, {"events.csv": HEADER, "orders.csv": "order_id,item_id,ts,user_id,seller_id,quantity,price\n"})
    accounted(source, "events", 0, 0)
    accounted(source, "orders", 0, 0)
    for table in ("buyer_weekly", "business_weekly", "seller_weekly"):
        assert compute(source, table).empty


@pytest.mark.parametrize("delimiter", [";", "\t", "|"], ids=["semicolon", "tab", "pipe"])
def test_other_delimiters_are_read_from_the_header(tmp_path, delimiter):
    # The delimiter is the one the header uses most; a quoted value may contain it.
    header = delimiter.join(["event_id", "ts", "user_id", "event_type"])
    row = delimiter.join(["e1", "2026-03-02", f'"u{delimiter}1"', "app_open"])
    source = load(tmp_path, {"events.csv": f"{header}\n{row}\n"})
    accounted(source, "events", 1, 1)
    assert source.readable_cursor().execute("select user_id from events").fetchone()[0] == f"u{delimiter}1"


def test_unknown_delimiter_says_the_header_has_one_column(tmp_path):
    hint = " — the header has a single column: are the columns separated by ',', ';', tab or '|'?"
    assert refusal(tmp_path, {"events.csv": "event_id:ts:user_id:event_type\ne1:2026-03-02:u:app_open\n"}) == [
        f"events.csv: missing required column '{c}' (columns found: event_id:ts:user_id:event_type){hint}"
        for c in ("event_id", "ts", "user_id", "event_type")
    ]


def test_rows_with_another_delimiter_than_the_header_refuse_the_file(tmp_path):
    assert refusal(tmp_path, {"events.csv": HEADER + "e1;2026-03-02;u;app_open\ne2;2026-03-02;u;app_open\n"}) == [
        "events.csv: none of its 2 rows has the 4 fields of the header (separated by ','); first at row 1: "
        "fewer fields than the 4 of the header. Do the rows use the header's delimiter?"
    ]


def test_unterminated_quote_refuses_the_file_naming_the_row(tmp_path):
    # Reading on would make rows 2..4 one value: three rows lost under one "rejected row".
    text = HEADER + 'e1,2026-03-02,u1,app_open\ne2,2026-03-02,"u2,app_open\ne3,2026-03-02,u3,app_open\ne4,2026-03-02,u4,app_open\n'
    assert refusal(tmp_path, {"events.csv": text}) == [
        "events.csv: row 2 opens a quoted value (\") that is never closed, so the rest of the file cannot be "
        "split into rows; close the quote (a quote inside a quoted value is written twice: \"\")"
    ]


def test_bad_quoting_inside_one_row_rejects_that_row(tmp_path):
    text = HEADER + 'e1,2026-03-02,"u1"x,app_open\ne2,2026-03-02,"u ""two""",app_open\ne3,2026-03-02,"u3,app_open\n'
    source = load(tmp_path, {"events.csv": text})
    accounted(source, "events", 3, 1)
    reason = ("malformed CSV row: bad quoting: a quote not closed, or text after a closing quote "
              "(a quote inside a quoted value is written twice: \"\")")
    assert problems(source, "events") == {(ROW, reason): (2, [1, 3])}
    assert source.readable_cursor().execute("select user_id from events").fetchone()[0] == 'u "two"'


def test_rows_with_too_many_or_too_few_fields_are_rejected_and_row_numbers_stay_file_rows(tmp_path):
    text = HEADER + (
        "e1,2026-03-02,u1,app_open\n"
        "e2,2026-03-02,u2,app_open,surplus\n"  # row 2
        "e3,2026-03-02,u3,teleport\n"  # row 3: parsed, bad value
        "e4,2026-03-02\n"  # row 4
        "e5,yesterday,u5,app_open\n"  # row 5: parsed, bad value
        "e6,2026-03-02,u6,app_open\n"
    )
    source = load(tmp_path, {"events.csv": text})
    found = problems(source, "events")
    assert found[(ROW, "malformed CSV row: more fields than the 4 of the header")] == (1, [2])
    assert found[(ROW, "malformed CSV row: fewer fields than the 4 of the header")] == (1, [4])
    assert found[("ts", "not a timestamp")] == (1, [5])  # not 3: the rejected rows before it count
    assert found[("event_type", "unknown event_type (allowed: app_open, impression, click, add_to_cart, filter_use, suggest_use)")] == (1, [3])
    accounted(source, "events", 6, 2)
    assert source.readable_cursor().execute("select list(_row order by _row) from events").fetchone()[0] == [1, 6]


def test_latin1_file_is_read_as_latin1_with_a_note(tmp_path):
    text = HEADER + "e1,2026-03-02,José,app_open\ne2,2026-03-02,u2,app_open\ne3,2026-03-02,Zoë,app_open\n"
    source = load(tmp_path, {"events.csv": text.encode("latin-1")})
    accounted(source, "events", 3, 3)
    assert sorted(source.readable_cursor().execute("select user_id from events").fetchnumpy()["user_id"]) == ["José", "Zoë", "u2"]
    assert source.tables["events"].notes == [
        "not UTF-8 (2 rows have bytes that are not UTF-8, first at row 1): read as Latin-1 (ISO-8859-1). "
        "Check that accented letters look right; a file saved as UTF-8 needs no guess"
    ]
    assert source.tables["events"].problems == []


def test_utf8_file_with_one_broken_row_rejects_only_that_row(tmp_path):
    # Valid UTF-8 accents elsewhere prove the file is UTF-8: the broken row is the problem.
    data = (HEADER + "e1,2026-03-02,Zoë,app_open\n").encode("utf-8") + b"e2,2026-03-02,bad\xff,app_open\n" \
        + b"e3,2026-03-02,u3,app_open\n"
    source = load(tmp_path, {"events.csv": data})
    accounted(source, "events", 3, 2)
    assert problems(source, "events") == {(ROW, "malformed CSV row: bytes that are not UTF-8 text"): (1, [2])}
    assert source.tables["events"].notes == []
    assert sorted(source.readable_cursor().execute("select user_id from events").fetchnumpy()["user_id"]) == ["Zoë", "u3"]


def test_utf8_bom_is_not_part_of_the_first_column_name(tmp_path):
    for name, text in (("comma", HEADER + "e1,2026-03-02,u1,app_open\n"),
                       ("semicolon", "event_id;ts;user_id;event_type\ne1;2026-03-02;u1;app_open\n")):
        source = load_source(folder_with(tmp_path / name, {"events.csv": b"\xef\xbb\xbf" + text.encode()}), now=TEST_NOW)
        accounted(source, "events", 1, 1)
        assert source.tables["events"].columns_present == ("event_id", "ts", "user_id", "event_type")
        assert source.readable_cursor().execute("select event_id from events").fetchone()[0] == "e1"


def test_binary_file_renamed_csv_is_refused(tmp_path):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    assert refusal(tmp_path, {"events.csv": png}) == [
        "events.csv: not a text file (it contains NUL bytes: binary data, or text saved as UTF-16); "
        "save the table as CSV in UTF-8"
    ]


def test_utf16_csv_is_refused_as_not_utf8_text(tmp_path):
    text = (HEADER + "e1,2026-03-02,u1,app_open\n").encode("utf-16")
    assert refusal(tmp_path, {"events.csv": text})[0].startswith("events.csv: not a text file (it contains NUL bytes")


def test_plain_text_named_csv_gz_is_refused(tmp_path):
    (problem,) = refusal(tmp_path, {"events.csv.gz": HEADER + "e1,2026-03-02,u1,app_open\n"})
    assert problem.startswith("events.csv.gz: not a readable gzip file (")


def test_truncated_parquet_is_refused(tmp_path):
    frame = pd.DataFrame({"event_id": [f"e{i}" for i in range(1000)], "ts": pd.Timestamp("2026-03-02"),
                          "user_id": "u1", "event_type": "app_open"})
    frame.to_parquet(tmp_path / "whole.parquet")
    data = (tmp_path / "whole.parquet").read_bytes()
    assert refusal(tmp_path, {"events.parquet": data[: len(data) // 2]}) == [
        "events.parquet: not a complete Parquet file (its end is missing: the file is truncated, or it is not Parquet)"
    ]


def test_csv_renamed_parquet_is_refused(tmp_path):
    assert refusal(tmp_path, {"events.parquet": HEADER + "e1,2026-03-02,u1,app_open\n"}) == [
        "events.parquet: not a complete Parquet file (its end is missing: the file is truncated, or it is not Parquet)"
    ]


def test_file_that_is_not_a_duckdb_database(tmp_path):
    fake = tmp_path / "fake.duckdb"
    fake.write_bytes(b"SQLite format 3\x00" + b"\x00" * 4096)
    with pytest.raises(SourceError) as err:
        load_source(fake, now=TEST_NOW)
    (problem,) = err.value.problems
    assert problem.startswith("fake.duckdb: not a readable DuckDB database (")
    assert str(tmp_path) not in problem  # the server's folders are not shown, only the file's name


@pytest.fixture
def database(tmp_path) -> Path:
    db = tmp_path / "shop.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table events as select 'e' || range as event_id, timestamp '2026-03-02' as ts, "
                    "'u1' as user_id, 'app_open' as event_type from range(3)")
    return db


def test_duckdb_file_locked_by_another_process(database):
    writer = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('open', flush=True); sys.stdin.read()",
         str(database)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "open"  # the writer holds the lock from here on
        with pytest.raises(SourceError) as err:
            load_source(database, now=TEST_NOW)
    finally:
        writer.stdin.close()
        writer.wait(timeout=30)
    assert err.value.problems == [
        f"shop.duckdb: the database is locked by another program (process {writer.pid}) that has it open for "
        "writing; close that program, or point to a copy of the file"
    ]
    # Once the writer is gone the same file loads.
    assert load_source(database, now=TEST_NOW).tables["events"].rows_loaded == 3


def test_duckdb_file_open_for_writing_in_this_process(database):
    with duckdb.connect(str(database)):
        with pytest.raises(SourceError) as err:
            load_source(database, now=TEST_NOW)
    assert err.value.problems == [
        "shop.duckdb: the database is already open for writing in this server process; close that connection, "
        "or point to a copy of the file"
    ]


def test_duckdb_view_that_reads_another_file_is_refused(tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("event_id,ts,user_id,event_type\ns1,2026-03-02,secret,app_open\n")
    db = tmp_path / "sneaky.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(f"create view events as select * from read_csv('{secret}')")
    with pytest.raises(SourceError) as err:
        load_source(db, now=TEST_NOW)
    (problem,) = err.value.problems
    assert problem.startswith("sneaky.duckdb:events: is a view that reads files outside the database (Permission Error")
    assert problem.endswith("only the database's own tables and views over them can be read")


def test_table_file_that_links_outside_the_allowed_folders_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "events.csv").write_text(HEADER + "e1,2026-03-02,u1,app_open\n")
    allowed = tmp_path / "allowed"
    (allowed / "src").mkdir(parents=True)
    (allowed / "src" / "events.csv").symlink_to(outside / "events.csv")
    with pytest.raises(SourceError) as err:
        load_source(allowed / "src", now=TEST_NOW, allowed_dirs=(allowed,))
    assert err.value.problems == [
        "events.csv: is a link to a file outside the folders this server may read; copy the file instead"
    ]
    # Without an allow-list (command line, trusted) the link is followed.
    assert load_source(allowed / "src", now=TEST_NOW).tables["events"].rows_loaded == 1


def test_table_file_name_in_the_wrong_case_gets_a_hint(tmp_path):
    (problem,) = refusal(tmp_path, {"Events.csv": HEADER + "e1,2026-03-02,u1,app_open\n"})
    assert problem.endswith(
        "the required table 'events' is missing (looked for events.parquet, events.csv, events.csv.gz); "
        "found Events.csv: table files are named in lower case and end in .parquet, .csv or .csv.gz"
    )


# --- columns and values -----------------------------------------------------------------------

def test_missing_required_column_names_file_and_column(tmp_path):
    orders = "order_id,item_id,ts,user_id,quantity\no1,i1,2026-03-02,u1,1\n"
    assert refusal(tmp_path, {"events.csv": HEADER + "e1,2026-03-02,u1,app_open\n", "orders.csv": orders}) == [
        "orders.csv: missing required column 'price' (columns found: order_id, item_id, ts, user_id, quantity)"
    ]


def test_a_column_given_twice_in_other_case_is_refused(tmp_path):
    assert refusal(tmp_path, {"events.csv": "event_id,ts,user_id,USER_ID,event_type\ne1,2026-03-02,u1,u2,app_open\n"}) == [
        "events.csv: column 'user_id' is given 2 times (user_id, USER_ID); keep one"
    ]


def test_columns_named_like_the_loaders_own_are_ignored(tmp_path):
    csv_source = load(tmp_path / "csv", {"events.csv": "_row,event_id,ts,user_id,event_type,_problems,file_row_number\n"
                                                     "9,e1,2026-03-02,u1,app_open,x,7\n"})
    frame = pd.DataFrame({"event_id": ["e1"], "ts": pd.Timestamp("2026-03-02"), "user_id": ["u1"],
                          "event_type": ["app_open"], "file_row_number": [7], "_row": [9]})
    (tmp_path / "pq").mkdir()
    frame.to_parquet(tmp_path / "pq" / "events.parquet")
    parquet_source = load_source(tmp_path / "pq", now=TEST_NOW)
    for source in (csv_source, parquet_source):
        accounted(source, "events", 1, 1)
        assert source.readable_cursor().execute("select _row, event_id from events").fetchall() == [(1, "e1")]
        assert source.tables["events"].notes[0].startswith("columns not in the data contract are ignored: ")


def test_unparseable_dates_and_numbers_reject_their_rows(make_source):
    base = {"order_id": "o", "ts": "2026-03-02 10:00:00", "user_id": "u1", "quantity": "1", "price": "5"}
    source = make_source({
        "events": [ev("e1"), ev("e2", ts="2026-02-30 10:00:00"), ev("e3", ts="02/03/2026 25:00")],
        "orders": [
            dict(base, item_id="a"),
            dict(base, item_id="b", quantity="two"),
            dict(base, item_id="c", price="1,5"),  # a decimal comma is not an amount
            dict(base, item_id="d", ts="soon"),
            dict(base, item_id="e", quantity="1.5"),
            dict(base, item_id="f", price="NaN"),
        ],
    })
    assert problems(source, "events") == {("ts", "not a timestamp"): (2, [2, 3])}
    assert problems(source, "orders") == {
        ("quantity", "not an integer"): (2, [2, 5]),
        ("price", "not an amount"): (2, [3, 6]),
        ("ts", "not a timestamp"): (1, [4]),
    }
    accounted(source, "events", 3, 1)
    accounted(source, "orders", 6, 1)


def test_negative_prices_and_quantities_reject_their_rows(make_source):
    base = {"order_id": "o", "ts": "2026-03-02 10:00:00", "user_id": "u1", "quantity": "1", "price": "5"}
    source = make_source({"events": [ev("e1")], "orders": [
        dict(base, item_id="a"),
        dict(base, item_id="b", price="-0.01"),
        dict(base, item_id="c", quantity="-2"),
        dict(base, item_id="d", quantity="0"),
        dict(base, item_id="e", commission="-1"),
        dict(base, item_id="f", price="0"),  # free is allowed
    ]})
    assert problems(source, "orders") == {
        ("quantity", "quantity below 1"): (2, [3, 4]),
        ("commission", "negative amount"): (1, [5]),
        ("price", "negative amount"): (1, [2]),
    }
    accounted(source, "orders", 6, 2)


def test_ids_that_look_numeric_keep_their_leading_zeros(make_source):
    source = make_source({"events": [ev("001", user="00123"), ev("1", user="123"), ev("1.0", user="0123")]})
    accounted(source, "events", 3, 3)
    assert sorted(source.readable_cursor().execute("select user_id from events").fetchnumpy()["user_id"]) == ["00123", "0123", "123"]
    assert source.tables["events"].notes == []


def test_numeric_ids_in_parquet_get_a_note(tmp_path):
    frame = pd.DataFrame({"event_id": [1, 2], "ts": pd.Timestamp("2026-03-02"), "user_id": [123, 7],
                          "event_type": "app_open"})
    folder = tmp_path / "pq"
    folder.mkdir()
    frame.to_parquet(folder / "events.parquet")
    source = load_source(folder, now=TEST_NOW)
    assert sorted(source.readable_cursor().execute("select user_id from events").fetchnumpy()["user_id"]) == ["123", "7"]
    assert source.tables["events"].notes == [
        f"column '{c}' is stored as BIGINT: ids are compared as text, and leading zeros (if the ids had any) "
        "were lost before the file was written"
        for c in ("event_id", "user_id")
    ]


def test_null_ids_reject_their_rows(make_source):
    source = make_source({"events": [ev("e1"), ev(None), ev("e3", user=None), ev("e4", user="")]})
    assert problems(source, "events") == {("event_id", "missing value"): (1, [2]), ("user_id", "missing value"): (2, [3, 4])}
    accounted(source, "events", 4, 1)


def test_future_timestamps_reject_events_but_not_planned_dates(make_source):
    source = make_source({
        "events": [ev("e1"), ev("e2", ts="2026-11-03 00:00:00"), ev("e3", ts="2099-01-01")],
        "experiments": [{"experiment_id": "x", "start_ts": "2026-10-01", "end_ts": "2027-06-01"}],
    })
    assert problems(source, "events") == {("ts", "more than a day in the future"): (2, [2, 3])}
    accounted(source, "events", 3, 1)
    accounted(source, "experiments", 1, 1)


def test_naive_and_offset_timestamps_mixed_in_one_column(make_source):
    source = make_source({"events": [
        ev("e1", ts="2026-03-02 10:00:00"), ev("e2", ts="2026-03-02T10:00:00+03:00"),
        ev("e3", ts="2026-03-02 10:00:00Z"), ev("e4", ts="2026-03-02 10:00:00-05:30"),
    ]})
    got = dict(source.readable_cursor().execute("select event_id, strftime(ts, '%H:%M') from events").fetchall())
    assert got == {"e1": "10:00", "e2": "07:00", "e3": "10:00", "e4": "15:30"}


def test_duplicate_and_conflicting_event_ids(make_source):
    source = make_source({"events": [ev("e1"), ev("e1"), ev("e1"), ev("e2"), ev("e2", user="u2"), ev("e3")]})
    assert problems(source, "events") == {("event_id", "different rows share the same event_id"): (2, [4, 5])}
    assert source.tables["events"].duplicates_merged == 2
    accounted(source, "events", 6, 2)


def _experiment(variants, assignments):
    tables = {
        "events": [ev("e1")],
        "experiments": [{"experiment_id": "x", "start_ts": "2026-03-01", "end_ts": "2026-04-01"}],
        "experiment_variants": variants,
    }
    return {**tables, "assignments": assignments} if assignments else tables


def test_user_assigned_twice_in_one_experiment_rejects_both_rows(make_source):
    source = make_source(_experiment(
        [{"experiment_id": "x", "variant": "a", "model_version": "m1", "is_control": "true"},
         {"experiment_id": "x", "variant": "b", "model_version": "m2", "is_control": "false"}],
        [{"experiment_id": "x", "user_id": "u1", "variant": "a"},
         {"experiment_id": "x", "user_id": "u1", "variant": "b"},
         {"experiment_id": "x", "user_id": "u2", "variant": "b"}],
    ))
    assert problems(source, "assignments") == {
        ("experiment_id, user_id", "different rows share the same experiment_id, user_id"): (2, [1, 2])
    }
    accounted(source, "assignments", 3, 1)


def test_experiment_without_a_control_or_with_two_rejects_its_variants(make_source):
    source = make_source(_experiment(
        [{"experiment_id": "x", "variant": "a", "model_version": "m1", "is_control": "false"},
         {"experiment_id": "x", "variant": "b", "model_version": "m2", "is_control": "false"}],
        [{"experiment_id": "x", "user_id": "u1", "variant": "a"}],
    ))
    assert problems(source, "experiment_variants") == {("is_control", "experiment has no control variant"): (2, [1, 2])}
    # Its assignments then name variants that do not exist: rejected too, and said so.
    assert problems(source, "assignments") == {
        ("variant", "variant not in experiment_variants for this experiment"): (1, [1])
    }
    two = make_source(_experiment(
        [{"experiment_id": "x", "variant": "a", "model_version": "m1", "is_control": "true"},
         {"experiment_id": "x", "variant": "b", "model_version": "m2", "is_control": "true"}],
        [],
    ))
    assert problems(two, "experiment_variants") == {("is_control", "experiment has more than one control variant"): (2, [1, 2])}


def test_traffic_shares_not_summing_to_one_load_with_a_warning_and_srm_normalises(make_source):
    # Shares 0.5 and 0.3 mean 5:3. Eight users split 5:3 match the plan exactly: SRM p = 1.
    assignments = [{"experiment_id": "x", "user_id": f"u{i}", "variant": "a" if i < 5 else "b"} for i in range(8)]
    source = make_source(_experiment(
        [{"experiment_id": "x", "variant": "a", "model_version": "m1", "is_control": "true", "traffic_share": "0.5"},
         {"experiment_id": "x", "variant": "b", "model_version": "m2", "is_control": "false", "traffic_share": "0.3"}],
        assignments,
    ))
    accounted(source, "experiment_variants", 2, 2)
    assert source.tables["experiment_variants"].notes == [
        "experiment 'x': traffic_share sums to 0.8, not 1; the sample-ratio check compares the users with the "
        "shares scaled to sum to 1"
    ]
    experiments = compute(source, "experiments")
    assert experiments.srm_p_value.dropna().unique().tolist() == [pytest.approx(1.0)]


def test_traffic_share_given_for_some_variants_only_is_a_warning(make_source):
    source = make_source(_experiment(
        [{"experiment_id": "x", "variant": "a", "model_version": "m1", "is_control": "true", "traffic_share": "0.5"},
         {"experiment_id": "x", "variant": "b", "model_version": "m2", "is_control": "false", "traffic_share": ""}],
        [],
    ))
    assert source.tables["experiment_variants"].notes == [
        "experiment 'x': traffic_share is given for 1 of its 2 variants; the sample-ratio check assumes an equal split"
    ]


def test_a_one_megabyte_cell_loads_and_a_row_over_the_line_limit_is_rejected(tmp_path):
    huge = "b" * 1_000_000
    text = HEADER.strip() + ",item_id,block\n" + (
        f"e1,2026-03-02,u1,impression,i1,{huge}\n"
        f"e2,2026-03-02,u1,impression,i1,{'c' * 2_500_000}\n"
        "e3,2026-03-02,u1,impression,i1,home\n"
    )
    source = load(tmp_path, {"events.csv": text})
    accounted(source, "events", 3, 2)
    assert problems(source, "events") == {(ROW, "malformed CSV row: longer than 2,000,000 bytes"): (1, [2])}
    assert source.readable_cursor().execute("select length(block) from events where event_id = 'e1'").fetchone()[0] == 1_000_000
    weekly = compute(source, "buyer_weekly")
    assert set(weekly.block) == {"ALL", huge, "home"}


def test_a_blank_header_line_is_refused(tmp_path):
    assert refusal(tmp_path, {"events.csv": "\ne1,2026-03-02,u1,app_open\n"}) == [
        "events.csv: the first line is empty; a CSV file starts with a header row with the column names"
    ]


def test_a_one_megabyte_header_name_is_cut_in_messages(tmp_path):
    text = "event_id,ts,user_id,event_type," + "x" * 1_000_000 + "\ne1,2026-03-02,u1,app_open,1\n"
    source = load(tmp_path, {"events.csv": text})
    accounted(source, "events", 1, 1)
    (note,) = source.tables["events"].notes
    assert note == "columns not in the data contract are ignored: '" + "x" * 39 + "…'"


# --- markup in names --------------------------------------------------------------------------

SCRIPT = "<script>alert('x')</script>"
IMAGE = '<img src=x onerror="alert(1)">'


def test_html_in_block_and_category_names_is_kept_as_text(make_source):
    source = make_source({
        "events": [ev("e1", event_type="impression", item_id="i1", block=SCRIPT),
                   ev("e2", event_type="click", item_id="i1", block=SCRIPT, ts="2026-03-02 09:01:00")],
        "items": [{"item_id": "i1", "seller_id": "s1", "category": IMAGE}],
        "orders": [{"order_id": "o1", "item_id": "i1", "ts": "2026-03-02 09:05:00", "user_id": "u1", "quantity": "1",
                    "price": "5"}],
    })
    assert source.readable_cursor().execute("select block from events limit 1").fetchone()[0] == SCRIPT
    assert source.readable_cursor().execute("select category from items").fetchone()[0] == IMAGE
    weekly = compute(source, "buyer_weekly")
    assert weekly.loc[weekly.block == SCRIPT, "clicks"].tolist() == [1]


def test_no_page_passes_anything_to_unsafe_html():
    """Data-derived text must never be rendered as HTML: no page may use an HTML sink at all."""
    sinks = re.compile(r"unsafe_allow_html\s*=\s*True|st\.html\(|components\.v1|components\.html|\.html\(")
    found = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "dashboard").rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if sinks.search(line)]
    assert found == []


def test_markdown_escaping_turns_markup_into_plain_text():
    from dashboard.ui.source import escape_markdown

    assert escape_markdown(SCRIPT) == "\\<script\\>alert\\('x'\\)\\</script\\>"
    assert escape_markdown("[click](javascript:alert(1)) :red[x] **b**") == (
        "\\[click\\]\\(javascript\\:alert\\(1\\)\\) \\:red\\[x\\] \\*\\*b\\*\\*"
    )


# --- a bot ------------------------------------------------------------------------------------

def test_a_million_events_of_one_bot_load_and_are_named_in_a_warning(tmp_path):
    folder = tmp_path / "bot"
    folder.mkdir()
    with duckdb.connect() as con:
        con.execute(
            f"""
            copy (
                select 'b' || range as event_id, timestamp '2026-03-02' + to_seconds(range % 600000) as ts,
                       'bot-7' as user_id, 's-bot' as session_id,
                       case when range % 2 = 0 then 'impression' else 'click' end as event_type,
                       'i' || (range % 50) as item_id, 'home_feed' as block, 'web' as platform
                from range(1000000)
                union all
                select 'h' || range, timestamp '2026-03-03 12:00:00', 'human-' || (range % 40), 's-' || range,
                       'app_open', null, null, 'ios'
                from range(200)
            ) to '{folder / "events.parquet"}' (format parquet)
            """
        )
    source = load_source(folder, now=TEST_NOW)
    accounted(source, "events", 1_000_200, 1_000_200)
    assert source.tables["events"].notes == [
        "user 'bot-7' has 1,000,000 of the 1,000,200 events (100%): a bot or a logging loop? "
        "The events are loaded and count in every metric"
    ]
    weekly = compute(source, "buyer_weekly")
    home = weekly[weekly.block == "home_feed"]
    assert home.impressions.sum() == 500_000 and home.clicks.sum() == 500_000
    business = compute(source, "business_weekly")
    assert business.wau.max() == 41


def _srm_source(tmp_path: Path, name: str) -> Path:
    """An experiment whose users split 55:5 against a planned 50:50, so the page flags it by name."""
    events, assignments = [], []
    for i in range(60):
        events.append(ev(f"c{i}", ts="2025-03-04 10:01:00", user=f"u{i}", event_type="click", item_id="it1", block="home"))
        assignments.append({"experiment_id": "x1", "user_id": f"u{i}", "variant": "a" if i < 55 else "b"})
    return write_source(tmp_path / "srm", {
        "events": events,
        "experiments": [{"experiment_id": "x1", "name": name, "start_ts": "2025-03-03", "end_ts": "2025-03-10"}],
        "experiment_variants": [
            {"experiment_id": "x1", "variant": "a", "model_version": "m1", "is_control": "true", "traffic_share": "0.5"},
            {"experiment_id": "x1", "variant": "b", "model_version": "m2", "is_control": "false", "traffic_share": "0.5"},
        ],
        "assignments": assignments,
    })


def test_experiment_names_reach_markdown_escaped(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    name = "![x](https://tracker.example/pixel.png) [click](https://evil.example) **loud**"
    monkeypatch.setattr(sys, "argv", ["app.py", "--data", str(_srm_source(tmp_path, name))])
    monkeypatch.setenv("RECDASH_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120)
    at.switch_page("views/experiments.py")
    at.run()
    assert not at.exception
    flagged = [e.value for e in at.error if "sample ratio mismatch" in e.value]
    assert flagged, [e.value for e in at.error]
    assert all("![x](" not in body and "[click](" not in body and "**loud**" not in body for body in flagged), flagged
