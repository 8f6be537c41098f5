"""Load a data source into DuckDB and check it against the data contract.

A source is a folder of `<table>.parquet|.csv|.csv.gz` files or one `.duckdb` file. Every
contract table that is present becomes a clean DuckDB table of the same name with the
contract's columns and types. Rows that break the contract are rejected and counted per
table, column and reason (with example row numbers); exact duplicate rows count once. Every
row read is accounted for: read = loaded + rejected + merged duplicates.

A file that cannot be read at all is an error naming the file (and column), and then the
source as a whole is refused: nothing is half-loaded.

Hostile input, and what keeps it harmless:
- Names that reach SQL text are the contract's (`contract.TABLES`) or made here (`c0`, `c1`, …):
  a file's own column names are only compared, in Python, with the contract's; the file's
  columns are renamed by position. Values (paths, options) are bound parameters.
- The loading connection may read exactly the source's files (DuckDB `allowed_paths`, with
  `enable_external_access = false` before the first read), so a `.duckdb` view that reads
  another file fails. Each connection spills into a private folder of its own (DuckDB lets a
  connection read its temp_directory), and a `.duckdb` whose views, macros or tables read the
  server's settings is refused. After loading, the configuration is locked: the serving database
  can read no other file, install or load no extension, and keeps its memory and thread limits.
- Values are held to plausible ranges (contract.py): no timestamp before 1970 or infinite, no
  amount or quantity that a metric could overflow on; money is exact to four decimals.
- CSV is read with a fixed dialect (RFC 4180 quotes; the delimiter of the header line), every
  column as text. A malformed row (too many or too few fields, bad quoting, bytes that are not
  text in the file's encoding, a row longer than DuckDB's maximum) is a counted rejected row;
  the rows around it load. Where a problem would lose rows silently (a quote that never
  closes swallows the rest of the file) the file is refused instead, with the row named.
"""
from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dashboard.core import settings as settings_module
from dashboard.core.contract import (
    EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_MONEY, SQL_TYPES, TABLES, Column, Table,
)
from dashboard.core.guard import is_inside
from dashboard.core.loading import (  # shared with the Spark loader (spark/validate.py)
    CSV_DELIMITERS, DELIMITER_NAMES, EXAMPLE_ROWS, FILE_SUFFIXES, EXPORT_INFO, FUTURE_TOLERANCE, HEAD_BYTES, HEAVY_USER_MIN_EVENTS,
    HEAVY_USER_MIN_USERS, HEAVY_USER_SHARE, KIND_WORDS, MAX_LINE_BYTES, NAME_CHARS, PROBABILITY_SUM_TOLERANCE, ROW,
    Problem, SourceError, TableReport, _csv_reason, _Dialect, _events_missing, _first_line_of, _head, _header,
    _Located, _locate_in_folder, _map_columns, _not_text, _refuse_export_folder, _refuse_nested_columns,
    _column_notes, _short, AS_IS_KINDS, NUMERIC_TYPES, _exact_money_type, _experiment_reason,
)


@dataclass(eq=False)  # one loaded source is one database: identity, not field equality
class Source:
    """A loaded data source: a DuckDB connection holding the clean tables, and the report."""

    path: Path
    con: duckdb.DuckDBPyConnection
    tables: dict[str, TableReport]
    loaded_at: dt.datetime

    def has(self, *tables: str) -> bool:
        return all(t in self.tables for t in tables)

    def has_column(self, table: str, column: str) -> bool:
        """Whether the input gave this column (absent optional columns are loaded as NULL)."""
        return table in self.tables and column in self.tables[table].columns_present

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor: its own temporary tables, safe to use from one thread."""
        return self.con.cursor()

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def notes(self) -> list[tuple[str, str]]:
        """(table, note) for every table's notes: warnings that reject nothing."""
        return [(r.table, note) for r in self.tables.values() for note in r.notes]


