"""What both loaders share, free of any engine: the report of a load, the CSV header and dialect,
the mapping of a file's columns to the contract's, and the words of the report.

The DuckDB loader (the `dashboard.engine.source` package) and the Spark loader
(`dashboard.engine.spark.validate`) both read a source with these, so that the two engines name
files, columns and reasons in the same words; neither DuckDB nor Spark is imported here.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.engine.contract import TABLES, Table

FILE_SUFFIXES = (".parquet", ".csv", ".csv.gz")
# A user with at least this share of all events (and this many events) is named in a note.
# (A source of a handful of users, e.g. a test, is not flagged: there a large share is normal.)
HEAVY_USER_SHARE, HEAVY_USER_MIN_EVENTS, HEAVY_USER_MIN_USERS = 0.05, 1_000, 20
# A candidate's probabilities at one slot may sum to at most 1 plus this rounding allowance.
PROBABILITY_SUM_TOLERANCE = 1e-9

EXAMPLE_ROWS = 5


FUTURE_TOLERANCE = dt.timedelta(days=1)


# CSV: the delimiter is the one of these that the header line uses most (ties: this order).
CSV_DELIMITERS = (",", ";", "\t", "|")


DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}


# How much of a CSV file is read in Python to see whether it is text and to read its header.
HEAD_BYTES = 1 << 20


# DuckDB's default maximum CSV line size; a longer row is a rejected row.
MAX_LINE_BYTES = 2_000_000


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


@dataclass(frozen=True)
class _Located:
    table: str
    origin: str  # what messages call it: the file name, or `file.duckdb:table`
    kind: str  # "csv", "parquet" or "duckdb"
    path: Path | None  # the real file (None for a table of a .duckdb file)


# The file `export` writes beside the metric tables (export.EXPORT_INFO; export.py imports this module).
EXPORT_INFO = "export.json"


def _refuse_export_folder(folder: Path) -> None:
    """An export's folder holds metric tables (one is named `experiments`), not a data source."""
    if (folder / EXPORT_INFO).is_file() and not any((folder / f"events{s}").is_file() for s in FILE_SUFFIXES):
        raise SourceError([
            f"{folder}: this is an export folder (it has {EXPORT_INFO}): its files are metric tables computed by "
            "'export', not a data source. Point to the source the export was made from, or open this folder "
            "on the Data page to look at its tables"
        ])


def _locate_in_folder(folder: Path, table: str, allowed_dirs) -> _Located | str | None:
    candidates = [folder / f"{table}{suffix}" for suffix in FILE_SUFFIXES]
    present = [p for p in candidates if p.is_file()]
    if not present:
        return None
    if len(present) > 1:
        names = ", ".join(p.name for p in present)
        return f"{folder}: table '{table}' is given by several files ({names}); keep one"
    file = present[0]
    real = file.resolve()
    if allowed_dirs is not None and not _is_inside(real, allowed_dirs):
        return f"{file.name}: is a link to a file outside the folders this server may read; copy the file instead"
    kind = "parquet" if file.name.endswith(".parquet") else "csv"
    return _Located(table, file.name, kind, real)



def _locate_tables(folder: Path, allowed_dirs) -> tuple[list[_Located], set[str], list[str]]:
    """Every contract table's file in `folder`: those found, the tables given (a file exists,
    readable or not) and one error sentence per file that cannot be used. Both loaders start here."""
    located: list[_Located] = []
    given: set[str] = set()
    errors: list[str] = []
    for table in TABLES:
        found = _locate_in_folder(folder, table, allowed_dirs)
        if found is not None:
            given.add(table)
        if isinstance(found, str):
            errors.append(found)
        elif found is not None:
            located.append(found)
    return located, given, errors


def _traffic_share_notes(rows: list[tuple]) -> list[str]:
    """The notes for experiments whose traffic shares do not sum to 1 (rows of experiment_id,
    variants, shares given, their sum), in the words of both loaders."""
    notes = []
    for experiment, variants, given, total in rows[:EXAMPLE_ROWS]:
        if given == variants:
            notes.append(
                f"experiment '{_short(experiment)}': traffic_share sums to {total:.4g}, not 1; the sample-ratio "
                "check compares the users with the shares scaled to sum to 1"
            )
        else:
            notes.append(
                f"experiment '{_short(experiment)}': traffic_share is given for {given} of its {variants} variants; "
                "the sample-ratio check assumes an equal split"
            )
    if len(rows) > EXAMPLE_ROWS:
        notes.append(f"and {len(rows) - EXAMPLE_ROWS} more experiments whose traffic_share does not sum to 1")
    return notes


def _heavy_user_note(user, n: int, total: int) -> str:
    return (f"user '{_short(user)}' has {n:,} of the {total:,} events ({n / total:.0%}): "
            "a bot or a logging loop? The events are loaded and count in every metric")


