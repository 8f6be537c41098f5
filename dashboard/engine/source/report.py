"""What a DuckDB load gives back: the Source (its connection and its report per table), and the
DuckDB helpers that word messages (a DuckDB error's first line, a path as an SQL literal).

The report types themselves (TableReport, Problem, SourceError) are engine-free and shared with
the Spark loader: `dashboard/engine/loading.py`."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dashboard.engine.loading import TableReport
from dashboard.engine.source.keys import readable_sql


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

    def readable_cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on which every loaded table reads as the source gave it: ids as their
        text, labels as VARCHAR (the tables store keys and ENUMs: keys.py). For anyone who
        wants the rows themselves; the metric queries read the stored tables."""
        cursor = self.cursor()
        for table in self.tables:
            cursor.execute(f"CREATE TEMP VIEW {table} AS {readable_sql(cursor, table)}")  # contract names
        return cursor

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def notes(self) -> list[tuple[str, str]]:
        """(table, note) for every table's notes: warnings that reject nothing."""
        return [(r.table, note) for r in self.tables.values() for note in r.notes]


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