def new_connection(settings: settings_module.Settings | None = None,
                   database: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A database with the server's limits; nothing is installed or loaded on demand.

    In memory by default; with `storage = disk` a temporary DuckDB file of its own under temp_dir,
    removed when the connection goes (the tables are compressed there: see settings.py).
    `database`: serve from this DuckDB file instead, which the caller owns (cache.py's private
    copy of a validated source).
    """
    settings = settings or settings_module.current()
    # Every connection gets a private folder of its own under temp_dir (0700, removed with the
    # connection), and DuckDB's temp_directory is that folder: DuckDB lets a connection read its
    # temp_directory even with external access off, so a shared one would let a view of an
    # uploaded .duckdb read another source's spilled or disk-stored rows.
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="source-", dir=settings.temp_dir))
    if database is not None:
        con = duckdb.connect(str(database))
    elif settings.storage == "disk":
        con = duckdb.connect(str(folder / "tables.duckdb"))
    else:
        con = duckdb.connect(":memory:")
    # The folder lives as long as the connection object (or until the process exits).
    weakref.finalize(con, shutil.rmtree, folder, True)
    # Naive timestamps mean UTC; instants are compared in UTC, zones only make weeks and days.
    con.execute("SET TimeZone = 'UTC'")
    # Progress is reported by the callers in their own words, not by DuckDB's bar on stderr.
    con.execute("SET enable_progress_bar = false")
    # A query must never make the server download or load code (e.g. httpfs for a URL).
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    if settings.memory_limit:
        con.execute("SET memory_limit = $v", {"v": settings.memory_limit})
    if settings.threads:
        con.execute("SET threads = $v", {"v": settings.threads})
    # Spilled intermediates go to the connection's own folder, not `.tmp` in the working directory.
    con.execute("SET temp_directory = $v", {"v": str(folder / "spill")})
    return con


def load_source(
    path: str | Path,
    now: dt.datetime | None = None,
    *,
    settings: settings_module.Settings | None = None,
    allowed_dirs: tuple[Path, ...] | list[Path] | None = None,
) -> Source:
    """Load and validate a source; raise SourceError when it cannot be used at all.

    `allowed_dirs`: when given (the Data page), the source and every file it reads must really
    lie inside one of these folders — a table file that is a link to a file elsewhere is refused.
    """
    path = Path(path)
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    settings = settings or settings_module.current()
    if not path.exists():
        raise SourceError([f"{path}: no such folder or file"])
    is_folder = path.is_dir()
    if not is_folder and path.suffix.lower() != ".duckdb":
        raise SourceError([f"{path}: a source is a folder of table files or a .duckdb file"])
    if allowed_dirs is not None and not is_inside(path, allowed_dirs):
        raise SourceError([f"{path}: outside the folders this server may read"])

    try:
        con = new_connection(settings)
    except OSError as exc:  # e.g. a temp folder the server may not write
        raise SourceError([
            f"{path.name}: cannot be loaded: the temporary folder {settings.temp_dir} is not usable "
            f"({exc.strerror or exc.__class__.__name__}); an administrator can set RECDASH_TEMP_DIR"
        ]) from None
    try:
        reports = _load_all(con, path, is_folder, now, allowed_dirs)
    except SourceError:
        con.close()
        raise
    except duckdb.Error as exc:  # e.g. out of memory: a message, never a traceback
        con.close()
        raise SourceError([f"{path.name}: could not be loaded ({_first_line(exc, path)})"]) from None
    except OSError as exc:  # e.g. a folder the server may not list
        con.close()
        raise SourceError([f"{path.name}: cannot be read ({exc.strerror or exc.__class__.__name__})"]) from None
    return Source(path=path, con=con, tables=reports, loaded_at=now)


def _load_all(con, path: Path, is_folder: bool, now, allowed_dirs) -> dict[str, TableReport]:
    errors: list[str] = []
    given: set[str] = set()  # tables with a file, readable or not
    if is_folder:
        _refuse_export_folder(path)
        located = []
        for table in TABLES:
            found = _locate_in_folder(path, table, allowed_dirs)
            if found is not None:
                given.add(table)
            if isinstance(found, str):
                errors.append(found)
            elif found is not None:
                located.append(found)
        readable = [loc.path for loc in located]
    else:
        real = path.resolve()
        readable = [real, real.with_name(real.name + ".wal")]
    # From here on DuckDB reads exactly these files and nothing else.
    con.execute("SET allowed_paths = $p", {"p": [str(p) for p in readable]})
    con.execute("SET enable_external_access = false")
    if not is_folder:
        _attach(con, path)
        _refuse_state_definitions(con, path)
        located = [loc for table in TABLES if (loc := _locate_in_database(con, path, table))]
        given = {loc.table for loc in located}

    reports: dict[str, TableReport] = {}
    for loc in located:
        try:
            reports[loc.table] = _load_table(con, TABLES[loc.table], loc, now)
        except SourceError as exc:
            errors.extend(exc.problems)
    if "events" not in given:
        errors.append(_events_missing(path, is_folder))
    if errors:
        raise SourceError(errors)
    if not is_folder:
        con.execute("DETACH src")
    _check_experiments(con, reports)
    _check_target_policies(con, reports)
    _note_traffic_shares(con, reports)
    _note_heavy_users(con, reports)
    _create_absent_tables(con, reports)
    # The serving database needs no file and no extension, and its limits must hold: the
    # configuration cannot be changed by any later statement.
    con.execute("SET lock_configuration = true")
    return reports


# --- finding tables ---------------------------------------------------------------------------


def _attach(con, db: Path) -> None:
    try:
        con.execute(f"ATTACH '{_sql_string(db.resolve())}' AS src (READ_ONLY)")
    except duckdb.Error as exc:
        text = str(exc)
        if "Could not set lock" in text or "Conflicting lock" in text:
            pid = re.search(r"PID (\d+)", text)
            who = f" (process {pid.group(1)})" if pid else ""
            raise SourceError([
                f"{db.name}: the database is locked by another program{who} that has it open for writing; "
                "close that program, or point to a copy of the file"
            ]) from None
        if "already attached" in text or "Unique file handle conflict" in text:
            raise SourceError([
                f"{db.name}: the database is already open for writing in this server process; "
                "close that connection, or point to a copy of the file"
            ]) from None
        raise SourceError([f"{db.name}: not a readable DuckDB database ({_first_line(exc, db)})"]) from None


# Functions that read the server's settings or state. A view, macro or generated column of an
# uploaded .duckdb that calls one is refused before anything of it runs: allowed_paths stops a
# view reading other files (and each connection's temp_directory is its own, see
# new_connection), but not reading the settings (the server's folders, limits).
# `query`/`query_table` would run SQL given as a string, so they are refused too.
_STATE_FUNCTIONS = re.compile(
    r"""\b"?(current_setting|getenv|which_secret|query|query_table|duckdb_\w+|pragma_\w+)"?\s*\("""
    # The catalog's views (no parentheses needed): settings, databases, files.
    r"""|\b(duckdb_\w+|pg_settings|pg_catalog|information_schema)\b""",
    re.IGNORECASE,
)


def _refuse_state_definitions(con, db: Path) -> None:
    """Refuse a database whose views, macros or table definitions read the server's settings or state."""
    definitions = con.execute(
        """
        SELECT 'view ' || view_name, sql FROM duckdb_views() WHERE database_name = 'src'
        UNION ALL SELECT 'table ' || table_name, sql FROM duckdb_tables() WHERE database_name = 'src'
        UNION ALL SELECT 'macro ' || function_name, coalesce(macro_definition, '') FROM duckdb_functions()
                  WHERE database_name = 'src'
        ORDER BY 1
        """
    ).fetchall()
    errors = []
    for what, sql in definitions:
        found = _STATE_FUNCTIONS.search(sql or "")
        if found:
            errors.append(
                f"{db.name}: {_short(what)} reads the server's settings or state ({_short(found.group(1) or found.group(2))}); "
                "only the database's own tables and views over them can be read"
            )
    if errors:
        raise SourceError(errors)


def _locate_in_database(con, db: Path, table: str) -> _Located | None:
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'src' AND lower(table_name) = $t",
        {"t": table},
    ).fetchone()[0]
    exists += con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE database_name = 'src' AND lower(view_name) = $t",
        {"t": table},
    ).fetchone()[0]
    return _Located(table, f"{db.name}:{table}", "duckdb", None) if exists else None


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


