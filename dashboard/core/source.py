"""Load a data source into DuckDB and check it against the data contract.

A source is a folder of `<table>.parquet|.csv|.csv.gz` files or one `.duckdb` file. Every
contract table that is present becomes a clean DuckDB table of the same name with the
contract's columns and types. Rows that break the contract are rejected and counted per
table, column and reason (with example row numbers); exact duplicate rows count once. Every
row read is accounted for: read = loaded + rejected + merged duplicates.

A file that cannot be read at all is an error naming the file (and column), and then the
source as a whole is refused: nothing is half-loaded.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dashboard.core.contract import SQL_TYPES, TABLES, Column, Table

FILE_SUFFIXES = (".parquet", ".csv", ".csv.gz")
EXAMPLE_ROWS = 5
# A whole column that parses nowhere is a wrong file, not a set of bad rows.
FUTURE_TOLERANCE = dt.timedelta(days=1)


class SourceError(Exception):
    """The source cannot be used; `problems` lists one plain sentence per cause."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class Problem:
    table: str
    column: str
    reason: str
    rows: int
    examples: list[int]


@dataclass
class TableReport:
    table: str
    origin: str  # file name or `file.duckdb:table`
    rows_read: int = 0
    rows_loaded: int = 0
    duplicates_merged: int = 0
    columns_present: tuple[str, ...] = ()
    problems: list[Problem] = field(default_factory=list)

    @property
    def rows_rejected(self) -> int:
        return self.rows_read - self.rows_loaded - self.duplicates_merged


@dataclass
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


def new_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    # Naive timestamps mean UTC; instants are compared in UTC, zones only make weeks and days.
    con.execute("SET TimeZone = 'UTC'")
    # Progress is reported by the callers in their own words, not by DuckDB's bar on stderr.
    con.execute("SET enable_progress_bar = false")
    return con


def load_source(path: str | Path, now: dt.datetime | None = None) -> Source:
    """Load and validate a source; raise SourceError when it cannot be used at all."""
    path = Path(path)
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    locate = _locate_in_folder if path.is_dir() else _locate_in_database
    if not path.exists():
        raise SourceError([f"{path}: no such folder or file"])
    if not path.is_dir() and path.suffix != ".duckdb":
        raise SourceError([f"{path}: a source is a folder of table files or a .duckdb file"])

    con = new_connection()
    if not path.is_dir():
        try:
            con.execute(f"ATTACH '{_sql_string(path)}' AS src (READ_ONLY)")
        except duckdb.Error as exc:
            raise SourceError([f"{path.name}: not a readable DuckDB database ({_first_line(exc)})"]) from None

    reports: dict[str, TableReport] = {}
    errors: list[str] = []
    for table in TABLES.values():
        found = locate(con, path, table.name)
        if isinstance(found, str):
            errors.append(found)
            continue
        if found is None:
            continue
        origin, relation, params = found
        try:
            reports[table.name] = _load_table(con, table, origin, relation, params, now)
        except SourceError as exc:
            errors.extend(exc.problems)
    if "events" not in reports and not any("events" in e for e in errors):
        errors.append(f"{path}: the required table 'events' is missing (looked for events.parquet, events.csv, events.csv.gz)")
    if errors:
        con.close()
        raise SourceError(errors)
    _check_experiments(con, reports)
    _create_absent_tables(con, reports)
    return Source(path=path, con=con, tables=reports, loaded_at=now)


# --- finding tables ---------------------------------------------------------------------------

def _locate_in_folder(con, folder: Path, table: str):
    candidates = [folder / f"{table}{suffix}" for suffix in FILE_SUFFIXES]
    present = [p for p in candidates if p.is_file()]
    if not present:
        return None
    if len(present) > 1:
        names = ", ".join(p.name for p in present)
        return f"{folder}: table '{table}' is given by several files ({names}); keep one"
    file = present[0]
    if file.suffix == ".parquet":
        relation = "(SELECT file_row_number + 1 AS _row, * EXCLUDE (file_row_number) FROM read_parquet($path, file_row_number = true))"
    else:
        # Every CSV column is read as text so that bad values become counted rejections
        # instead of a failed type guess; ids keep their leading zeros.
        relation = "(SELECT row_number() OVER () AS _row, * FROM read_csv($path, all_varchar = true, header = true))"
    return file.name, relation, {"path": str(file)}


def _locate_in_database(con, db: Path, table: str):
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'src' AND lower(table_name) = $t",
        {"t": table},
    ).fetchone()[0]
    exists += con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE database_name = 'src' AND lower(view_name) = $t",
        {"t": table},
    ).fetchone()[0]
    if not exists:
        return None
    # `table` comes from the contract, never from input.
    return f"{db.name}:{table}", f"(SELECT row_number() OVER () AS _row, * FROM src.{table})", {}


