"""Load a data source on Spark and check it against the data contract, from the files directly.

The Spark twin of `dashboard.engine.source.load_source`: the same report (rows read, rejected
rows per table, column and reason with up to five example row numbers, duplicates merged,
warnings), the same file errors (SourceError, naming file and column) and the same clean tables,
as DataFrames with the contract's types and `_row`. Nothing here imports DuckDB; the source is
read by Spark's own readers, so each file is read by the executors, not by one machine.

One definition of the rules: what is checked comes from `contract.py` (types, required
columns, `required_when`, `no_future`, ranges, and the rules written as SQL predicates, which
mean the same in Spark SQL and are run as they are); the reading of a CSV header, the mapping
of columns and the words of the report come from `loading.py`, shared with the DuckDB loader.
What is engine SQL in source.py (the parsing of text, blank values, NUL bytes, exact money) is
written here beside it as Spark expressions, and `tests/test_spark_validation.py` holds both to
the same reports on the hostile-input sources.

Row numbers, as DuckDB gives them (data rows of a CSV file from 1, after the header; a Parquet
file's rows from 1):
- Parquet: Spark's `_metadata.row_index` (the row's position in its file) + 1.
- CSV: the file is read as lines; each line is numbered by its split's byte offset
  (`_metadata.file_block_start`) and its position in the split (`monotonically_increasing_id`
  within a partition, made consecutive by one small count per split). This is exact whatever
  the partitioning, and the lines are cached once so that every pass sees the same numbers.

Where the Spark engine differs (docs/scale-out.md, "Not at parity"): a `.duckdb` file is read
by the DuckDB engine only; a CSV row is one line (a quoted value with a line break inside it is
refused, where DuckDB reads it); lines ending in mixed ways (CRLF and LF) are read, where DuckDB
refuses the file; a few text spellings parse differently (e.g. `1_000` is a number to DuckDB).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.engine.contract import (
    EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_MONEY, SQL_TYPES, TABLES, Column, Table,
)
from dashboard.engine.loading import (
    AS_IS_KINDS, EXAMPLE_ROWS, FUTURE_TOLERANCE, HEAVY_USER_MIN_EVENTS, HEAVY_USER_MIN_USERS, HEAVY_USER_SHARE,
    KIND_WORDS, MAX_LINE_BYTES, NUMERIC_TYPES, PROBABILITY_SUM_TOLERANCE, ROW, Problem, SourceError, TableReport,
    _column_notes, _csv_reason, _Dialect, _events_missing, _exact_money_type, _head, _header, _Located,
    _heavy_user_note, _locate_tables, _map_columns, _not_text, _refuse_export_folder, _refuse_nested_columns,
    _experiment_reason, _traffic_share_notes,
)
# (source.py imports nothing from here, so the two do not import each other.)
from dashboard.engine.spark.source import SPARK_TYPES, SparkSource

# DuckDB's spellings of true and false (case-insensitive, no surrounding spaces: ' true ' is not one).
TRUE_WORDS, FALSE_WORDS = ("t", "true", "y", "yes", "1"), ("f", "false", "n", "no", "0")
# Java regex of the characters DuckDB's BLANK trims (source.py): space, \t \n \v \f \r, no-break space.
BLANK_CLASS = r"[ \t\n\x0B\f\r\x{A0}]"
# Text DuckDB reads as an infinite timestamp or date; Spark has none (the row is rejected either way).
INFINITY_WORDS = ("infinity", "-infinity", "+infinity")
DUCKDB_ONLY = (
    "{name}: a .duckdb file is read by the DuckDB engine only; the Spark engine reads a folder of table files "
    "(.parquet, .csv, .csv.gz). Use --engine duckdb, or write the tables as Parquet files into a folder"
)


def load_source(path: str | Path, spark, now: dt.datetime | None = None):
    """Read and validate a source folder on Spark: a SparkSource, or SourceError when it cannot be used."""
    path = Path(path)
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    check_path(path)
    session = spark.newSession()
    # A file's own column names are compared with the contract's in Python, never resolved by
    # Spark, but Spark refuses to read a file whose names repeat in another case unless told.
    session.conf.set("spark.sql.caseSensitive", "true")
    located, given, errors = _locate_tables(path, None)
    reports: dict[str, TableReport] = {}
    frames: dict[str, object] = {}
    loader = _Loader(session, now)
    try:
        for loc in located:
            try:
                reports[loc.table], frames[loc.table] = loader.load_table(TABLES[loc.table], loc)
            except SourceError as exc:
                errors.extend(exc.problems)
        if "events" not in given:
            errors.append(_events_missing(path, True))
        if errors:
            raise SourceError(errors)
        _check_experiments(frames, reports)
        _check_target_policies(frames, reports)
        _note_traffic_shares(frames, reports)
        _note_heavy_users(frames, reports)
    except BaseException:
        loader.release()
        raise
    # The frames the checks across tables replaced are cached too: the source unpersists all on close.
    cached = list({id(f): f for f in [*loader.cached, *frames.values()]}.values())
    return SparkSource.from_frames(spark, path, reports, frames, loaded_at=now, cached=cached)


def check_path(path: Path) -> None:
    """SourceError for a path the Spark engine cannot read as a source (no JVM needed to tell)."""
    if not path.exists():
        raise SourceError([f"{path}: no such folder or file"])
    if path.is_file() and path.suffix.lower() == ".duckdb":
        raise SourceError([DUCKDB_ONLY.format(name=path.name)])
    if not path.is_dir():
        raise SourceError([f"{path}: a source is a folder of table files or a .duckdb file"])
    _refuse_export_folder(path)


# --- reading one file into `_row`, c0, c1, … ---------------------------------------------------

@dataclass
class _Raw:
    frame: object  # DataFrame of `_row` and c0..c{n-1}
    names: list[str]  # the file's column names, by position (data: never code)
    types: list[str]  # DuckDB's names of those columns' types (the words source.py's rules use)


def duckdb_type_name(data_type) -> str:
    """The DuckDB spelling of a Spark type, for the rules and messages shared with source.py."""
    from pyspark.sql import types as T

    simple = {T.StringType: "VARCHAR", T.LongType: "BIGINT", T.IntegerType: "INTEGER", T.ShortType: "SMALLINT",
              T.ByteType: "TINYINT", T.DoubleType: "DOUBLE", T.FloatType: "FLOAT", T.BooleanType: "BOOLEAN",
              T.DateType: "DATE", T.TimestampNTZType: "TIMESTAMP", T.TimestampType: "TIMESTAMP WITH TIME ZONE",
              T.BinaryType: "BLOB"}
    for kind, name in simple.items():
        if isinstance(data_type, kind):
            return name
    if isinstance(data_type, T.DecimalType):
        return f"DECIMAL({data_type.precision},{data_type.scale})"
    if isinstance(data_type, T.ArrayType):
        return duckdb_type_name(data_type.elementType) + "[]"
    if isinstance(data_type, T.StructType):
        return "STRUCT(" + ", ".join(f"{f.name} {duckdb_type_name(f.dataType)}" for f in data_type.fields) + ")"
    if isinstance(data_type, T.MapType):
        return f"MAP({duckdb_type_name(data_type.keyType)}, {duckdb_type_name(data_type.valueType)})"
    return data_type.simpleString().upper()


class _Loader:
    def __init__(self, session, now: dt.datetime):
        self.spark = session
        self.now = now
        self.cached: list = []  # DataFrames persisted for the source's life (the clean tables)
        self._scratch: list = []  # persisted while one table loads

    def release(self) -> None:
        for frame in self.cached + self._scratch:
            frame.unpersist()
        self.cached.clear()
        self._scratch.clear()

    def _keep(self, frame, scratch: bool = True):
        from pyspark import StorageLevel

        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        (self._scratch if scratch else self.cached).append(frame)
        return frame

    def _drop_scratch(self) -> None:
        for frame in self._scratch:
            frame.unpersist()
        self._scratch.clear()

    def load_table(self, table: Table, loc: _Located):
        report = TableReport(table.name, loc.origin)
        csv_problems: list[Problem] = []
        if loc.kind == "csv":
            names, dialect = _header(loc, _head(loc))
            raw = _Raw(None, names, ["VARCHAR"] * len(names))
        else:
            raw = self._read_parquet(loc)
        try:
            mapping = _map_columns(table, loc, raw)
        except SourceError:
            if loc.kind == "csv" and dialect.binary_hint:
                raise SourceError([_not_text(loc)]) from None
            raise
        _refuse_nested_columns(loc, raw, mapping)
        present = tuple(c.name for c in table.columns if c.name in mapping)
        report.columns_present = present
        if loc.kind == "csv":
            raw, csv_problems = self._read_csv(table, loc, raw, dialect, report)
        report.notes.extend(_column_notes(table, raw, mapping))
        checks = _checks(table, raw, mapping, present, self.now)
        from pyspark.sql import functions as F

        typed = self._keep(raw.frame.select(*checks.typed).withColumn("_ok", checks.ok))
        counts = typed.agg(
            F.count(F.lit(1)), F.sum(F.when(~F.col("_ok"), 1).otherwise(0)),
            *[F.count(c) for col, source in checks.parse_checked for c in (source, col.name)],
        ).first()
        rows, bad = counts[0], counts[1] or 0
        report.rows_read = rows + sum(p.rows for p in csv_problems)
        _refuse_unparseable_columns(typed, loc, checks, list(zip(counts[2::2], counts[3::2])))
        report.problems.extend(csv_problems)
        if bad:
            report.problems.extend(_collect_problems(typed, table.name, checks))
            _note_rejected_experiments(typed, table, checks, report)
        values = [
            F.coalesce(F.col(c.name), F.expr(c.default).cast(SPARK_TYPES[SQL_TYPES[c.kind]])).alias(c.name)
            if c.default else F.col(c.name) for c in table.columns
        ]
        clean = typed.filter("_ok").select("_row", *values)
        clean = _resolve_keys(clean, table, report)
        clean = self._keep(clean, scratch=False)
        report.rows_loaded = clean.count()
        self._drop_scratch()
        return report, clean

    def _read_parquet(self, loc: _Located) -> _Raw:
        from pyspark.sql import functions as F

        try:
            frame = self.spark.read.parquet(str(loc.path))
            fields = frame.schema.fields
        except Exception as exc:  # pyspark's AnalysisException and the JVM's errors alike
            raise SourceError([_parquet_error(loc, exc)]) from None
        names = [f.name for f in fields]
        positional = [f"c{i}" for i in range(len(names))]
        frame = frame.select("*", (F.col("_metadata.row_index") + 1).alias("_row")).toDF(*positional, "_row")
        return _Raw(frame, names, [duckdb_type_name(f.dataType) for f in fields])

    def _read_csv(self, table: Table, loc: _Located, raw: _Raw, dialect: _Dialect,
                  report: TableReport) -> tuple[_Raw, list[Problem]]:
        """The CSV file's rows as text columns numbered in the file, and its malformed rows as problems."""
        from pyspark.sql import functions as F

        n = len(raw.names)
        lines = self._numbered_lines(loc, dialect)
        valid = F.expr("is_valid_utf8(value)")
        quotes = F.length("value") - F.length(F.regexp_replace("value", '"', ""))
        probe = lines.agg(
            F.count(F.when(~valid, 1)), F.min(F.when(~valid, F.col("_row"))),
            F.max(F.when(valid & F.col("value").rlike(r"[^\x00-\x7F]"), 1)),
            F.min(F.when(valid & (quotes % 2 == 1), F.col("_row"))),
        ).first()
        not_utf8, first_not_utf8, has_non_ascii, open_quote = probe
        value = F.col("value")
        if not_utf8 and not has_non_ascii:
            # As source.py: no row that is UTF-8 has a non-ASCII character, so the file is in a
            # one-byte encoding; Latin-1 reads every byte, and the report says it was a guess.
            value = F.decode(F.col("value").cast("binary"), "ISO-8859-1")
            valid = F.lit(True)
            open_quote = lines.agg(F.min(F.when(
                (F.length(value) - F.length(F.regexp_replace(value, '"', ""))) % 2 == 1, F.col("_row")))).first()[0]
            report.notes.append(
                f"not UTF-8 ({not_utf8:,} rows have bytes that are not UTF-8, first at row {first_not_utf8}): "
                "read as Latin-1 (ISO-8859-1). Check that accented letters look right; a file saved as UTF-8 needs no guess"
            )
        if open_quote is not None:
            raise SourceError([
                f"{loc.origin}: row {open_quote} opens a quoted value (\") that is not closed on its line; the Spark "
                "engine reads one row per line, so a value with a line break inside it, or a quote never closed, "
                "cannot be split into rows there (the DuckDB engine reads a line break inside quotes). Close the "
                "quote (a quote inside a quoted value is written twice: \"\"), or write the table as Parquet"
            ])
        delim = re.escape(dialect.delimiter)
        field_re = f'(?:"(?:[^"]|"")*"|[^"{delim}]*)'
        fields = F.size(F.split(F.regexp_replace(value, '"(?:[^"]|"")*"', ""), delim, -1))
        error = (
            F.when(F.octet_length("value") > MAX_LINE_BYTES, F.lit("LINE SIZE OVER MAXIMUM"))
            .when(~valid, F.lit("INVALID ENCODING"))
            .when(~value.rlike(f"^{field_re}(?:{delim}{field_re})*$"), F.lit("UNQUOTED VALUE"))
            .when(fields > n, F.lit("TOO MANY COLUMNS"))
            .when(fields < n, F.lit("MISSING COLUMNS"))
        )
        classified = self._keep(lines.select("_row", value.alias("value"), error.alias("_error")))
        bad = classified.filter(F.col("_error").isNotNull())
        summary = _first_rows(bad, "_error", "_row")
        parsed = classified.filter(F.col("_error").isNull()).count()
        total_bad = sum(count for count, _ in summary.values())
        structural = {e: s for e, s in summary.items() if e in ("TOO MANY COLUMNS", "MISSING COLUMNS")}
        if parsed == 0 and structural and len(structural) == len(summary):
            error_type, (_, examples) = min(structural.items(), key=lambda item: item[1][1][0])
            raise SourceError([
                f"{loc.origin}: none of its {total_bad:,} rows has the {n} fields of the header (separated by "
                f"{dialect.name}); first at row {examples[0]}: {_csv_reason(error_type, n)}. Do the rows use the header's delimiter?"
            ])
        problems = [
            Problem(loc.table, ROW, f"malformed CSV row: {_csv_reason(error_type, n)}", count, examples)
            for error_type, (count, examples) in sorted(summary.items(), key=lambda item: item[1][1][0])
        ]
        schema = ", ".join(f"c{i} STRING" for i in range(n))
        options = {"sep": dialect.delimiter, "quote": '"', "escape": '"', "mode": "PERMISSIVE",
                   "ignoreLeadingWhiteSpace": "false", "ignoreTrailingWhiteSpace": "false"}
        parsed_rows = classified.filter(F.col("_error").isNull()).select(
            "_row", F.from_csv("value", schema, options).alias("_v"))
        # An empty value, quoted ("") or not, is NULL, as DuckDB reads it.
        frame = parsed_rows.select("_row", *[
            F.when(F.col(f"_v.c{i}") != "", F.col(f"_v.c{i}")).alias(f"c{i}") for i in range(n)])
        return _Raw(frame, raw.names, raw.types), problems

    def _numbered_lines(self, loc: _Located, dialect: _Dialect):
        """The file's data rows as text with their row numbers (`_row`, `value`): lines that are
        not empty, numbered in the file, the header (and an Excel `sep=` line) dropped."""
        from pyspark.sql import functions as F

        lines = (
            self.spark.read.text(str(loc.path))
            .select("value", F.col("_metadata.file_block_start").alias("_block"))
            .filter(F.octet_length("value") > 0)  # DuckDB skips empty lines
            .withColumn("_id", F.monotonically_increasing_id())
        )
        lines = self._keep(lines)
        blocks = lines.groupBy("_block").agg(F.count(F.lit(1)).alias("n"), F.min("_id").alias("first")).collect()
        bases, before = [], 0
        for block in sorted(blocks, key=lambda b: b["_block"]):
            bases.append((block["_block"], before - block["first"]))
            before += block["n"]
        offsets = self.spark.createDataFrame(bases or [(0, 0)], "_block bigint, _base bigint")
        numbered = lines.join(F.broadcast(offsets), "_block").select(
            (F.col("_id") + F.col("_base") - dialect.skip).alias("_row"), "value")
        return numbered.filter(F.col("_row") >= 1)


