"""The contract's rules for one table as SQL: types, required values, ranges, allowed values,
keys; the rows that break them rejected and counted per column and reason."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from dashboard.engine.contract import (
    Column, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_MONEY, SQL_TYPES, Table,
)
from dashboard.engine.loading import (
    AS_IS_KINDS, EXAMPLE_ROWS, FUTURE_TOLERANCE, KIND_WORDS, NUMERIC_TYPES, Problem, SourceError, TableReport,
    _exact_money_type, _experiment_reason, _Located,
)
from dashboard.engine.source.keys import Storage
from dashboard.engine.source.read import _Raw, _count, _scan


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

    # Conditions on one text column's value alone (a NUL byte, a blank, a value not allowed):
    # position -> the column, whose file column `c<i>` holds the same text (`text_sources`).
    # When none of the column's distinct values breaks one, `settle_by_values` marks it settled
    # and `ok` stops testing it row by row.
    by_value: dict[int, str] = field(default_factory=dict)
    text_sources: dict[str, str] = field(default_factory=dict)
    settled: set[int] = field(default_factory=set)

    def add(self, condition: str, column: str, reason: str, screened: bool = False, by_value: bool = False) -> None:
        if screened:
            self.screened.add(len(self.failures))
        if by_value and column in self.text_sources:
            self.by_value[len(self.failures)] = column
        self.failures.append(condition)
        self.columns.append(column)
        self.reasons.append(reason)

    @property
    def ok(self) -> str:
        """True when a row breaks no rule. A condition that is NULL (e.g. a rule on a NULL event
        type) breaks nothing, as a `CASE WHEN` that does not fire."""
        skipped = self.screened | self.settled
        tested = [f for i, f in enumerate(self.failures) if i not in skipped] + self.screens
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
            if source_type == "VARCHAR" and col.kind in ("id", "string"):
                # A text column read as text: its typed value is the file's value, character for
                # character, so its rules on one value can be settled on its distinct values.
                checks.text_sources[c] = source
            if source_type == "VARCHAR":
                # Wherever it is in the file, a NUL byte makes its row a rejected row (binary data
                # in a text value); a NUL in a CSV header refuses the file (`_header`).
                checks.add(f"strpos({source}, chr(0)) > 0", c, "contains a NUL byte (binary data, not text)",
                           by_value=True)
            if col.kind == "id" or (col.required and col.kind == "string"):
                # Only a value that starts with a blank character (below '!', or a no-break space
                # and other non-ASCII) is trimmed: trimming every value would cost a third of a load.
                checks.add(f"CASE WHEN {c} < '!' OR {c} >= chr(160) THEN trim({c}, {BLANK}) = '' ELSE false END", c,
                           "blank value (only spaces, tabs or line breaks)", by_value=True)
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
            # (a rule names its own column only: "{c} IN (...)", "{c} >= 1")
            checks.add(f"{c} IS NOT NULL AND NOT ({col.rule.format(c=c)})", c, col.rule_reason, by_value=True)
    for i, (event_type, needed) in enumerate(table.required_when.items()):
        checks.params[f"event_type_{i}"] = event_type
        for c in needed:
            checks.add(f"event_type = $event_type_{i} AND {c} IS NULL", c, f"missing value for a {event_type} event")
    for column, condition, reason in table.row_rules:
        checks.add(condition, column, reason)
    return checks


def settle_by_values(con, checks: _Checks, values: dict[str, str]) -> None:
    """Mark settled each condition on one column's value that none of its values breaks.

    `values`: column -> a relation with a VARCHAR column `value` holding at least every
    distinct value of the column (keys.py collects them for the dictionaries anyway). A
    column of 10M values has a few hundred thousand distinct ones: testing those instead of
    every row takes 0.35 s off loading 10M events. A value that breaks a condition keeps it
    tested row by row, so the same rows are rejected and reported either way.
    """
    for position, column in checks.by_value.items():
        relation = values.get(column)
        if relation is None:
            continue
        source = checks.text_sources[column]
        broken = con.execute(
            f"SELECT count(*) FROM (SELECT value AS {column}, value AS {source} FROM {relation}) "
            f"WHERE coalesce({checks.failures[position]}, false)"  # (such a condition binds no parameter)
        ).fetchone()[0]
        if not broken:
            checks.settled.add(position)


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


def _create_clean_table(con, table: Table, loc: _Located, raw: _Raw, checks: _Checks, storage: Storage) -> None:
    """The table the metrics read: the typed rows that break no rule, defaults filled in, ids
    stored as keys and labels as ENUMs (keys.py).

    Straight from the file, with no copy in between; repeated keys are resolved on it afterwards.
    """
    values = ", ".join(
        f"COALESCE({c.name}, {c.default}) AS {c.name}" if c.default else c.name for c in table.columns
    )
    stored, joins = storage.stored([c.name for c in table.columns], "_clean")
    order = "" if table.key else " ORDER BY _row"  # a table without a key keeps the file's order
    _scan(
        con, loc,
        f"CREATE OR REPLACE TABLE {table.name} AS SELECT _clean._row, {', '.join(stored)} "
        f"FROM (SELECT _row, {values} FROM ({checks.typed}) WHERE {checks.ok}) AS _clean {' '.join(joins)}{order}",
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


# Keys counted per part in the repeated-key check: the hash table of a count of distinct keys
# is the largest allocation of a whole load (≈520 MB for 10M event ids, two thirds of what the
# loaded events take), so a large table is checked in parts of at most this many rows.
KEY_CHECK_PART_ROWS = 5_000_000


def _any_repeated_key(con, table: Table) -> bool:
    """Whether some key occurs more than once; for a clean source none does, and the
    expensive distinct-row comparison of `_resolve_keys` never runs.

    Counting distinct keys is cheaper than listing the repeated ones (0.48 against 0.69 s for
    10M event ids). The parts split the keys by their hash, so that equal keys always fall in
    the same part: 10M event ids in two parts take 0.06 s longer and 250 MB less at the peak.
    A NULL in a key, which the contract does not allow, makes the counts differ too: the exact
    path decides.
    """
    key = ", ".join(table.key)
    distinct = table.key[0] if len(table.key) == 1 else f"row({key})"
    rows = con.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0]
    parts = max(1, -(-rows // KEY_CHECK_PART_ROWS))
    for part in range(parts):
        where = f"WHERE hash({key}) % {parts} = {part}" if parts > 1 else ""
        if con.execute(f"SELECT count(*) - count(DISTINCT {distinct}) FROM {table.name} {where}").fetchone()[0]:
            return True
    return False


def _resolve_keys(con, table: Table, report: TableReport) -> None:
    """Exact duplicates count once, and rows that share a key but differ are all rejected."""
    if not table.key:
        return
    key = ", ".join(table.key)
    content = ", ".join(c.name for c in table.columns)
    if not _any_repeated_key(con, table):
        return
    con.execute(f"CREATE OR REPLACE TEMP TABLE _repeated AS SELECT {key} FROM {table.name} GROUP BY ALL HAVING count(*) > 1")
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