# --- loading one table ------------------------------------------------------------------------

def _load_table(con, table: Table, origin: str, relation: str, params: dict, now) -> TableReport:
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {relation}", params).fetchall()
    except duckdb.Error as exc:
        raise SourceError([f"{origin}: cannot be read as a table ({_first_line(exc)})"]) from None

    file_columns = [r[0] for r in described if r[0] != "_row"]
    by_lower = {c.lower(): c for c in file_columns}
    missing = [c for c in table.required_columns if c not in by_lower]
    if missing:
        found = ", ".join(file_columns[:12]) or "none"
        hint = ""
        if len(file_columns) == 1 and any(sep in file_columns[0] for sep in ";\t|"):
            hint = " — the file looks like it uses another delimiter than a comma"
        raise SourceError(
            [f"{origin}: missing required column '{m}' (columns found: {found}){hint}" for m in missing]
        )
    present = tuple(c.name for c in table.columns if c.name in by_lower)
    report = TableReport(table.name, origin, columns_present=present)
    checked = f"_checked_{table.name}"
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {checked} AS {_checked_sql(table, relation, by_lower, present)}",
            {**params, **({"future_limit": now + FUTURE_TOLERANCE} if table.no_future else {})},
        )
    except duckdb.Error as exc:
        raise SourceError([f"{origin}: cannot be read as a table ({_first_line(exc)})"]) from None
    report.rows_read = con.execute(f"SELECT count(*) FROM {checked}").fetchone()[0]
    _refuse_unparseable_columns(con, table, checked, origin, present, report.rows_read)
    report.problems.extend(_collect_problems(con, table.name, checked))
    _resolve_keys(con, table, checked, report)
    report.rows_loaded = con.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0]
    con.execute(f"DROP TABLE {checked}")
    return report


def _typed(column: Column, source: str) -> str:
    """SQL that turns a raw value into the contract type, NULL when it does not parse."""
    if column.kind in ("id", "string"):
        return f"CAST({source} AS VARCHAR)"
    if column.kind == "timestamp":
        # Through TIMESTAMPTZ: an offset is honoured, a naive value is taken as UTC.
        return f"TRY_CAST(TRY_CAST({source} AS TIMESTAMPTZ) AS TIMESTAMP)"
    if column.kind == "int":
        # 2.5 is not an integer (a plain cast would round it to 3).
        return (
            f"CASE WHEN TRY_CAST({source} AS DECIMAL(38,6)) = TRY_CAST({source} AS BIGINT) "
            f"THEN TRY_CAST({source} AS BIGINT) END"
        )
    if column.kind == "number":
        return f"CASE WHEN isfinite(TRY_CAST({source} AS DOUBLE)) THEN TRY_CAST({source} AS DOUBLE) END"
    return f"TRY_CAST({source} AS {SQL_TYPES[column.kind]})"


KIND_WORDS = {
    "timestamp": "not a timestamp",
    "money": "not an amount",
    "int": "not an integer",
    "number": "not a number",
    "bool": "not true/false",
    "date": "not a date",
}


def _checked_sql(table: Table, raw: str, by_lower: dict[str, str], present: tuple[str, ...]) -> str:
    """Typed columns plus `_problems`: a list of 'column|reason' for every broken rule of a row."""
    typed_cols, given_cols, checks = [], [], []
    for col in table.columns:
        sql_type = SQL_TYPES[col.kind]
        if col.name in present:
            source = '"' + by_lower[col.name] + '"'
            typed_cols.append(f"{_typed(col, source)} AS {col.name}")
            given_cols.append(f"{source} IS NOT NULL AS {col.name}__given")
        else:
            typed_cols.append(f"CAST(NULL AS {sql_type}) AS {col.name}")
            given_cols.append(f"false AS {col.name}__given")
        c = col.name
        if col.required:
            checks.append(f"CASE WHEN NOT {c}__given THEN '{c}|missing value' END")
        if col.kind in KIND_WORDS:
            checks.append(f"CASE WHEN {c}__given AND {c} IS NULL THEN '{c}|{KIND_WORDS[col.kind]}' END")
        if col.rule:
            checks.append(f"CASE WHEN {c} IS NOT NULL AND NOT ({col.rule.format(c=c)}) THEN '{c}|{col.rule_reason}' END")
    for event_type, needed in table.required_when.items():
        for c in needed:
            checks.append(
                f"CASE WHEN event_type = '{event_type}' AND {c} IS NULL THEN '{c}|missing value for a {event_type} event' END"
            )
    for c in table.no_future:
        checks.append(f"CASE WHEN {c} > $future_limit THEN '{c}|more than a day in the future' END")
    typed_select = ", ".join(["_row", *typed_cols, *given_cols])
    value_cols = ", ".join(c.name for c in table.columns)
    problems = "list_filter([" + ", ".join(checks) + "], lambda p: p IS NOT NULL)" if checks else "[]::VARCHAR[]"
    return (
        f"SELECT _row, {value_cols}, {problems} AS _problems, "
        + ", ".join(f"{c.name}__given" for c in table.columns)
        + f" FROM (SELECT {typed_select} FROM {raw})"
    )


