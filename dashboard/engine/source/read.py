"""Reading one file into positional columns c0, c1, …: Parquet, a .duckdb table, or CSV (its
dialect and encoding found from the head; malformed rows counted, never dropped silently)."""
from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from dashboard.engine.loading import (
    EXAMPLE_ROWS, MAX_LINE_BYTES, ROW, Problem, SourceError, _csv_reason, _Dialect, _Located,
)
from dashboard.engine.source.report import _first_line


# --- reading one file into positional columns c0, c1, … ----------------------------------------

@dataclass
class _Raw:
    relation: str  # SQL of a relation with `_row` and c0..c{n-1}
    params: dict
    names: list[str]  # the file's column names, by position (data: never SQL text)
    types: list[str]  # DuckDB types of those columns as the file gives them
    cleanup: list[str] = field(default_factory=list)  # temp tables to drop afterwards
    # Whether every scan of `relation` gives each row the same `_row` (a Parquet file's own row
    # numbers). A `row_number() OVER ()` need not, so such rows are read once into a temp table
    # (`_read_once`) before the checks, which scan the rows more than once.
    stable_rows: bool = False


def _positional(n: int) -> str:
    return ", ".join(f"c{i}" for i in range(n))


def _read_parquet(con, loc: _Located) -> _Raw:
    params = {"path": str(loc.path)}
    try:
        described = con.execute("DESCRIBE SELECT * FROM read_parquet($path)", params).fetchall()
    except duckdb.Error as exc:
        raise SourceError([_parquet_error(loc, exc)]) from None
    names, types = [r[0] for r in described], [r[1] for r in described]
    # DuckDB renames a repeated column (`user_id`, `user_id_1`); the file's own names show it.
    names = _parquet_names(con, params) or names
    cols = _positional(len(names))
    if "file_row_number" in (n.lower() for n in names):
        # The file has a column of that name, so DuckDB cannot add its own: number the rows in
        # scan order (which is file order; insertion order is preserved).
        relation = f"(SELECT row_number() OVER () AS _row, {cols} FROM read_parquet($path) AS _f({cols}))"
    else:
        relation = (
            f"(SELECT _frn + 1 AS _row, {cols} FROM read_parquet($path, file_row_number = true) AS _f({cols}, _frn))"
        )
        return _Raw(relation, params, names, types, stable_rows=True)
    return _Raw(relation, params, names, types)


def _parquet_names(con, params: dict) -> list[str] | None:
    """The top-level column names as the file's schema gives them (nested fields skipped)."""
    schema = con.execute("SELECT name, coalesce(num_children, 0) FROM parquet_schema($path)", params).fetchall()
    names, i = [], 1  # row 0 is the root
    while i < len(schema):
        names.append(schema[i][0])
        pending = schema[i][1]  # skip this column's nested fields, depth first
        i += 1
        while pending:
            pending += schema[i][1] - 1
            i += 1
    return names if len(names) == schema[0][1] else None


def _parquet_error(loc: _Located, exc: Exception) -> str:
    text = str(exc)
    if "magic bytes" in text.lower():
        return f"{loc.origin}: not a complete Parquet file (its end is missing: the file is truncated, or it is not Parquet)"
    return f"{loc.origin}: cannot be read as Parquet ({_first_line(exc, loc.path)})"


def _read_database(con, loc: _Located) -> _Raw:
    # `loc.table` comes from the contract, never from input.
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM src.{loc.table}").fetchall()
    except duckdb.Error as exc:
        if isinstance(exc, duckdb.PermissionException):
            raise SourceError([
                f"{loc.origin}: is a view that reads files outside the database ({_first_line(exc)}); "
                "only the database's own tables and views over them can be read"
            ]) from None
        raise SourceError([f"{loc.origin}: cannot be read as a table ({_first_line(exc)})"]) from None
    names, types = [r[0] for r in described], [r[1] for r in described]
    cols = _positional(len(names))
    relation = f"(SELECT row_number() OVER () AS _row, {cols} FROM src.{loc.table} AS _f({cols}))"
    return _Raw(relation, {}, names, types)


def _csv_raw(loc: _Located, names: list[str], dialect: _Dialect, encoding: str, keep_rejects: bool = True) -> _Raw:
    """The CSV file as a relation of text columns c0.. numbered in file order.

    Every column is text (a bad value becomes a counted rejection, ids keep leading zeros) and
    named by position: the file's own names never become SQL. The dialect is fixed (RFC 4180
    quotes, the header's delimiter), so a malformed row is a rejected row in the rejects table
    instead of a different guess of the whole file's shape.
    """
    rejects, scan = f"_rejects_{loc.table}", f"_rejects_scan_{loc.table}"
    errors = (f"store_rejects = true, rejects_table = '{rejects}', rejects_scan = '{scan}'" if keep_rejects
              else "ignore_errors = true")
    relation = (
        "(SELECT row_number() OVER () AS _row, * FROM read_csv($path, columns = $columns, auto_detect = false, "
        "header = true, skip = $skip, delim = $delim, quote = '\"', escape = '\"', encoding = $encoding, max_line_size = $max_line, "
        f"{errors}))"
    )
    params = {"path": str(loc.path), "columns": {f"c{i}": "VARCHAR" for i in range(len(names))}, "delim": dialect.delimiter,
              "skip": dialect.skip, "encoding": encoding, "max_line": MAX_LINE_BYTES}
    return _Raw(relation, params, names, ["VARCHAR"] * len(names), cleanup=[rejects, scan] if keep_rejects else [])