def _parquet_error(loc: _Located, exc: Exception) -> str:
    text = str(exc)
    if "magic" in text.lower() or "not a parquet file" in text.lower():
        return f"{loc.origin}: not a complete Parquet file (its end is missing: the file is truncated, or it is not Parquet)"
    if any(words in text.lower() for words in ("duplicate column", "ambiguous", "column_already_exists")):
        # Spark refuses such a file before any name reaches this module; DuckDB names the column.
        return f"{loc.origin}: a column name is given more than once (Spark cannot read the file); keep one"
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return f"{loc.origin}: cannot be read as Parquet ({first.replace(str(loc.path), loc.path.name)[:300]})"


def _first_rows(frame, by: str, row: str) -> dict:
    """{value of `by`: (rows, the first EXAMPLE_ROWS row numbers)}: one count and one small window."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    counts = {r[0]: r[1] for r in frame.groupBy(by).count().collect()}
    if not counts:
        return {}
    ranked = frame.withColumn("_rank", F.row_number().over(Window.partitionBy(by).orderBy(row)))
    examples: dict = {}
    for r in ranked.filter(F.col("_rank") <= EXAMPLE_ROWS).select(by, row).collect():
        examples.setdefault(r[0], []).append(int(r[1]))
    return {key: (count, sorted(examples[key])) for key, count in counts.items()}


# --- the contract's rules as Spark expressions --------------------------------------------------

@dataclass
class _Checks:
    typed: list = field(default_factory=list)  # the select list: `_row`, sources used, typed columns
    failures: list = field(default_factory=list)  # one boolean Column per rule: true when a row breaks it
    columns: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    parse_checked: list[tuple[Column, str]] = field(default_factory=list)

    def add(self, condition, column: str, reason: str) -> None:
        self.failures.append(condition)
        self.columns.append(column)
        self.reasons.append(reason)

    @property
    def ok(self):
        """True when a row breaks no rule; a rule that is NULL breaks nothing (as in source.py)."""
        from functools import reduce

        from pyspark.sql import functions as F

        if not self.failures:
            return F.lit(True)
        return ~F.coalesce(reduce(lambda a, b: a | b, self.failures), F.lit(False))


def _typed(column: Column, source: str, source_type: str):
    """A Column that turns a raw value into the contract type (NULL when it does not parse), and
    whether that can happen to a given value: source.py's `_typed`, in Spark's words."""
    from pyspark.sql import functions as F

    s = F.col(source)
    target = SPARK_TYPES[SQL_TYPES[column.kind]]
    if column.kind in AS_IS_KINDS and source_type == SQL_TYPES[column.kind]:
        return s, False
    if column.kind in ("id", "string"):
        return s.cast("string"), False
    text = s if source_type == "VARCHAR" else s.cast("string")
    if column.kind == "timestamp":
        value = s.try_cast("timestamp").try_cast("timestamp_ntz")
        if source_type == "VARCHAR":
            # 'infinity' is an infinite timestamp to DuckDB: any instant stands for it here, since
            # the "infinite timestamp" rule below rejects the row.
            infinite = F.lower(F.trim(s)).isin(*INFINITY_WORDS)
            value = F.when(infinite, F.expr("TIMESTAMP_NTZ '9999-12-31 00:00:00'")).otherwise(value)
        return value, True
    if column.kind == "int":
        if re.match(NUMERIC_TYPES, source_type):
            whole = s.try_cast("bigint")
            return F.when(whole == s, whole), True
        return F.when(text.rlike(r"^[\t\n\f\r ]*[+-]?[0-9]+(\.0*)?[\t\n\f\r ]*$"),
                      F.regexp_extract(text, r"[+-]?[0-9]+", 0).try_cast("bigint")), True
    if column.kind == "number":
        value = s.try_cast("double")
        return F.when(~F.isnan(value) & (F.abs(value) < float("inf")), value), True
    if column.kind == "bool" and source_type == "VARCHAR":
        word = F.lower(s)
        return F.when(word.isin(*TRUE_WORDS), F.lit(True)).when(word.isin(*FALSE_WORDS), F.lit(False)), True
    if column.kind == "date" and source_type == "VARCHAR":
        # 'infinity' is an infinite date to DuckDB: any date stands for it here, since the
        # "infinite date" rule below rejects the row.
        infinite = F.lower(F.trim(s)).isin(*INFINITY_WORDS)
        return F.when(infinite, F.expr("DATE '9999-12-31'")).otherwise(s.try_cast("date")), True
    return s.try_cast(target), True


def _checks(table: Table, raw: _Raw, mapping: dict[str, str], present: tuple[str, ...], now) -> _Checks:
    """The typed rows and one condition per contract rule: source.py's `_checks`, rule for rule."""
    from pyspark.sql import functions as F

    typed_cols, sources, parse_checked = [], [], []
    given: dict[str, object] = {}
    for col in table.columns:
        if col.name in present:
            source = mapping[col.name]
            value, can_fail = _typed(col, source, raw.types[int(source[1:])])
            typed_cols.append(value.alias(col.name))
            sources.append(source)
            given[col.name] = F.col(source).isNotNull()
            if can_fail and col.kind in KIND_WORDS:
                parse_checked.append((col, source))
        else:
            typed_cols.append(F.lit(None).cast(SPARK_TYPES[SQL_TYPES[col.kind]]).alias(col.name))
            given[col.name] = F.lit(False)
    checks = _Checks([F.col("_row"), *sources, *typed_cols], parse_checked=parse_checked)
    for col, source in parse_checked:
        checks.add(F.col(source).isNotNull() & F.col(col.name).isNull(), col.name, KIND_WORDS[col.kind])
    for col in table.columns:
        c = col.name
        value = F.col(c)
        if col.required:
            checks.add(~given[c], c, "missing value")
        if c in present:
            source = mapping[c]
            source_type = raw.types[int(source[1:])]
            if source_type == "VARCHAR":
                checks.add(F.instr(F.col(source), "\x00") > 0, c, "contains a NUL byte (binary data, not text)")
            if col.kind == "id" or (col.required and col.kind == "string"):
                checks.add(value.rlike(f"^{BLANK_CLASS}*$"), c, "blank value (only spaces, tabs or line breaks)")
            if col.kind == "money" and not _exact_money_type(source_type):
                checks.add(F.col(source).cast("string").try_cast("decimal(38,18)") != value, c,
                           "more than 4 decimals (amounts are kept exact to 0.0001)")
        if col.kind == "money":
            checks.add(F.abs(value) > MAX_MONEY, c, f"amount above {MAX_MONEY:,}")
        if col.kind in ("timestamp", "date"):
            literal = "TIMESTAMP_NTZ" if col.kind == "timestamp" else "DATE"
            finite = F.lit(True)
            if c in present and raw.types[int(mapping[c][1:])] == "VARCHAR":
                infinite = F.lower(F.trim(F.col(mapping[c]))).isin(*INFINITY_WORDS)
                checks.add(infinite, c, f"infinite {col.kind}")
                finite = ~infinite
            checks.add(finite & (value < F.expr(f"{literal} '{EARLIEST_TIMESTAMP}'")), c, f"before {EARLIEST_TIMESTAMP}")
            if c in table.no_future:
                limit = (now + FUTURE_TOLERANCE).isoformat(sep=" ")
                checks.add(finite & (value > F.expr(f"TIMESTAMP_NTZ '{limit}'")), c, "more than a day in the future")
            else:
                checks.add(finite & (value >= F.expr(f"{literal} '{LATEST_TIMESTAMP}'")), c, f"after {LATEST_TIMESTAMP}")
        if col.rule:
            # The contract's rule, a SQL predicate over the typed column, runs as it is written.
            checks.add(value.isNotNull() & ~F.expr(col.rule.format(c=c)), c, col.rule_reason)
    for event_type, needed in table.required_when.items():
        for c in needed:
            checks.add((F.col("event_type") == F.lit(event_type)) & F.col(c).isNull(), c,
                       f"missing value for a {event_type} event")
    for column, condition, reason in table.row_rules:
        checks.add(F.expr(condition), column, reason)
    return checks