# --- loading one table ------------------------------------------------------------------------
#
# A table is loaded in streamed passes over its rows, with no copy of them in between (a CSV
# file, or a DuckDB table or view, is first read once into a temp table: see `_Raw.stable_rows`):
# 1. counts: rows read and, for each column whose values may not parse, values given/parsed;
# 2. the clean table itself: the typed rows that break no rule (`_Checks.ok`);
# 3. only when some rows broke a rule: the broken rules of those rows, per column and reason;
# 4. the key, on the clean table: duplicates and conflicts are resolved only for repeated keys.
# Rows are checked with one flag each, not a list of problems: lists are made for rejected rows only.

def _load_table(con, table: Table, loc: _Located, now) -> TableReport:
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
    _create_clean_table(con, table, loc, raw, checks)
    if _count(con, table.name) < rows:
        report.problems.extend(_collect_problems(con, table.name, loc, raw, checks))
        _note_rejected_experiments(con, table, loc, raw, checks, report)
    _resolve_keys(con, table, report)
    report.rows_loaded = _count(con, table.name)
    for name in raw.cleanup:
        con.execute(f"DROP TABLE IF EXISTS {name}")
    return report


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


# Characters that make an id or required text blank when it has nothing else (tab, line breaks,
# no-break space), as SQL: `trim(value, BLANK) = ''`.
BLANK = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || chr(160)"


