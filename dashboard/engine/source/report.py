"""What loading gives back: the Source, its report per table and problems, SourceError, and
the helpers that word messages (names cut short, a DuckDB error's first line)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb


FILE_SUFFIXES = (".parquet", ".csv", ".csv.gz")
EXAMPLE_ROWS = 5
# File-derived names (columns, ids) quoted in messages are cut to this many characters.
NAME_CHARS = 40
ROW = "(row)"  # the `column` of a problem that concerns a whole CSV row


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
    # Things worth knowing that reject nothing (an encoding fallback, ignored columns, a user
    # with an extreme share of the events, traffic shares that do not sum to 1).
    notes: list[str] = field(default_factory=list)
    # Tables keyed by experiment: experiment_id -> "column: reason" of its rows that were
    # rejected, so that an experiment left without rows is named with the reason (never silent).
    rejected_experiments: dict[str, list[str]] = field(default_factory=dict)

    @property
    def rows_rejected(self) -> int:
        return self.rows_read - self.rows_loaded - self.duplicates_merged


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


@dataclass(frozen=True)
class _Located:
    table: str
    origin: str  # what messages call it: the file name, or `file.duckdb:table`
    kind: str  # "csv", "parquet" or "duckdb"
    path: Path | None  # the real file (None for a table of a .duckdb file)


def _short(text) -> str:
    text = str(text).replace("\n", " ").replace("\r", " ")
    return text if len(text) <= NAME_CHARS else text[: NAME_CHARS - 1] + "…"


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