def _refuse_unparseable_columns(typed, loc: _Located, checks: _Checks, parse_counts) -> None:
    """A column in which not a single given value parses has the wrong type as a whole."""
    from pyspark.sql import functions as F

    errors = []
    for (col, source), (given, parsed) in zip(checks.parse_checked, parse_counts):
        if given > 0 and parsed == 0:
            example = typed.filter(F.col(source).isNotNull()).agg(F.min("_row")).first()[0]
            errors.append(
                f"{loc.origin}: column '{col.name}' is {KIND_WORDS[col.kind]} in any of its {given} rows "
                f"(expected {col.kind}; first at row {example})"
            )
    if errors:
        raise SourceError(errors)


def _collect_problems(typed, table_name: str, checks: _Checks) -> list[Problem]:
    """The broken rules of the rejected rows, per column and reason with example rows."""
    from pyspark.sql import functions as F

    broken = F.array(*[F.when(f, F.lit(i)) for i, f in enumerate(checks.failures)])
    rules = typed.filter(~F.col("_ok")).select(
        "_row", F.explode(F.filter(broken, lambda r: r.isNotNull())).alias("_rule"))
    found = _first_rows(rules, "_rule", "_row")
    problems = [Problem(table_name, checks.columns[i], checks.reasons[i], n, ex) for i, (n, ex) in found.items()]
    # Rules that share a column and reason (none today) are one problem, as DuckDB's GROUP BY makes them.
    merged: dict[tuple[str, str], Problem] = {}
    for p in problems:
        if (p.column, p.reason) in merged:
            m = merged[(p.column, p.reason)]
            m.rows += p.rows
            m.examples = sorted(set(m.examples + p.examples))[:EXAMPLE_ROWS]
        else:
            merged[(p.column, p.reason)] = p
    return sorted(merged.values(), key=lambda p: (-p.rows, p.column, p.reason))