def _events_missing(path: Path, is_folder: bool) -> str:
    if not is_folder:
        return f"{path}: the required table 'events' is missing (the database has no table or view named events)"
    near = sorted(p.name for p in path.iterdir() if p.name.lower().startswith("events.") and p.is_file())[:3]
    hint = ""
    if near:
        hint = f"; found {', '.join(near)}: table files are named in lower case and end in .parquet, .csv or .csv.gz"
    return f"{path}: the required table 'events' is missing (looked for events.parquet, events.csv, events.csv.gz){hint}"


def _head(loc: _Located) -> bytes:
    """The first bytes of a CSV file, decompressed when it is gzipped."""
    try:
        if loc.origin.endswith(".gz"):
            with gzip.open(loc.path, "rb") as f:
                return f.read(HEAD_BYTES)
        with open(loc.path, "rb") as f:
            return f.read(HEAD_BYTES)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise SourceError([f"{loc.origin}: not a readable gzip file ({exc})"]) from None
    except OSError as exc:
        raise SourceError([f"{loc.origin}: cannot be read ({exc.strerror or exc.__class__.__name__})"]) from None


@dataclass(frozen=True)
class _Dialect:
    """How a CSV file is split: its delimiter, and whether an Excel `sep=` line comes first."""

    delimiter: str
    skip: int = 0  # lines before the header (an Excel `sep=;` line)
    # Whether the file's first bytes hold a NUL: a header without the required columns then means
    # a binary file, and is called that.
    binary_hint: bool = False

    @property
    def name(self) -> str:
        return DELIMITER_NAMES.get(self.delimiter, f"'{self.delimiter}'")


# Excel writes `sep=;` as the first line to say which delimiter the file uses.
_EXCEL_SEP = re.compile(r"^sep=(.)$", re.IGNORECASE)


def _first_line_of(data: bytes) -> tuple[bytes, bytes]:
    """The first line and the rest, for any line ending: LF, CRLF or a bare CR (old Mac files)."""
    line = re.match(rb"[^\r\n]*", data).group(0)
    rest = data[len(line):]
    rest = rest[2:] if rest.startswith(b"\r\n") else rest[1:]
    return line, rest


def _not_text(loc: _Located) -> str:
    return (f"{loc.origin}: not a text file (it contains NUL bytes: binary data, or text saved as UTF-16); "
            "save the table as CSV in UTF-8")


def _header(loc: _Located, head: bytes) -> tuple[list[str], _Dialect]:
    """The header row's column names and how the file is split (its delimiter, an Excel sep line)."""
    if not head:
        raise SourceError([
            f"{loc.origin}: the file is empty (0 bytes); a CSV file needs at least a header row with the column names"
        ])
    first, rest = _first_line_of(head)
    skip = 0
    sep = _EXCEL_SEP.match(first.decode("latin-1").lstrip("\ufeff").replace("\xef\xbb\xbf", "", 1))
    if sep:
        # Excel's `sep=;` line: the delimiter it names, and the header is the next line.
        first, rest = _first_line_of(rest)
        skip = 1
    if b"\x00" in first or head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # A NUL in the header: binary data or UTF-16. (A NUL in a data row rejects that row.)
        raise SourceError([_not_text(loc)])
    if not rest and len(head) == HEAD_BYTES:
        raise SourceError([f"{loc.origin}: the first line is longer than {HEAD_BYTES:,} bytes; it is not a header row"])
    # Only the header is decoded here (for its names); the whole file's encoding is decided below.
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(first, final=False)
    text = text.lstrip("\ufeff")
    delimiter = sep.group(1) if sep else max(CSV_DELIMITERS, key=text.count)
    if not text.strip():
        raise SourceError([f"{loc.origin}: the first line is empty; a CSV file starts with a header row with the column names"])
    try:
        names = next(csv.reader([text], delimiter=delimiter, quotechar='"'), [])
    except csv.Error:  # e.g. a name longer than the csv module's field limit
        names = text.split(delimiter)
    return [n.strip() for n in names] or [""], _Dialect(delimiter, skip, b"\x00" in head)


def _csv_reason(error_type: str, n: int) -> str:
    return {
        "TOO MANY COLUMNS": f"more fields than the {n} of the header",
        "MISSING COLUMNS": f"fewer fields than the {n} of the header",
        "UNQUOTED VALUE": "bad quoting: a quote not closed, or text after a closing quote (a quote inside a quoted value is written twice: \"\")",
        "INVALID ENCODING": "bytes that are not UTF-8 text",
        "LINE SIZE OVER MAXIMUM": f"longer than {MAX_LINE_BYTES:,} bytes",
    }.get(error_type, error_type.lower())