def _typed(column: Column, source: str, source_type: str) -> tuple[str, bool]:
    """SQL that turns a raw value into the contract type (NULL when it does not parse), and
    whether that can happen to a given value."""
    if column.kind in AS_IS_KINDS and source_type == SQL_TYPES[column.kind]:
        # E.g. a Parquet TIMESTAMP or BIGINT: the casts below would return the value unchanged.
        return source, False
    if column.kind in ("id", "string"):
        return f"CAST({source} AS VARCHAR)", False
    if column.kind == "timestamp":
        # Through TIMESTAMPTZ: an offset is honoured, a naive value is taken as UTC.
        return f"TRY_CAST(TRY_CAST({source} AS TIMESTAMPTZ) AS TIMESTAMP)", True
    if column.kind == "int":
        if re.match(NUMERIC_TYPES, source_type):
            # 2.5 or 2.0000001 is not an integer (a plain cast would round it); the comparison is
            # made in the wider of the two types.
            return f"CASE WHEN TRY_CAST({source} AS BIGINT) = {source} THEN TRY_CAST({source} AS BIGINT) END", True
        # Text: digits only, with at most a zero fraction (`2.0`); `1e2`, `1_000`, `2.5` are not
        # integers (DuckDB's cast would accept them, or round).
        # The first branch (the value prints back as itself) settles almost every value without
        # a regular expression, which is several times slower.
        text = source if source_type == "VARCHAR" else f"CAST({source} AS VARCHAR)"
        return (
            f"CASE WHEN CAST(TRY_CAST({text} AS BIGINT) AS VARCHAR) = {text} THEN TRY_CAST({text} AS BIGINT) "
            f"WHEN regexp_full_match({text}, '\\s*[+-]?[0-9]+(\\.0*)?\\s*') "
            f"THEN TRY_CAST(regexp_extract({text}, '[+-]?[0-9]+') AS BIGINT) END"
        ), True
    if column.kind == "number":
        return f"CASE WHEN isfinite(TRY_CAST({source} AS DOUBLE)) THEN TRY_CAST({source} AS DOUBLE) END", True
    return f"TRY_CAST({source} AS {SQL_TYPES[column.kind]})", True


@dataclass
class _Checks:
    """A table's rows typed, and the contract's rules as conditions over them.

    Every name in this SQL is a contract name or a positional `c<i>` made by this module;
    values (event types, the future limit) are bound parameters in `params`.
    """

    typed: str  # SELECT of `_row`, the file's columns used (`c<i>`) and every contract column typed
    failures: list[str] = field(default_factory=list)  # one condition per rule: true when a row breaks it
    columns: list[str] = field(default_factory=list)  # the column and reason each failure is reported under
    reasons: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    # Columns whose given values may not parse, with their positional column: (column, `c<i>`).
    parse_checked: list[tuple[Column, str]] = field(default_factory=list)

    # Conditions that `ok` tests instead of some failures (`screened`): one cheap condition that is
    # true exactly when one of those is (e.g. a timestamp outside its range, whichever reason).
    screens: list[str] = field(default_factory=list)
    screened: set[int] = field(default_factory=set)

    def add(self, condition: str, column: str, reason: str, screened: bool = False) -> None:
        if screened:
            self.screened.add(len(self.failures))
        self.failures.append(condition)
        self.columns.append(column)
        self.reasons.append(reason)

    @property
    def ok(self) -> str:
        """True when a row breaks no rule. A condition that is NULL (e.g. a rule on a NULL event
        type) breaks nothing, as a `CASE WHEN` that does not fire."""
        tested = [f for i, f in enumerate(self.failures) if i not in self.screened] + self.screens
        if not tested:
            return "true"
        return "NOT coalesce(" + " OR ".join(f"({f})" for f in tested) + ", false)"


