"""Loading one table: the file's columns matched to the contract's by name (in Python), read
once, checked by the rules of rules.py and kept as a clean table."""
from __future__ import annotations

from dataclasses import dataclass

from dashboard.engine.contract import Table
from dashboard.engine.loading import (
    Problem, SourceError, TableReport, _column_notes, _Dialect, _head, _header, _Located, _map_columns,
    _not_text, _refuse_nested_columns,
)
from dashboard.engine.source import keys
from dashboard.engine.source.read import (
    _Raw, _count, _csv_problems, _csv_raw, _csv_rejected, _has_non_ascii, _read_database, _read_parquet,
    _renumber, _scan,
)
from dashboard.engine.source.rules import (
    _Checks, _checks, _collect_problems, _count_rows, _create_clean_table, _note_rejected_experiments,
    _refuse_unparseable_columns, _resolve_keys, settle_by_values,
)


# --- loading one table ------------------------------------------------------------------------
#
# A table is loaded in streamed passes over its rows, with no copy of them in between (a CSV
# file, or a DuckDB table or view, is first read once into a temp table: see `_Raw.stable_rows`):
# 1. counts: rows read and, for each column whose values may not parse, values given/parsed;
# 2. the distinct ids and labels, for the source's dictionaries (keys.py; every table's before
#    any clean table is written, since a user's key must be the same in every table); the rules
#    on one such value alone (NUL bytes, blanks, allowed values) are tested on those distinct
#    values, and dropped from step 3 when no value breaks them (`settle_by_values`);
# 3. the clean table itself: the typed rows that break no rule (`_Checks.ok`), ids as keys;
# 4. only when some rows broke a rule: the broken rules of those rows, per column and reason;
# 5. the key, on the clean table: duplicates and conflicts are resolved only for repeated keys.
# Rows are checked with one flag each, not a list of problems: lists are made for rejected rows only.

@dataclass
class _Prepared:
    """A table read and counted, waiting for the source's dictionaries to be written clean."""

    table: Table
    loc: _Located
    raw: _Raw
    checks: _Checks
    report: TableReport
    rows: int  # rows read that the CSV reader did not already reject


def _prepare_table(con, table: Table, loc: _Located, now, collected: set[str]) -> _Prepared:
    """Steps 1 and 2: the table's rows read, counted and their ids and labels collected
    (`collected`: the kinds of ids and labels with values so far, keys.py)."""
    report = TableReport(table.name, loc.origin)
    if loc.kind == "csv":
        names, dialect = _header(loc, _head(loc))
        raw = _csv_raw(loc, names, dialect, "utf-8")
    elif loc.kind == "parquet":
        raw = _read_parquet(con, loc)
    else:
        raw = _read_database(con, loc)

    try:
        mapping = _map_columns(table, loc, raw)
    except SourceError:
        if loc.kind == "csv" and dialect.binary_hint:
            raise SourceError([_not_text(loc)]) from None
        raise
    _refuse_nested_columns(loc, raw, mapping)
    present = tuple(c.name for c in table.columns if c.name in mapping)
    report.columns_present = present
    csv_problems: list[Problem] = []
    if loc.kind == "csv":
        raw, csv_problems = _read_csv_rows(con, table, loc, raw, mapping, names, dialect, report)
    elif not raw.stable_rows:
        raw = _read_once(con, table, loc, raw, mapping)
    report.notes.extend(_column_notes(table, raw, mapping))
    checks = _checks(table, raw, mapping, present, now)
    rows, parse_counts = _count_rows(con, loc, raw, checks)
    report.rows_read = rows + sum(p.rows for p in csv_problems)
    _refuse_unparseable_columns(con, loc, raw, checks, parse_counts)
    report.problems.extend(csv_problems)
    keys.collect_values(con, lambda sql: _scan(con, loc, sql, raw.params), checks.typed, list(present), collected)
    settle_by_values(con, checks, keys.collected_values(list(present), collected))
    return _Prepared(table, loc, raw, checks, report, rows)


def _finish_table(con, prepared: _Prepared, storage: keys.Storage) -> TableReport:
    """Steps 3 to 5: the clean table written, rejected rows reported, repeated keys resolved."""
    table, loc, raw, checks, report = prepared.table, prepared.loc, prepared.raw, prepared.checks, prepared.report
    _create_clean_table(con, table, loc, raw, checks, storage)
    if _count(con, table.name) < prepared.rows:
        report.problems.extend(_collect_problems(con, table.name, loc, raw, checks))
        _note_rejected_experiments(con, table, loc, raw, checks, report)
    _resolve_keys(con, table, report)
    report.rows_loaded = _count(con, table.name)
    for name in raw.cleanup:
        con.execute(f"DROP TABLE IF EXISTS {name}")
    return report


def _read_once(con, table: Table, loc: _Located, raw: _Raw, mapping: dict[str, str]) -> _Raw:
    """`_row` and the contract's columns of `raw` read into a temp table, so that every later
    scan sees the same row numbers (and a CSV file is parsed, and its rejects stored, once)."""
    for name in raw.cleanup:
        con.execute(f"DROP TABLE IF EXISTS {name}")
    rows = f"_checked_{table.name}"
    columns = ", ".join(["_row", *mapping.values()])
    _scan(con, loc, f"CREATE OR REPLACE TEMP TABLE {rows} AS SELECT {columns} FROM {raw.relation}", raw.params)
    return _Raw(rows, {}, raw.names, raw.types, cleanup=[rows], stable_rows=True)


def _read_csv_rows(con, table: Table, loc: _Located, raw: _Raw, mapping: dict[str, str], names: list[str],
                   dialect: _Dialect, report: TableReport) -> tuple[_Raw, list[Problem]]:
    """The CSV file's parsed rows (numbered as rows of the file) and its malformed rows as problems."""
    rows = _read_once(con, table, loc, raw, mapping)
    bad = _csv_rejected(con, loc, dialect)
    not_text = [b for b in bad if b[1] == "INVALID ENCODING"]
    if not_text and not _has_non_ascii(con, loc, names, dialect):
        # Some rows are not UTF-8 and not one row that is has a non-ASCII character: the file is
        # in a one-byte encoding. Latin-1 reads every byte; the report says it was a guess.
        raw = _csv_raw(loc, names, dialect, "latin-1")
        rows = _read_once(con, table, loc, raw, mapping)
        bad = _csv_rejected(con, loc, dialect)
        report.notes.append(
            f"not UTF-8 ({len(not_text):,} rows have bytes that are not UTF-8, first at row {not_text[0][0]}): "
            "read as Latin-1 (ISO-8859-1). Check that accented letters look right; a file saved as UTF-8 needs no guess"
        )
    problems = _csv_problems(loc, bad, raw, dialect, _count(con, rows.relation))
    if bad:
        _renumber(con, rows.relation, table.name, bad)
    for name in raw.cleanup:
        con.execute(f"DROP TABLE IF EXISTS {name}")
    return rows, problems