def _map_columns(table: Table, loc: _Located, raw) -> dict[str, str]:
    """Contract column -> positional column (c0, c1, …) of the file; matched without case."""
    mapping: dict[str, str] = {}
    given: dict[str, list[str]] = {}
    wanted = {c.name for c in table.columns}
    for i, name in enumerate(raw.names):
        key = name.strip().lower()
        if key in wanted:
            given.setdefault(key, []).append(name)
            mapping[key] = f"c{i}"
    errors = [
        f"{loc.origin}: column '{key}' is given {len(names)} times ({', '.join(_short(n) for n in names)}); keep one"
        for key, names in given.items() if len(names) > 1
    ]
    missing = [c for c in table.required_columns if c not in mapping]
    if missing:
        found = ", ".join(_short(n) for n in raw.names[:12]) or "none"
        hint = ""
        if loc.kind == "csv" and len(raw.names) == 1:
            hint = " — the header has a single column: are the columns separated by ',', ';', tab or '|'?"
        errors += [f"{loc.origin}: missing required column '{m}' (columns found: {found}){hint}" for m in missing]
    if errors:
        raise SourceError(errors)
    return mapping


def _refuse_nested_columns(loc: _Located, raw, mapping: dict[str, str]) -> None:
    """A list, struct or map where the contract expects one value per row is a wrong column."""
    errors = []
    for name, source in mapping.items():
        source_type = raw.types[int(source[1:])]
        if source_type.endswith("]") or re.match(r"^(STRUCT|MAP|UNION)\(", source_type):
            errors.append(
                f"{loc.origin}: column '{name}' holds a list or structure in each row ({_short(source_type)}), "
                "not a single value; write it as a plain column"
            )
    if errors:
        raise SourceError(errors)


def _column_notes(table: Table, raw, mapping: dict[str, str]) -> list[str]:
    notes = []
    wanted = {c.name for c in table.columns}
    ignored = [n for n in raw.names if n.strip() and n.strip().lower() not in wanted]
    if ignored:
        shown = ", ".join(f"'{_short(n)}'" for n in ignored[:8]) + (f" and {len(ignored) - 8} more" if len(ignored) > 8 else "")
        notes.append(f"columns not in the data contract are ignored: {shown}")
    for col in table.columns:
        if col.kind == "id" and col.name in mapping:
            source_type = raw.types[int(mapping[col.name][1:])]
            if re.match(r"^(U?(TINY|SMALL|HUGE)?INT(EGER)?|U?BIGINT|DECIMAL|DOUBLE|FLOAT)", source_type):
                notes.append(
                    f"column '{col.name}' is stored as {source_type}: ids are compared as text, and leading zeros "
                    "(if the ids had any) were lost before the file was written"
                )
    return notes


KIND_WORDS = {
    "timestamp": "not a timestamp",
    "money": "not an amount",
    "int": "not an integer",
    "number": "not a number",
    "bool": "not true/false",
    "date": "not a date",
}


def _short(text) -> str:
    text = str(text).replace("\n", " ").replace("\r", " ")
    return text if len(text) <= NAME_CHARS else text[: NAME_CHARS - 1] + "…"


def _is_inside(path: Path, folders) -> bool:
    from dashboard.engine.guard import is_inside  # (guard imports DuckDB; only the Data page passes folders)

    return is_inside(path, folders)


# Kinds whose value is used as it is when the source column already has the contract's type
# (a typed Parquet file or DuckDB table): no cast, and no check whether it parses. A CSV column
# is text, so there only ids and strings are. (`number` is not among them: NaN and infinity
# are rejected.)
AS_IS_KINDS = ("id", "string", "timestamp", "money", "int", "bool", "date")
# DuckDB types of numbers, as DESCRIBE names them.
NUMERIC_TYPES = r"^(U?(TINY|SMALL|HUGE)?INT(EGER)?|U?BIGINT|DECIMAL|DOUBLE|FLOAT|REAL)"


def _exact_money_type(source_type: str) -> bool:
    """Whether every value of this type has at most four decimals (integers, DECIMAL(p, s ≤ 4))."""
    if re.match(r"^(U?(TINY|SMALL|HUGE)?INT(EGER)?|U?BIGINT)$", source_type):
        return True
    scale = re.match(r"^DECIMAL\(\d+,\s*(\d+)\)$", source_type)
    return bool(scale) and int(scale.group(1)) <= 4


def _experiment_reason(column: str, reason: str) -> str:
    """How a broken rule of an experiment's rejected row is named (TableReport.rejected_experiments)."""
    return reason if reason.startswith(column) else f"{column} is {reason}" if reason.startswith("not ") \
        else f"{column}: {reason}"