def _checks(table: Table, raw: _Raw, mapping: dict[str, str], present: tuple[str, ...], now) -> _Checks:
    """The typed rows of `raw` and one condition per contract rule (absent columns are NULL)."""
    typed_cols, sources = [], []
    given: dict[str, str] = {}  # contract column -> SQL: the file gives a value in this row
    parse_checked = []
    for col in table.columns:
        if col.name in present:
            source = mapping[col.name]
            sql, can_fail = _typed(col, source, raw.types[int(source[1:])])
            typed_cols.append(f"{sql} AS {col.name}")
            sources.append(source)
            given[col.name] = f"{source} IS NOT NULL"
            if can_fail and col.kind in KIND_WORDS:
                parse_checked.append((col, source))
        else:
            typed_cols.append(f"CAST(NULL AS {SQL_TYPES[col.kind]}) AS {col.name}")
            given[col.name] = "false"
    checks = _Checks(f"SELECT {', '.join(['_row', *sources, *typed_cols])} FROM {raw.relation}",
                     parse_checked=parse_checked)
    for col, source in parse_checked:
        checks.add(f"{source} IS NOT NULL AND {col.name} IS NULL", col.name, KIND_WORDS[col.kind])
    for col in table.columns:
        c = col.name
        if col.required:
            checks.add(f"NOT ({given[c]})", c, "missing value")
        if col.name in present:
            source = mapping[c]
            source_type = raw.types[int(source[1:])]
            if source_type == "VARCHAR":
                # Wherever it is in the file, a NUL byte makes its row a rejected row (binary data
                # in a text value); a NUL in a CSV header refuses the file (`_header`).
                checks.add(f"strpos({source}, chr(0)) > 0", c, "contains a NUL byte (binary data, not text)")
            if col.kind == "id" or (col.required and col.kind == "string"):
                # Only a value that starts with a blank character (below '!', or a no-break space
                # and other non-ASCII) is trimmed: trimming every value would cost a third of a load.
                checks.add(f"CASE WHEN {c} < '!' OR {c} >= chr(160) THEN trim({c}, {BLANK}) = '' ELSE false END", c,
                           "blank value (only spaces, tabs or line breaks)")
            if col.kind == "money" and not _exact_money_type(source_type):
                # Money is exact to four decimals: a fifth is neither rounded nor dropped (the cast
                # to DECIMAL(18,4) would round 12.34567 and make -0.00001 a zero). A number's
                # shortest text is its value as written, so 0.1 read as DOUBLE passes.
                checks.add(
                    f"TRY_CAST(CAST({source} AS VARCHAR) AS DECIMAL(38,18)) <> {c}", c,
                    "more than 4 decimals (amounts are kept exact to 0.0001)",
                )
        if col.kind == "money":
            checks.add(f"abs({c}) > {MAX_MONEY}", c, f"amount above {MAX_MONEY:,}")
        if col.kind in ("timestamp", "date"):
            # Each reason for the report; the loaded rows are told apart by one range condition
            # (a CSV value is parsed again for every mention of the column).
            checks.add(f"NOT isfinite({c})", c, f"infinite {col.kind}", screened=True)
            checks.add(f"isfinite({c}) AND {c} < DATE '{EARLIEST_TIMESTAMP}'", c, f"before {EARLIEST_TIMESTAMP}",
                       screened=True)
            if c in table.no_future:
                checks.params["future_limit"] = now + FUTURE_TOLERANCE
                checks.add(f"isfinite({c}) AND {c} > $future_limit", c, "more than a day in the future", screened=True)
                checks.screens.append(f"NOT ({c} >= DATE '{EARLIEST_TIMESTAMP}' AND {c} <= $future_limit)")
            else:
                checks.add(f"isfinite({c}) AND {c} >= DATE '{LATEST_TIMESTAMP}'", c, f"after {LATEST_TIMESTAMP}",
                           screened=True)
                checks.screens.append(f"NOT ({c} >= DATE '{EARLIEST_TIMESTAMP}' AND {c} < DATE '{LATEST_TIMESTAMP}')")
        if col.rule:
            checks.add(f"{c} IS NOT NULL AND NOT ({col.rule.format(c=c)})", c, col.rule_reason)
    for i, (event_type, needed) in enumerate(table.required_when.items()):
        checks.params[f"event_type_{i}"] = event_type
        for c in needed:
            checks.add(f"event_type = $event_type_{i} AND {c} IS NULL", c, f"missing value for a {event_type} event")
    for column, condition, reason in table.row_rules:
        checks.add(condition, column, reason)
    return checks