def _note_rejected_experiments(typed, table: Table, checks: _Checks, report: TableReport) -> None:
    """Per experiment_id of the rejected rows (tables keyed by experiment), the rules they broke."""
    from pyspark.sql import functions as F

    if "experiment_id" not in {c.name for c in table.columns}:
        return
    broken = F.array(*[F.when(f, F.lit(i)) for i, f in enumerate(checks.failures)])
    rules = (typed.filter(~F.col("_ok") & F.col("experiment_id").isNotNull())
             .select("experiment_id", F.explode(F.filter(broken, lambda r: r.isNotNull())).alias("_rule"))
             .distinct().collect())
    said = sorted({(str(r[0]), checks.columns[r[1]], checks.reasons[r[1]]) for r in rules})
    for experiment, column, reason in said:
        report.rejected_experiments.setdefault(experiment, []).append(_experiment_reason(column, reason))


def _resolve_keys(clean, table: Table, report: TableReport):
    """Exact duplicates count once, and rows that share a key but differ are all rejected."""
    from pyspark.sql import functions as F

    if not table.key:
        return clean
    key = list(table.key)
    # One shuffle of the keys alone finds those that occur more than once; for a clean source
    # that is none, and the rows themselves are never shuffled (as source.py: only repeated keys
    # get the distinct-row comparison).
    repeated_keys = clean.groupBy(*key).count().filter(F.col("count") > 1).drop("count").persist()
    try:
        if not repeated_keys.count():
            return clean
        content = F.struct(*[c.name for c in table.columns])
        repeated = (
            clean.join(repeated_keys, key, "left_semi").groupBy(*key)
            .agg(F.count(F.lit(1)).alias("_copies"), F.count_distinct(content).alias("_versions"),
                 F.min("_row").alias("_first"))
        ).persist()
    finally:
        repeated_keys.unpersist()
    try:
        summary = repeated.agg(
            F.count(F.lit(1)), F.sum(F.when(F.col("_versions") == 1, F.col("_copies") - 1).otherwise(0)),
            F.count(F.when(F.col("_versions") > 1, 1)),
        ).first()
        report.duplicates_merged = int(summary[1] or 0)
        marked = clean.join(F.broadcast(repeated) if summary[0] < 100_000 else repeated, key, "left")
        if summary[2]:
            conflicting = marked.filter(F.col("_versions") > 1)
            count = conflicting.count()
            examples = [int(r[0]) for r in conflicting.select("_row").orderBy("_row").limit(EXAMPLE_ROWS).collect()]
            report.problems.append(
                Problem(table.name, ", ".join(key), f"different rows share the same {', '.join(key)}", count, examples))
        keep = F.col("_first").isNull() | ((F.col("_versions") == 1) & (F.col("_row") == F.col("_first")))
        return marked.filter(keep).select("_row", *[c.name for c in table.columns])
    finally:
        repeated.unpersist()