def _csv_rejected(con, loc: _Located, dialect: _Dialect) -> list[tuple[int, str, str]]:
    """The rows of the last scan that DuckDB could not parse: (data row, error type, text)."""
    # `line` counts records with the header as line 1 (after skipped lines: Excel's `sep=` line
    # is line 1 then), so the data row is line - 1 - skip. A row can have several errors (one per
    # missing field); its first is reported.
    rows = con.execute(
        f"""
        SELECT line - 1 - {int(dialect.skip)}, arg_min(error_type, coalesce(column_idx, 0)), arg_min(coalesce(csv_line, ''), coalesce(column_idx, 0))
        FROM _rejects_{loc.table} GROUP BY line ORDER BY line
        """
    ).fetchall()
    return [(int(r), str(t), str(text)) for r, t, text in rows]


def _has_non_ascii(con, loc: _Located, names: list[str], dialect: _Dialect) -> bool:
    """Whether any row that decodes as UTF-8 has a non-ASCII character (then the file is UTF-8)."""
    raw = _csv_raw(loc, names, dialect, "utf-8", keep_rejects=False)
    text = "concat_ws('', " + _positional(len(names)) + ")"
    return con.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {raw.relation} WHERE regexp_matches({text}, '[^\\x00-\\x7F]') LIMIT 1)",
        raw.params,
    ).fetchone()[0] > 0


def _csv_problems(loc: _Located, bad: list[tuple[int, str, str]], raw: _Raw, dialect: _Dialect, parsed: int) -> list[Problem]:
    """Malformed rows as problems; a file error where rejecting rows would hide a lost file."""
    n = len(raw.names)
    unterminated = [b for b in bad if b[1] == "UNQUOTED VALUE" and "\n" in b[2].rstrip("\r\n")]
    if unterminated:
        row = unterminated[0][0]
        raise SourceError([
            f"{loc.origin}: row {row} opens a quoted value (\") that is never closed, so the rest of the file "
            "cannot be split into rows; close the quote (a quote inside a quoted value is written twice: \"\")"
        ])
    structural = [b for b in bad if b[1] in ("TOO MANY COLUMNS", "MISSING COLUMNS")]
    if parsed == 0 and structural and len(structural) == len(bad):
        row, error, _ = structural[0]
        raise SourceError([
            f"{loc.origin}: none of its {len(bad):,} rows has the {n} fields of the header (separated by "
            f"{dialect.name}); first at row {row}: {_csv_reason(error, n)}. Do the rows use the header's delimiter?"
        ])
    by_reason: dict[str, list[int]] = {}
    for row, error, _ in bad:
        by_reason.setdefault(f"malformed CSV row: {_csv_reason(error, n)}", []).append(row)
    return [Problem(loc.table, ROW, reason, len(rows), rows[:EXAMPLE_ROWS]) for reason, rows in by_reason.items()]


def _renumber(con, rows: str, table: str, bad: list[tuple[int, str, str]]) -> None:
    """Give the parsed rows their row numbers in the file, counting the rejected rows before each.

    Parsed row i is data row i + j, where j is the number of rejected rows before it: with the
    rejected rows r_1 < r_2 < … , k_j = r_j − j parsed rows come before r_j, so j is the largest
    with k_j < i (an ASOF join).
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE _bad_{table} (r BIGINT)")
    con.executemany(f"INSERT INTO _bad_{table} VALUES (?)", [[b[0]] for b in bad])
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _steps_{table} AS
        SELECT r - j AS k, max(j) AS j
        FROM (SELECT r, row_number() OVER (ORDER BY r) AS j FROM _bad_{table})
        GROUP BY 1
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {rows} AS
        SELECT c.* REPLACE (c._row + coalesce(s.j, 0) AS _row)
        FROM {rows} c ASOF LEFT JOIN _steps_{table} s ON c._row > s.k
        """
    )
    con.execute(f"DROP TABLE _bad_{table}")
    con.execute(f"DROP TABLE _steps_{table}")


def _count(con, relation: str) -> int:
    return con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]


def _scan(con, loc: _Located, sql: str, params: dict):
    """Run a statement that reads the source's rows: a DuckDB error there is an error of the file."""
    try:
        return con.execute(sql, params)
    except duckdb.Error as exc:
        if loc.kind == "csv" and "state machine reached an invalid state" in str(exc):
            # DuckDB's words when the rows end in different ways (LF, CRLF, CR) within one file.
            raise SourceError([
                f"{loc.origin}: its lines end in different ways (some with CRLF, some with LF or a bare CR), "
                "so it cannot be split into rows reliably; save it again with one kind of line ending"
            ]) from None
        reader = {"csv": "CSV", "parquet": "Parquet"}.get(loc.kind, "a table")
        raise SourceError([f"{loc.origin}: cannot be read as {reader} ({_first_line(exc, loc.path)})"]) from None