def _refuse_unparseable_columns(con, table, checked, origin, present, rows_read) -> None:
    """A column in which not a single given value parses has the wrong type as a whole."""
    errors = []
    for col in table.columns:
        if col.name not in present or col.kind not in KIND_WORDS:
            continue
        given, parsed = con.execute(
            f"SELECT count(*) FILTER ({col.name}__given), count({col.name}) FROM {checked}"
        ).fetchone()
        if given > 0 and parsed == 0:
            example = con.execute(
                f"SELECT CAST(_row AS BIGINT) FROM {checked} WHERE {col.name}__given ORDER BY _row LIMIT 1"
            ).fetchone()[0]
            errors.append(
                f"{origin}: column '{col.name}' is {KIND_WORDS[col.kind]} in any of its {given} rows "
                f"(expected {col.kind}; first at row {example})"
            )
    if errors:
        raise SourceError(errors)


def _collect_problems(con, table_name: str, checked: str) -> list[Problem]:
    rows = con.execute(
        f"""
        SELECT split_part(p, '|', 1) AS col, split_part(p, '|', 2) AS reason,
               count(*) AS n, list(_row ORDER BY _row)[1:{EXAMPLE_ROWS}] AS examples
        FROM (SELECT _row, unnest(_problems) AS p FROM {checked})
        GROUP BY ALL ORDER BY n DESC, col, reason
        """
    ).fetchall()
    return [Problem(table_name, col, reason, n, [int(x) for x in ex]) for col, reason, n, ex in rows]


def _resolve_keys(con, table: Table, checked: str, report: TableReport) -> None:
    """Build the clean table: valid rows, exact duplicates once, conflicting keys rejected."""
    values = ", ".join(
        f"COALESCE({c.name}, {c.default}) AS {c.name}" if c.default else c.name for c in table.columns
    )
    valid = f"(SELECT _row, {values} FROM {checked} WHERE len(_problems) = 0)"
    if not table.key:
        con.execute(f"CREATE OR REPLACE TABLE {table.name} AS SELECT * FROM {valid} ORDER BY _row")
        return
    key = ", ".join(table.key)
    content = ", ".join(c.name for c in table.columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _valid AS SELECT * FROM {valid}")
    # Only keys that occur more than once need a closer look; for a clean source that is none,
    # and the expensive distinct-row comparison never runs on the bulk of the rows.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _repeated AS
        WITH multi AS (SELECT {key} FROM _valid GROUP BY ALL HAVING count(*) > 1)
        SELECT {key}, count(*) AS _copies, count(DISTINCT row({content})) AS _versions
        FROM _valid JOIN multi USING ({key})
        GROUP BY ALL
        """
    )
    conflicts = con.execute(
        f"""
        SELECT count(*), list(_row ORDER BY _row)[1:{EXAMPLE_ROWS}]
        FROM _valid SEMI JOIN (SELECT {key} FROM _repeated WHERE _versions > 1) USING ({key})
        """
    ).fetchone()
    if conflicts[0]:
        report.problems.append(
            Problem(table.name, key, f"different rows share the same {key}", conflicts[0], [int(x) for x in conflicts[1]])
        )
    report.duplicates_merged = con.execute(
        "SELECT coalesce(sum(_copies - 1), 0) FROM _repeated WHERE _versions = 1"
    ).fetchone()[0]
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {table.name} AS
        SELECT * FROM _valid ANTI JOIN _repeated USING ({key})
        UNION ALL
        SELECT * FROM (
            SELECT * FROM _valid SEMI JOIN (SELECT {key} FROM _repeated WHERE _versions = 1) USING ({key})
            QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _row) = 1
        )
        """
    )
    con.execute("DROP TABLE _valid")
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
        con.execute(f"DELETE FROM {table} WHERE {predicate}")
        report.problems.append(Problem(table, column, reason, count, [int(x) for x in examples]))
        report.rows_loaded -= count


def _sql_string(path: Path) -> str:
    # ATTACH takes no bound parameter for its path; quotes are doubled so the path stays a literal.
    return str(path).replace("'", "''")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300]
