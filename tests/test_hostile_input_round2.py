"""Hostile input, round two: each test pins one case found by trying inputs as a user (or an
attacker) would, and is named after the bug it pins. Before the fix each of them crashed,
loaded a wrong value, leaked data, or gave a message that did not say what was wrong.
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import TEST_NOW, compute, write_source
from dashboard.__main__ import main
from dashboard.engine.export import FORMULA_TRIGGERS, bundle, csv_text
from dashboard.engine.params import Params
from dashboard.engine.settings import Settings
from dashboard.engine.source import SourceError, load_source
from dashboard.review.exported import load_exported

HEADER = "event_id,ts,user_id,event_type\n"


def ev(event_id, ts="2026-03-02 09:00:00", user="u1", event_type="app_open", **extra):
    return {"event_id": event_id, "ts": ts, "user_id": user, "event_type": event_type, **extra}


def order(item_id, **extra):
    return {"order_id": "o1", "item_id": item_id, "ts": "2026-03-02 10:00:00", "user_id": "u1",
            "quantity": "1", "price": "5", **extra}


def problems(source, table) -> dict:
    return {(p.column, p.reason): (p.rows, p.examples) for p in source.tables[table].problems}


def accounted(source, table: str, rows_in_file: int, loaded: int) -> None:
    report = source.tables[table]
    assert report.rows_read == rows_in_file
    assert report.rows_loaded == loaded
    assert report.rows_loaded + report.rows_rejected + report.duplicates_merged == rows_in_file
    assert source.readable_cursor().execute(f"select count(*) from {table}").fetchone()[0] == loaded


def folder_with(tmp_path: Path, files: dict[str, bytes | str | pa.Table]) -> Path:
    folder = tmp_path / "source"
    folder.mkdir(parents=True)
    for name, data in files.items():
        if isinstance(data, pa.Table):
            pq.write_table(data, folder / name)
        else:
            (folder / name).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return folder


def refusal(path: Path) -> list[str]:
    with pytest.raises(SourceError) as err:
        load_source(path, now=TEST_NOW)
    for problem in err.value.problems:
        assert "Traceback" not in problem and "\n" not in problem, problem
    return err.value.problems


# --- infinite and implausible timestamps (were: export/report crash, a 105,703-week spine) --------

def test_infinite_and_year_0001_event_timestamps_are_rejected_rows_and_export_and_report_run(tmp_path, capsys):
    folder = write_source(tmp_path / "src", {
        "events": [ev("e1"), ev("e2", ts="infinity"), ev("e3", ts="-infinity"), ev("e4", ts="0001-01-01 00:00:00"),
                   ev("e5", ts="1969-12-31 23:59:59"), ev("e6", ts="1970-01-01 00:00:00")],
        "orders": [order("a"), order("b", ts="-infinity"), order("c", ts="0001-01-01")],
        "reviews": [{"review_id": "r1", "item_id": "a", "ts": "infinity"}, {"review_id": "r2", "item_id": "a", "ts": "2026-03-01"}],
    })
    source = load_source(folder, now=TEST_NOW)
    assert problems(source, "events") == {
        ("ts", "infinite timestamp"): (2, [2, 3]),
        ("ts", "before 1970-01-01"): (2, [4, 5]),
    }
    assert problems(source, "orders") == {("ts", "infinite timestamp"): (1, [2]), ("ts", "before 1970-01-01"): (1, [3])}
    assert problems(source, "reviews") == {("ts", "infinite timestamp"): (1, [1])}
    accounted(source, "events", 6, 2)
    # The weekly spine runs from 1970 (e6) to March 2026, not from year 1: export and report run.
    assert main(["export", "--data", str(folder), "--out", str(tmp_path / "out")]) == 0
    assert main(["report", "--data", str(folder), "--out", str(tmp_path / "review.html")]) == 0
    assert "Error" not in capsys.readouterr().err


def test_infinite_timestamp_stored_as_a_duckdb_timestamp_is_a_rejected_row(tmp_path):
    db = tmp_path / "typed.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table events (event_id varchar, ts timestamp, user_id varchar, event_type varchar)")
        con.execute("insert into events values ('e1', '2026-03-02', 'u1', 'app_open'), ('e2', 'infinity', 'u1', 'app_open'),"
                    " ('e3', '-infinity', 'u1', 'app_open')")
    source = load_source(db, now=TEST_NOW)
    assert problems(source, "events") == {("ts", "infinite timestamp"): (2, [2, 3])}
    accounted(source, "events", 3, 1)


def test_planned_dates_may_be_future_but_not_infinite_or_after_2200(make_source):
    source = make_source({
        "events": [ev("e1")],
        "experiments": [
            {"experiment_id": "x1", "start_ts": "2026-10-01", "end_ts": "2199-12-31"},
            {"experiment_id": "x2", "start_ts": "2026-10-01", "end_ts": "2200-01-01"},
            {"experiment_id": "x3", "start_ts": "2026-10-01", "end_ts": "infinity"},
        ],
        "sellers": [{"seller_id": "s1", "joined_at": "2020-01-01", "left_at": "2030-01-01"},
                    {"seller_id": "s2", "joined_at": "2020-01-01", "left_at": "9999-01-01"}],
        "ad_spend": [{"date": "2026-03-02", "seller_id": "s1", "amount": "1"},
                     {"date": "infinity", "seller_id": "s1", "amount": "1"}],
    })
    assert problems(source, "experiments") == {("end_ts", "after 2200-01-01"): (1, [2]),
                                               ("end_ts", "infinite timestamp"): (1, [3])}
    assert problems(source, "sellers") == {("left_at", "after 2200-01-01"): (1, [2])}
    assert problems(source, "ad_spend") == {("date", "infinite date"): (1, [2])}
    accounted(source, "experiments", 3, 1)


# --- quantity × price overflowing DECIMAL(38) (was: OutOfRangeException in export) -------------

def test_quantity_times_price_that_overflowed_decimal_38_is_a_rejected_row_and_export_runs(tmp_path):
    folder = write_source(tmp_path / "src", {
        "events": [ev("e1")],
        "orders": [
            order("a"),
            # The former crash: both values were legal, their product overflowed in SQL.
            order("b", quantity="9223372036854775807", price="99999999999999"),
            order("c", quantity="1000001"),
            order("d", price="1000000000000.0001"),
            order("e", discount="2000000000000"),
        ],
    })
    source = load_source(folder, now=TEST_NOW)
    assert problems(source, "orders") == {
        ("quantity", "quantity above 1,000,000"): (2, [2, 3]),
        ("price", "amount above 1,000,000,000,000"): (2, [2, 4]),
        ("discount", "amount above 1,000,000,000,000"): (1, [5]),
    }
    accounted(source, "orders", 5, 1)
    assert main(["export", "--data", str(folder), "--out", str(tmp_path / "out")]) == 0


def test_quantity_and_price_at_their_bounds_load_and_sum_exactly(tmp_path):
    # 10^6 units at 10^12 each, twice: GMV 2 × 10^18, exact (DECIMAL(38,4) holds 34 integer digits).
    folder = write_source(tmp_path / "src", {
        "events": [ev("e1")],
        "orders": [order("a", quantity="1000000", price="1000000000000"),
                   order("b", quantity="1000000", price="1000000000000")],
    })
    source = load_source(folder, now=TEST_NOW)
    accounted(source, "orders", 2, 2)
    business = compute(source, "business_weekly")
    assert business["gmv"].dropna().tolist() == [2 * 10**18]
    assert main(["export", "--data", str(folder), "--out", str(tmp_path / "out")]) == 0


# --- CSV formula injection through a carriage return (was: a live formula row) -----------------

HOSTILE_TEXT = ["sports\r=cmd|' /C calc'!A0", "\r=1+1", "a\r\n+SUM(A1)", "b\n@x", "c\r\t=1", "d\r\r-2+3", "plain"]


def _no_row_starts_a_formula(text: str) -> None:
    # A reader that ends a row at every CR or LF (quotes or not) sees these lines.
    for line in re.split(r"\r\n|\r|\n", text):
        for cell in line.split(","):
            cell = cell.lstrip('"')
            assert not (cell.startswith(FORMULA_TRIGGERS) and not re.fullmatch(r"[+-]?\d+(\.\d*)?", cell)), line


def test_carriage_return_inside_text_cannot_start_a_formula_row_in_csv_or_zip():
    frame = pd.DataFrame({"category": HOSTILE_TEXT, "n": range(len(HOSTILE_TEXT))})
    text = csv_text(frame)
    assert "\r" not in text  # no bare CR anywhere: line breaks inside cells are LF, and quoted
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == 1 + len(HOSTILE_TEXT)  # Python's csv module sees one row per table row
    assert [r[0] for r in rows[1:]] == [
        "sports\n'=cmd|' /C calc'!A0", "'\n'=1+1", "a\n'+SUM(A1)", "b\n'@x", "c\n'\t=1", "d\n\n'-2+3", "plain",
    ]
    _no_row_starts_a_formula(text)
    with zipfile.ZipFile(io.BytesIO(bundle({"t": frame}, {"source": "x"}))) as archive:
        zipped = archive.read("t.csv").decode("utf-8")
    assert zipped == text
    _no_row_starts_a_formula(zipped)


def test_carriage_return_in_a_category_is_exported_quoted_and_neutralised(tmp_path):
    folder = write_source(tmp_path / "src", {
        "events": [ev("e1", user="u1"), ev("e2", user="u1", ts="2026-03-10 09:00:00")],
        "orders": [order("i1", seller_id="s1")],
        "items": [{"item_id": "i1", "seller_id": "s1", "category": "sports\r=cmd|' /C calc'!A0"}],
    })
    out = tmp_path / "out"
    assert main(["export", "--data", str(folder), "--out", str(out), "--zip"]) == 0
    written = [p for p in out.glob("*.csv")] + [out / "metric_tables.zip"]
    texts = [p.read_text(encoding="utf-8") for p in written if p.suffix == ".csv"]
    with zipfile.ZipFile(out / "metric_tables.zip") as archive:
        texts += [archive.read(n).decode("utf-8") for n in archive.namelist()]
    retention = (out / "retention.csv").read_text(encoding="utf-8")
    assert "\"sports\n'=cmd|' /C calc'!A0\"" in retention
    for text in texts:
        assert "\r" not in text
        _no_row_starts_a_formula(text)
    # Opened again on the pages, the text is the category's (its CR read as a line break).
    categories = load_exported(out)["retention"]["category"].dropna().unique().tolist()
    assert "sports\n=cmd|' /C calc'!A0" in categories


# --- DuckDB sandbox: temp_directory and settings (was: read_blob of another source's data) -----

def test_duckdb_view_with_read_blob_on_another_sources_temp_files_is_refused(tmp_path):
    temp = tmp_path / "duckdb-temp"
    disk = Settings(allowed_dirs=(tmp_path,), temp_dir=temp, storage="disk")
    victim = load_source(write_source(tmp_path / "victim", {"events": [ev("e1", user="victim-user-42")]}),
                         now=TEST_NOW, settings=disk)
    (victim_db,) = temp.glob("source-*/tables.duckdb")
    victim.con.execute("CHECKPOINT")
    spill = Path(victim.con.execute("select current_setting('temp_directory')").fetchone()[0])
    spill.mkdir(exist_ok=True)
    (spill / "spilled.tmp").write_text("victim-user-42")
    for target in (victim_db, victim_db.with_name("tables.duckdb.wal"), spill / "spilled.tmp"):
        db = tmp_path / f"hostile-{target.name}.duckdb"
        with duckdb.connect(str(db)) as con:
            con.execute(f"create view events as select 'e1' as event_id, timestamp '2026-03-02' as ts, "
                        f"(select content from read_blob('{target}'))::varchar as user_id, 'app_open' as event_type")
        with pytest.raises(SourceError) as err:
            load_source(db, now=TEST_NOW, settings=disk)
        (problem,) = err.value.problems
        assert "is a view that reads files outside the database (Permission Error" in problem
        assert "victim-user-42" not in problem


def test_each_source_spills_into_a_private_folder_of_its_own(tmp_path):
    settings = Settings(allowed_dirs=(tmp_path,), temp_dir=tmp_path / "t")
    folder = write_source(tmp_path / "src", {"events": [ev("e1")]})
    first, second = (load_source(folder, now=TEST_NOW, settings=settings) for _ in range(2))
    spills = [Path(s.con.execute("select current_setting('temp_directory')").fetchone()[0]) for s in (first, second)]
    assert spills[0] != spills[1]
    for spill in spills:
        assert spill.parent.parent == tmp_path / "t" and spill.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("definition, shown", [
    ("create view events as select name as event_id, timestamp '2026-03-02' as ts, value as user_id, "
     "'app_open' as event_type from duckdb_settings()", "view events reads the server's settings or state (duckdb_settings)"),
    ("create view events as select 'e1' as event_id, timestamp '2026-03-02' as ts, "
     "current_setting('temp_directory') as user_id, 'app_open' as event_type", "(current_setting)"),
    ("create view events as select name as event_id, timestamp '2026-03-02' as ts, setting as user_id, "
     "'app_open' as event_type from pg_settings", "(pg_settings)"),
    ("create table events (event_id varchar, ts timestamp, user_id varchar as (current_setting('allowed_paths')), "
     "event_type varchar)", "table events reads the server's settings or state (current_setting)"),
])
def test_duckdb_view_over_duckdb_settings_is_refused(tmp_path, definition, shown):
    db = tmp_path / "settings.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(definition)
    (problem,) = refusal(db)
    assert problem.startswith("settings.duckdb: ") and shown in problem
    assert str(tmp_path) not in problem


def test_a_macro_that_reads_settings_is_refused(tmp_path):
    db = tmp_path / "macro.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create macro leak() as table select * from duckdb_settings()")
        con.execute("create table events (event_id varchar, ts timestamp, user_id varchar, event_type varchar)")
    assert refusal(db) == [
        "macro.duckdb: macro leak reads the server's settings or state (duckdb_settings); "
        "only the database's own tables and views over them can be read"
    ]


# --- wrong values: blank ids, loose integers, inexact money, nested Parquet columns ------------

def test_blank_and_whitespace_ids_are_rejected_in_csv_and_parquet(tmp_path, make_source):
    rows = [ev("e1"), ev("e2", user=" "), ev("e3", user="\t"), ev(" \t "), ev("e5", user="u\t5")]
    source = make_source({"events": rows})
    expected = {("user_id", "blank value (only spaces, tabs or line breaks)"): (2, [2, 3]),
                ("event_id", "blank value (only spaces, tabs or line breaks)"): (1, [4])}
    assert problems(source, "events") == expected
    accounted(source, "events", 5, 2)
    # Parquet keeps '' as a value (not NULL): it is blank too.
    table = pa.table({k: [r[k] for r in rows] + [v] for k, v in
                      {"event_id": "e6", "ts": "2026-03-02", "user_id": "", "event_type": "app_open"}.items()})
    parquet = load_source(folder_with(tmp_path / "pq", {"events.parquet": table}), now=TEST_NOW)
    assert problems(parquet, "events") == {**expected, ("user_id", "blank value (only spaces, tabs or line breaks)"): (3, [2, 3, 6])}
    accounted(parquet, "events", 6, 2)


def test_integers_with_a_fraction_exponent_or_underscore_are_rejected(tmp_path, make_source):
    source = make_source({"events": [ev("e1")], "orders": [
        order("a", quantity="2.0000001"), order("b", quantity="1e2"), order("c", quantity="1_000"),
        order("d", quantity="2.0"), order("e", quantity=" 3 "), order("f", quantity="+4"),
    ]})
    assert problems(source, "orders") == {("quantity", "not an integer"): (3, [1, 2, 3])}
    assert source.readable_cursor().execute("select item_id, quantity from orders order by 1").fetchall() == [("d", 2), ("e", 3), ("f", 4)]
    table = pa.table({"order_id": ["o"] * 3, "item_id": ["a", "b", "c"], "ts": ["2026-03-02"] * 3, "user_id": ["u"] * 3,
                      "quantity": [2.0000001, 2.0, 1e2], "price": [1.0] * 3})
    parquet = load_source(folder_with(tmp_path / "pq", {"events.csv": HEADER + "e1,2026-03-02,u1,app_open\n",
                                                         "orders.parquet": table}), now=TEST_NOW)
    assert problems(parquet, "orders") == {("quantity", "not an integer"): (1, [1])}
    assert parquet.readable_cursor().execute("select quantity from orders order by item_id").fetchall() == [(2,), (100,)]


def test_negative_money_below_a_ten_thousandth_is_rejected_not_loaded_as_zero(make_source):
    source = make_source({"events": [ev("e1")], "orders": [
        order("a", price="-0.00001"), order("b", commission="-0.00001"), order("c", price="0.0000")]})
    assert problems(source, "orders") == {
        ("price", "more than 4 decimals (amounts are kept exact to 0.0001)"): (1, [1]),
        ("commission", "more than 4 decimals (amounts are kept exact to 0.0001)"): (1, [2]),
    }
    assert source.readable_cursor().execute("select item_id, price from orders").fetchall() == [("c", Decimal("0"))]


def test_money_with_a_fifth_decimal_is_rejected_not_rounded(tmp_path, make_source):
    source = make_source({"events": [ev("e1")], "orders": [
        order("a", price="12.34567"), order("b", price="12.3456"), order("c", price="12.34560"),
        order("d", price="1e-5"), order("e", price="1.5e1")]})
    reason = "more than 4 decimals (amounts are kept exact to 0.0001)"
    assert problems(source, "orders") == {("price", reason): (2, [1, 4])}
    assert source.readable_cursor().execute("select item_id, price from orders order by 1").fetchall() == [
        ("b", Decimal("12.3456")), ("c", Decimal("12.3456")), ("e", Decimal("15"))]
    # Parquet doubles are judged by their shortest text: 19.99 is exact, 12.34567 is not; a
    # DECIMAL(10,5) column is judged by its value.
    table = pa.table({"order_id": ["o"] * 3, "item_id": ["a", "b", "c"], "ts": ["2026-03-02"] * 3, "user_id": ["u"] * 3,
                      "quantity": [1] * 3, "price": [19.99, 12.34567, 0.1],
                      "discount": pa.array([Decimal("0.10000"), Decimal("0.00001"), Decimal("0")], pa.decimal128(10, 5))})
    parquet = load_source(folder_with(tmp_path / "pq", {"events.csv": HEADER + "e1,2026-03-02,u1,app_open\n",
                                                         "orders.parquet": table}), now=TEST_NOW)
    assert problems(parquet, "orders") == {("price", reason): (1, [2]), ("discount", reason): (1, [2])}
    assert parquet.readable_cursor().execute("select item_id, price, discount from orders order by 1").fetchall() == [
        ("a", Decimal("19.99"), Decimal("0.1")), ("c", Decimal("0.1"), Decimal("0"))]


def test_parquet_list_or_struct_column_is_a_file_error_naming_the_column(tmp_path):
    table = pa.table({"event_id": ["e1"], "ts": ["2026-03-02"], "user_id": [["u1", "u2"]], "event_type": ["app_open"],
                      "block": [{"name": "home"}]})
    assert refusal(folder_with(tmp_path, {"events.parquet": table})) == [
        "events.parquet: column 'user_id' holds a list or structure in each row (VARCHAR[]), not a single value; "
        "write it as a plain column",
        "events.parquet: column 'block' holds a list or structure in each row (STRUCT(\"name\" VARCHAR)), not a single "
        "value; write it as a plain column",
    ]


# --- unclear or inconsistent messages --------------------------------------------------------

def test_nul_byte_rejects_its_row_wherever_it_is_in_the_file(tmp_path):
    filler = "".join(f"f{i},2026-03-02,u1,app_open\n" for i in range(40_000))  # > 1 MB: past the head read in Python
    text = HEADER + "e1,2026-03-02,u\x001,app_open\n" + filler + "e2,2026-03-02,u2,app\x00open\ne3,2026-03-02,u3,app_open\n"
    source = load_source(folder_with(tmp_path, {"events.csv": text}), now=TEST_NOW)
    assert len(text) > (1 << 20)
    reason = "contains a NUL byte (binary data, not text)"
    assert problems(source, "events") == {
        ("user_id", reason): (1, [1]), ("event_type", reason): (1, [40_002]),
        ("event_type", "unknown event_type (allowed: app_open, impression, click, add_to_cart, filter_use, suggest_use)"):
            (1, [40_002]),
    }
    accounted(source, "events", 40_003, 40_001)


def test_cr_only_line_endings_are_read(tmp_path):
    text = HEADER.replace("\n", "\r") + "e1,2026-03-02,u1,app_open\re2,2026-03-02,u2,app_open\r"
    source = load_source(folder_with(tmp_path, {"events.csv": text}), now=TEST_NOW)
    accounted(source, "events", 2, 2)
    assert source.readable_cursor().execute("select event_id, event_type from events order by 1").fetchall() == [
        ("e1", "app_open"), ("e2", "app_open")]


def test_mixed_crlf_and_lf_line_endings_get_a_sentence(tmp_path):
    text = HEADER.replace("\n", "\r\n") + "e1,2026-03-02,u1,app_open\ne2,2026-03-02,u2,app_open\r\n"
    assert refusal(folder_with(tmp_path, {"events.csv": text})) == [
        "events.csv: its lines end in different ways (some with CRLF, some with LF or a bare CR), so it cannot be "
        "split into rows reliably; save it again with one kind of line ending"
    ]


def test_crlf_file_with_lf_inside_quoted_values_loads(tmp_path):
    # What Excel writes: CRLF rows, LF inside a quoted cell. Not "mixed".
    text = "event_id,ts,user_id,event_type,block\r\ne1,2026-03-02,u1,app_open,\"two\nlines\"\r\n"
    source = load_source(folder_with(tmp_path, {"events.csv": text}), now=TEST_NOW)
    assert source.readable_cursor().execute("select block from events").fetchall() == [("two\nlines",)]


def test_excel_sep_line_sets_the_delimiter_and_is_skipped(tmp_path):
    text = "\ufeffsep=;\r\nevent_id;ts;user_id;event_type\r\ne1;2026-03-02;u1;app_open\r\ne2;2026-03-02;u2\r\ne3;2026-03-02;u3;app_open\r\n"
    source = load_source(folder_with(tmp_path, {"events.csv": text}), now=TEST_NOW)
    assert problems(source, "events") == {("(row)", "malformed CSV row: fewer fields than the 4 of the header"): (1, [2])}
    accounted(source, "events", 3, 2)
    assert source.readable_cursor().execute("select _row, event_id from events order by 1").fetchall() == [(1, "e1"), (3, "e3")]


def test_parquet_file_with_a_duplicated_column_is_refused(tmp_path):
    table = pa.Table.from_arrays([pa.array(["e1"]), pa.array(["2026-03-02"]), pa.array(["u1"]), pa.array(["u2"]),
                                  pa.array(["app_open"])], names=["event_id", "ts", "user_id", "user_id", "event_type"])
    assert refusal(folder_with(tmp_path, {"events.parquet": table})) == [
        "events.parquet: column 'user_id' is given 2 times (user_id, user_id); keep one"
    ]


def test_experiment_with_start_after_end_is_a_rejected_row(make_source):
    source = make_source({"events": [ev("e1")], "experiments": [
        {"experiment_id": "x1", "start_ts": "2026-03-01", "end_ts": "2026-03-15"},
        {"experiment_id": "x2", "start_ts": "2026-03-15", "end_ts": "2026-03-01"},
        {"experiment_id": "x3", "start_ts": "2026-03-15", "end_ts": "2026-03-15"},
    ]})
    assert problems(source, "experiments") == {("end_ts", "end_ts before start_ts"): (1, [2])}
    accounted(source, "experiments", 3, 2)


def test_validate_and_export_pointed_at_an_export_folder_say_it_is_an_export_folder(tmp_path, capsys):
    source = write_source(tmp_path / "src", {"events": [ev("e1")], "experiments": [
        {"experiment_id": "x1", "start_ts": "2026-03-01", "end_ts": "2026-03-15"}]})
    out = tmp_path / "out"
    assert main(["export", "--data", str(source), "--out", str(out)]) == 0
    capsys.readouterr()
    expected = (f"{out}: this is an export folder (it has export.json): its files are metric tables computed by "
                "'export', not a data source. Point to the source the export was made from, or open this folder on "
                "the Data page to look at its tables")
    assert refusal(out) == [expected]
    assert main(["validate", str(out)]) != 0
    assert f"error: {expected}" in capsys.readouterr().out
    assert main(["export", "--data", str(out), "--out", str(tmp_path / "again")]) != 0
    assert f"error: {expected}" in capsys.readouterr().err


def test_a_temp_folder_the_server_cannot_write_is_a_sentence_not_a_traceback(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the temp folder should be")
    folder = write_source(tmp_path / "src", {"events": [ev("e1")]})
    with pytest.raises(SourceError) as err:
        load_source(folder, now=TEST_NOW, settings=Settings(allowed_dirs=(tmp_path,), temp_dir=blocker / "duckdb"))
    (problem,) = err.value.problems
    assert problem.startswith(f"src: cannot be loaded: the temporary folder {blocker / 'duckdb'} is not usable (")
    assert problem.endswith("; an administrator can set RECDASH_TEMP_DIR")