def _count_rows(con, loc: _Located, raw: _Raw, checks: _Checks) -> tuple[int, list[tuple[int, int]]]:
    """Rows read, and for each column whose values may not parse: (values given, values parsed).

    One aggregate; for a Parquet file of the contract's types it is a count from the file's metadata.
    """
    counts = [f"count({source}), count({col.name})" for col, source in checks.parse_checked]
    row = _scan(con, loc, f"SELECT {', '.join(['count(*)', *counts])} FROM ({checks.typed})", raw.params).fetchone()
    return row[0], list(zip(row[1::2], row[2::2]))


def _refuse_unparseable_columns(con, loc: _Located, raw: _Raw, checks: _Checks,
                                parse_counts: list[tuple[int, int]]) -> None:
    """A column in which not a single given value parses has the wrong type as a whole."""
    errors = []
    for (col, source), (given, parsed) in zip(checks.parse_checked, parse_counts):
        if given > 0 and parsed == 0:
            example = _scan(
                con, loc, f"SELECT min(_row) FROM {raw.relation} WHERE {source} IS NOT NULL", raw.params
            ).fetchone()[0]
            errors.append(
                f"{loc.origin}: column '{col.name}' is {KIND_WORDS[col.kind]} in any of its {given} rows "
                f"(expected {col.kind}; first at row {example})"
            )
    if errors:
        raise SourceError(errors)


def _create_clean_table(con, table: Table, loc: _Located, raw: _Raw, checks: _Checks) -> None:
    """The table the metrics read: the typed rows that break no rule, defaults filled in.

    Straight from the file, with no copy in between; repeated keys are resolved on it afterwards.
    """
    values = ", ".join(
        f"COALESCE({c.name}, {c.default}) AS {c.name}" if c.default else c.name for c in table.columns
    )
    order = "" if table.key else " ORDER BY _row"  # a table without a key keeps the file's order
    _scan(
        con, loc,
        f"CREATE OR REPLACE TABLE {table.name} AS SELECT _row, {values} FROM ({checks.typed}) WHERE {checks.ok}{order}",
        {**raw.params, **checks.params},
    )


def _collect_problems(con, table_name: str, loc: _Located, raw: _Raw, checks: _Checks) -> list[Problem]:
    """The broken rules of the rows that were not loaded, per column and reason with example rows.

    Only those rows (usually few) get a list of their broken rules, as positions in `checks`.
    """
    broken = ", ".join(f"CASE WHEN {f} THEN {i} END" for i, f in enumerate(checks.failures, 1))
    rows = _scan(
        con, loc,
        f"""
        SELECT list_extract($columns, _rule) AS col, list_extract($reasons, _rule) AS reason,
               count(*) AS n, list(_row ORDER BY _row)[1:{EXAMPLE_ROWS}] AS examples
        FROM (
            SELECT _row, unnest(list_filter([{broken}], lambda r: r IS NOT NULL)) AS _rule
            FROM ({checks.typed}) WHERE NOT ({checks.ok})
        )
        GROUP BY ALL ORDER BY n DESC, col, reason
        """,
        {**raw.params, **checks.params, "columns": checks.columns, "reasons": checks.reasons},
    ).fetchall()
    return [Problem(table_name, col, reason, n, [int(x) for x in ex]) for col, reason, n, ex in rows]


def _note_rejected_experiments(con, table: Table, loc: _Located, raw: _Raw, checks: _Checks,
                               report: TableReport) -> None:
    """Per experiment_id of the rejected rows (tables keyed by experiment), the rules they broke."""
    if "experiment_id" not in {c.name for c in table.columns}:
        return
    broken = ", ".join(f"CASE WHEN {f} THEN {i} END" for i, f in enumerate(checks.failures, 1))
    rows = _scan(
        con, loc,
        f"""
        SELECT DISTINCT experiment_id, list_extract($columns, _rule) AS col, list_extract($reasons, _rule) AS reason
        FROM (
            SELECT experiment_id, unnest(list_filter([{broken}], lambda r: r IS NOT NULL)) AS _rule
            FROM ({checks.typed}) WHERE NOT ({checks.ok}) AND experiment_id IS NOT NULL
        )
        ORDER BY ALL
        """,
        {**raw.params, **checks.params, "columns": checks.columns, "reasons": checks.reasons},
    ).fetchall()
    for experiment, column, reason in rows:
        report.rejected_experiments.setdefault(str(experiment), []).append(_experiment_reason(column, reason))


