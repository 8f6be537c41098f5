"""Finding a source's tables: files in a folder, or tables of one .duckdb file (attached
read-only, refused when its views or macros read the server's state)."""
from __future__ import annotations

import re
from pathlib import Path

import duckdb

from dashboard.engine.loading import SourceError, _Located, _short
from dashboard.engine.source.report import _first_line, _sql_string


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


