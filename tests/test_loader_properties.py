"""Property tests of the loader: random mixes of valid and broken rows, in CSV and in Parquet.

Whatever the mix, every row read is accounted for (loaded + rejected + merged = read), every
valid row loads with exactly its values, every broken row is rejected and every exact copy of a
valid row is merged. Kept fast for CI: 60 examples per property, no deadline (loading is I/O).
"""
from __future__ import annotations

import csv
import datetime as dt
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TEST_NOW
from dashboard.engine.source import SourceError, load_source

EXAMPLES = 60
COLUMNS = ("event_id", "ts", "user_id", "event_type", "position")
BLANK = " \t\n\x0b\x0c\r\xa0"  # what the loader trims when it asks whether an id is blank

# Ids of valid rows: any printable text that is not blank, with the characters CSV must quote.
ids = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc"), include_characters='\n",;'),
    min_size=1, max_size=8,
).filter(lambda s: s.strip(BLANK) != "" and "\r" not in s)
instants = st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=TEST_NOW + dt.timedelta(hours=23),
                        ).map(lambda d: d.replace(microsecond=0))
valid_rows = st.fixed_dictionaries({
    "ts": instants,
    "user_id": ids,
    "event_type": st.sampled_from(["app_open", "filter_use", "suggest_use", "add_to_cart_without_item"]),
    "position": st.one_of(st.none(), st.integers(min_value=1, max_value=10**6)),
})

# One way to break a row each: (column, value). Every one must reject the row.
BREAKS = [
    ("user_id", " "), ("user_id", "\t"), ("user_id", "u\x001"), ("user_id", None),
    ("ts", "soon"), ("ts", "infinity"), ("ts", "-infinity"), ("ts", "0001-01-01 00:00:00"),
    ("ts", "1969-12-31 23:59:59"), ("ts", "2099-01-01 00:00:00"), ("ts", "2026-02-30 10:00:00"),
    ("event_type", "purchase"), ("event_type", "click"),  # a click needs item_id and block
    ("position", "2.5"), ("position", "1e2"), ("position", "1_000"), ("position", "0"), ("position", "2.0000001"),
    ("event_id", None), ("event_id", " "),
]
# Of those, the values that do not parse as their column's type. A column in which no given value
# parses is a file error (a wrong file or column), not a set of bad rows.
UNPARSEABLE = {("ts", "soon"), ("ts", "2026-02-30 10:00:00"), ("position", "2.5"), ("position", "1e2"),
               ("position", "1_000"), ("position", "2.0000001")}
kinds = st.one_of(
    st.tuples(st.just("valid"), valid_rows),
    st.tuples(st.just("broken"), st.tuples(valid_rows, st.sampled_from(BREAKS))),
    st.tuples(st.just("copy"), st.integers(min_value=0)),  # an exact copy of an earlier valid row
)
# A CSV row with too many or too few fields (the header has five).
CSV_ONLY = st.tuples(st.just("malformed"), st.sampled_from(["e_bad,2026-03-02 09:00:00,u1,app_open,1,extra",
                                                            "e_bad,2026-03-02 09:00:00,u1"]))


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def build(plan) -> tuple[list, dict, int, int]:
    """The file's rows (dicts of text, or ("malformed", suffix)), the valid rows by event id,
    and the numbers of broken rows and of copies."""
    rows, valid, broken, copies = [], {}, 0, 0
    for number, (kind, what) in enumerate(plan):
        if kind == "valid":
            row = {"event_id": f"e{number}", **what}
            if row["event_type"] == "add_to_cart_without_item":
                row["event_type"] = "app_open"
            valid[row["event_id"]] = row
            rows.append({k: _text(v) for k, v in row.items()})
        elif kind == "broken":
            base, (column, value) = what
            row = {"event_id": f"e{number}", **{k: _text(v) for k, v in base.items()}}
            row["event_type"] = "app_open" if row["event_type"] == "add_to_cart_without_item" else row["event_type"]
            row[column] = value
            rows.append(row)
            broken += 1
        elif kind == "copy":
            if valid:
                original = list(valid.values())[what % len(valid)]
                rows.append({k: _text(v) for k, v in original.items()})
                copies += 1
        else:  # a CSV row with the wrong number of fields
            rows.append(("malformed", what))
            broken += 1
    return rows, valid, broken, copies


def refusal(rows) -> str | None:
    """The file error the loader must give for these rows (as a pattern), or None."""
    records = [row for row in rows if isinstance(row, dict)]
    if rows and not records:
        # No row has the header's fields: the delimiter is likely wrong, and the file is refused.
        return "none of its .* rows has the 5 fields of the header"
    for column in ("ts", "position"):
        given = [row[column] for row in records if row[column] is not None]
        if given and all((column, value) in UNPARSEABLE for value in given):
            return f"column '{column}' is not a"
    return None


def load_or_refuse(folder: str, rows):
    expected = refusal(rows)
    if expected is None:
        return load_source(folder, now=TEST_NOW)
    with pytest.raises(SourceError, match=expected):
        load_source(folder, now=TEST_NOW)
    return None


def check(source, valid: dict, read: int, broken: int, copies: int) -> None:
    report = source.tables["events"]
    assert report.rows_read == read
    assert report.rows_loaded + report.rows_rejected + report.duplicates_merged == report.rows_read
    assert (report.rows_loaded, report.rows_rejected, report.duplicates_merged) == (len(valid), broken, copies)
    loaded = source.readable_cursor().execute(f"SELECT {', '.join(COLUMNS)} FROM events").fetchall()
    expected = [(r["event_id"], r["ts"], r["user_id"], r["event_type"], r["position"]) for r in valid.values()]
    assert sorted(loaded, key=repr) == sorted(expected, key=repr)


def write_csv(path: Path, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            if isinstance(row, tuple):
                f.write(row[1] + "\n")
            else:
                writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])


SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=True, database=None)


@SETTINGS
@given(plan=st.lists(st.one_of(kinds, CSV_ONLY), min_size=1, max_size=40))
def test_csv_loader_accounts_for_every_row_and_loads_every_valid_row(plan):
    rows, valid, broken, copies = build(plan)
    with tempfile.TemporaryDirectory() as folder:
        write_csv(Path(folder) / "events.csv", rows)
        source = load_or_refuse(folder, rows)
        if source is None:
            return
        check(source, valid, len(rows), broken, copies)
        source.con.close()


@SETTINGS
@given(plan=st.lists(kinds, min_size=1, max_size=40))
def test_parquet_loader_accounts_for_every_row_and_loads_every_valid_row(plan):
    rows, valid, broken, copies = build(plan)
    # Parquet keeps '' as a value, so an empty id is a blank id there (not a missing one).
    columns = {c: pa.array([r[c] for r in rows], pa.string()) for c in COLUMNS}
    with tempfile.TemporaryDirectory() as folder:
        pq.write_table(pa.table(columns), Path(folder) / "events.parquet")
        source = load_or_refuse(folder, rows)
        if source is None:
            return
        check(source, valid, len(rows), broken, copies)
        source.con.close()