def _resolve_keys(con, table: Table, report: TableReport) -> None:
    """Exact duplicates count once, and rows that share a key but differ are all rejected."""
    if not table.key:
        return
    key = ", ".join(table.key)
    content = ", ".join(c.name for c in table.columns)
    # One pass over the keys finds those that occur more than once; for a clean source that is
    # none, and the expensive distinct-row comparison below never runs.
    con.execute(f"CREATE OR REPLACE TEMP TABLE _repeated AS SELECT {key} FROM {table.name} GROUP BY ALL HAVING count(*) > 1")
    if not _count(con, "_repeated"):
        con.execute("DROP TABLE _repeated")
        return
    # The repeated keys replaced by what is needed of their rows: copies, distinct versions, the first.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _repeated AS
        SELECT {key}, count(*) AS _copies, count(DISTINCT row({content})) AS _versions, min(_row) AS _first
        FROM {table.name} SEMI JOIN _repeated USING ({key})
        GROUP BY ALL
        """
    )
    conflicts = con.execute(
        f"""
        SELECT count(*), list(_row ORDER BY _row)[1:{EXAMPLE_ROWS}]
        FROM {table.name} SEMI JOIN (SELECT {key} FROM _repeated WHERE _versions > 1) USING ({key})
        """
    ).fetchone()
    if conflicts[0]:
        report.problems.append(
            Problem(table.name, key, f"different rows share the same {key}", conflicts[0], [int(x) for x in conflicts[1]])
        )
    report.duplicates_merged = con.execute(
        "SELECT coalesce(sum(_copies - 1), 0) FROM _repeated WHERE _versions = 1"
    ).fetchone()[0]
    # Conflicting keys lose all their rows; an exact duplicate keeps its first row.
    same_key = " AND ".join(f"{table.name}.{k} = _repeated.{k}" for k in table.key)
    con.execute(
        f"""
        DELETE FROM {table.name} USING _repeated
        WHERE {same_key} AND (_repeated._versions > 1 OR {table.name}._row <> _repeated._first)
        """
    )
    con.execute("DROP TABLE _repeated")


# --- checks across tables ---------------------------------------------------------------------

def _check_experiments(con, reports: dict[str, TableReport]) -> None:
    """Experiments need exactly one control; assignments must name a known variant."""
    if "experiment_variants" in reports:
        _reject_where(
            con,
            reports["experiment_variants"],
            "is_control",
            "experiment has no control variant",
            "experiment_id IN (SELECT experiment_id FROM experiment_variants GROUP BY 1 HAVING count(*) FILTER (is_control) = 0)",
        )
        _reject_where(
            con,
            reports["experiment_variants"],
            "is_control",
            "experiment has more than one control variant",
            "experiment_id IN (SELECT experiment_id FROM experiment_variants GROUP BY 1 HAVING count(*) FILTER (is_control) > 1)",
        )
        if "experiments" in reports:
            _reject_where(
                con,
                reports["experiment_variants"],
                "experiment_id",
                "experiment_id not in experiments",
                "experiment_id NOT IN (SELECT experiment_id FROM experiments)",
            )
    if "assignments" in reports and "experiment_variants" in reports:
        _reject_where(
            con,
            reports["assignments"],
            "variant",
            "variant not in experiment_variants for this experiment",
            "(experiment_id, variant) NOT IN (SELECT (experiment_id, variant) FROM experiment_variants)",
        )


def _check_target_policies(con, reports: dict[str, TableReport]) -> None:
    """A slot of a candidate policy — (model_version, block, user_id, position), a null user_id
    being its own group — whose probabilities sum above 1 is not a policy: all its rows go."""
    if "target_policies" not in reports:
        return
    _reject_where(
        con,
        reports["target_policies"],
        "probability",
        "probabilities of one (model_version, block, user_id, position) sum above 1",
        f"""EXISTS (
            SELECT 1 FROM (
                SELECT model_version, block, user_id, position FROM target_policies
                GROUP BY ALL HAVING sum(probability) > 1 + {PROBABILITY_SUM_TOLERANCE!r}
            ) AS g
            WHERE g.model_version = target_policies.model_version AND g.block = target_policies.block
                AND g.user_id IS NOT DISTINCT FROM target_policies.user_id AND g.position = target_policies.position
        )""",
    )


def _note_traffic_shares(con, reports: dict[str, TableReport]) -> None:
    """Shares need not sum to 1 (the contract asks each to be in (0, 1]); say so when they do not.

    The SRM check normalises the shares to sum to 1, and uses an equal split when any is missing.
    """
    report = reports.get("experiment_variants")
    if report is None:
        return
    rows = con.execute(
        """
        SELECT experiment_id, count(*) AS variants, count(traffic_share) AS given, sum(traffic_share) AS total
        FROM experiment_variants GROUP BY 1
        HAVING (count(traffic_share) = count(*) AND abs(sum(traffic_share) - 1) > 1e-6)
            OR (count(traffic_share) BETWEEN 1 AND count(*) - 1)
        ORDER BY 1
        """
    ).fetchall()
    for experiment, variants, given, total in rows[:EXAMPLE_ROWS]:
        if given == variants:
            report.notes.append(
                f"experiment '{_short(experiment)}': traffic_share sums to {total:.4g}, not 1; the sample-ratio "
                "check compares the users with the shares scaled to sum to 1"
            )
        else:
            report.notes.append(
                f"experiment '{_short(experiment)}': traffic_share is given for {given} of its {variants} variants; "
                "the sample-ratio check assumes an equal split"
            )
    if len(rows) > EXAMPLE_ROWS:
        report.notes.append(f"and {len(rows) - EXAMPLE_ROWS} more experiments whose traffic_share does not sum to 1")


def _note_heavy_users(con, reports: dict[str, TableReport]) -> None:
    """A user with an extreme share of the events is likely a bot or a logging loop: name it.

    Nothing is rejected — the events follow the contract — but every metric counts them.
    """
    report = reports.get("events")
    if report is None or report.rows_loaded < HEAVY_USER_MIN_EVENTS:
        return
    rows = con.execute(
        """
        WITH per_user AS (SELECT user_id, count(*) AS n FROM events GROUP BY 1)
        SELECT user_id, n FROM per_user
        WHERE n >= $min_events AND n >= $share * $total
          AND (SELECT count(*) FROM per_user) >= $min_users
        ORDER BY n DESC, user_id LIMIT 5
        """,
        {"min_events": HEAVY_USER_MIN_EVENTS, "share": HEAVY_USER_SHARE, "total": report.rows_loaded,
         "min_users": HEAVY_USER_MIN_USERS},
    ).fetchall()
    for user, n in rows:
        report.notes.append(
            f"user '{_short(user)}' has {n:,} of the {report.rows_loaded:,} events ({n / report.rows_loaded:.0%}): "
            "a bot or a logging loop? The events are loaded and count in every metric"
        )


def _create_absent_tables(con, reports: dict[str, TableReport]) -> None:
    """Absent optional tables exist empty, so every query runs on every source.

    Whether a metric is available is decided from `Source.has`, never from an empty result.
    """
    for table in TABLES.values():
        if table.name in reports:
            continue
        columns = ", ".join(f"{c.name} {SQL_TYPES[c.kind]}" for c in table.columns)
        con.execute(f"CREATE TABLE {table.name} (_row BIGINT, {columns})")


def _reject_where(con, report: TableReport, column: str, reason: str, predicate: str) -> None:
    table = report.table
    count, examples = con.execute(
        f"SELECT count(*), list(_row ORDER BY _row)[1:{EXAMPLE_ROWS}] FROM {table} WHERE {predicate}"
    ).fetchone()
    if count:
        if any(c.name == "experiment_id" for c in TABLES[table].columns):  # tables keyed by experiment
            for (experiment,) in con.execute(f"SELECT DISTINCT experiment_id FROM {table} WHERE {predicate} ORDER BY 1").fetchall():
                report.rejected_experiments.setdefault(str(experiment), []).append(reason)
        con.execute(f"DELETE FROM {table} WHERE {predicate}")
        report.problems.append(Problem(table, column, reason, count, [int(x) for x in examples]))
        report.rows_loaded -= count


def _sql_string(path: Path) -> str:
    # ATTACH takes no bound parameter for its path; quotes are doubled so the path stays a literal.
    return str(path).replace("'", "''")


def _first_line(exc: Exception, path: Path | None = None) -> str:
    """The first line of a DuckDB error, without the server's folders (only the file's name)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    if path is not None:
        for form in {str(path), str(Path(path).resolve())}:
            text = text.replace(form, Path(path).name)
    return text[:300]