# --- checks across tables (source.py's, in the same order) -------------------------------------

def _reject_where(frames: dict, reports: dict, table: str, column: str, reason: str, rejected) -> None:
    """Remove the rows of `rejected` (a DataFrame of `_row` of `table`) and report them."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    rows = rejected.select("_row").distinct()
    count = rows.count()
    if not count:
        return
    examples = [int(r[0]) for r in rows.orderBy("_row").limit(EXAMPLE_ROWS).collect()]
    if any(c.name == "experiment_id" for c in TABLES[table].columns):  # tables keyed by experiment
        for experiment in sorted({str(r[0]) for r in rejected.select("experiment_id").distinct().collect()}):
            reports[table].rejected_experiments.setdefault(experiment, []).append(reason)
    old = frames[table]
    frames[table] = old.join(rows, "_row", "left_anti").persist(StorageLevel.MEMORY_AND_DISK)
    frames[table].count()
    old.unpersist()
    report = reports[table]
    report.problems.append(Problem(table, column, reason, count, examples))
    report.rows_loaded -= count


def _check_experiments(frames: dict, reports: dict) -> None:
    """Experiments need exactly one control; assignments must name a known variant."""
    from pyspark.sql import functions as F

    if "experiment_variants" in frames:
        for reason, controls in (("experiment has no control variant", F.col("_controls") == 0),
                                 ("experiment has more than one control variant", F.col("_controls") > 1)):
            variants = frames["experiment_variants"]
            groups = variants.groupBy("experiment_id").agg(
                F.count(F.when(F.col("is_control"), 1)).alias("_controls")).filter(controls)
            _reject_where(frames, reports, "experiment_variants", "is_control", reason,
                          variants.join(groups, "experiment_id", "left_semi"))
        if "experiments" in frames:
            variants = frames["experiment_variants"]
            _reject_where(frames, reports, "experiment_variants", "experiment_id", "experiment_id not in experiments",
                          variants.join(frames["experiments"].select("experiment_id"), "experiment_id", "left_anti"))
    if "assignments" in frames and "experiment_variants" in frames:
        known = frames["experiment_variants"].select("experiment_id", "variant")
        _reject_where(frames, reports, "assignments", "variant",
                      "variant not in experiment_variants for this experiment",
                      frames["assignments"].join(known, ["experiment_id", "variant"], "left_anti"))


def _check_target_policies(frames: dict, reports: dict) -> None:
    """A slot of a candidate policy whose probabilities sum above 1 loses all its rows."""
    from pyspark.sql import functions as F

    if "target_policies" not in frames:
        return
    policies = frames["target_policies"]
    slot = ["model_version", "block", "user_id", "position"]
    over = policies.groupBy(*slot).agg(F.sum("probability").alias("_total")).filter(
        F.col("_total") > 1 + PROBABILITY_SUM_TOLERANCE)
    # user_id may be NULL (the same for every user): its own group, matched null-safely.
    matched = policies.alias("p").join(
        over.alias("g"), [F.col(f"p.{c}").eqNullSafe(F.col(f"g.{c}")) for c in slot], "left_semi")
    _reject_where(frames, reports, "target_policies", "probability",
                  "probabilities of one (model_version, block, user_id, position) sum above 1", matched)


def _note_traffic_shares(frames: dict, reports: dict) -> None:
    from pyspark.sql import functions as F

    report = reports.get("experiment_variants")
    if report is None:
        return
    per = frames["experiment_variants"].groupBy("experiment_id").agg(
        F.count(F.lit(1)).alias("variants"), F.count("traffic_share").alias("given"),
        F.sum("traffic_share").alias("total"))
    rows = per.filter(
        ((F.col("given") == F.col("variants")) & (F.abs(F.col("total") - 1) > 1e-6))
        | ((F.col("given") >= 1) & (F.col("given") <= F.col("variants") - 1))
    ).orderBy("experiment_id").collect()
    report.notes += _traffic_share_notes(rows)


def _note_heavy_users(frames: dict, reports: dict) -> None:
    from pyspark.sql import functions as F

    report = reports.get("events")
    if report is None or report.rows_loaded < HEAVY_USER_MIN_EVENTS:
        return
    per_user = frames["events"].groupBy("user_id").count()
    users = per_user.count()
    if users < HEAVY_USER_MIN_USERS:
        return
    total = report.rows_loaded
    rows = (per_user.filter((F.col("count") >= HEAVY_USER_MIN_EVENTS) & (F.col("count") >= HEAVY_USER_SHARE * total))
            .orderBy(F.col("count").desc(), "user_id").limit(5).collect())
    report.notes += [_heavy_user_note(user, n, total) for user, n in rows]
