"""The queries/ SQL as Spark SQL: one source of truth, translated, with a few named twins.

`spark_sql(name, schema)` gives the Spark SQL of `queries/<name>.sql`:

1. A **Spark twin** `queries/spark/<name>.sql`, when there is one, is used as it is. Twins are
   written in Spark SQL (parameters as `:name`) for the DuckDB-only pieces that have no
   translation: `range()` over timestamps (a lateral table function) in `stg_weeks`, and
   `stg_tz`, a DuckDB speed-up whose Spark twin is an empty lookup (readers fall back to the
   exact `timezone()`, which is cheap on Spark).
2. Otherwise the DuckDB file is translated by sqlglot (`read="duckdb", write="spark"`) after the
   rewrites below, each where sqlglot's output would not parse on Spark or would mean something
   else there. Some need column types, so the query is first qualified and typed against
   `schema` (the columns and types of every table and staging view the query reads):

   | DuckDB                                   | Spark                                              |
   |------------------------------------------|----------------------------------------------------|
   | `$name`                                  | `:name` (named parameter marker, bound by Spark)   |
   | `timezone(tz, <timestamptz>)`            | `from_utc_timestamp(ts, tz)` (UTC → local)         |
   | `timezone(tz, <timestamp>)`              | `to_utc_timestamp(ts, tz)` (local → UTC)           |
   | `a / b` (always floating point)          | `cast(a as double) / cast(b as double)`: Spark keeps DECIMAL, rounded |
   | `avg(x)` (DOUBLE, also of DECIMAL)       | `avg(cast(x as double))`: Spark's avg of DECIMAL is a rounded DECIMAL |
   | `<date> - <date>` (days, an integer)     | `datediff(a, b)`: Spark gives an interval          |
   | `arg_min/arg_max(x, y)` (skip NULL x)    | `min_by/max_by(x, case when x is not null then y end)`; `arg_*_null` → plain `min_by/max_by` |
   | `isodow(ts)`                             | `weekday(ts) + 1` (sqlglot's `dayofweek` formula is off by two) |
   | `list[i]` (from 1, NULL out of range)    | `case when i <> 0 then try_element_at(list, i) end` |
   | `group by all`                           | the non-aggregate select expressions (Spark reads `ALL` as a column `all` if one exists) |
   | `to_days(n)`, `to_weeks(n)`              | `make_dt_interval(n)`, `make_dt_interval(7 * n)`   |
   | `epoch_us(ts)`                           | `unix_micros(cast(ts as timestamp))`               |
   | `quantile_cont(x, q)`                    | `percentile(x, q)` (exact, linear interpolation)   |
   | `from range(n) as r(k)`                  | `from range(0, n) as r(k)` (sqlglot's `explode(sequence)` loses the alias) |
   | `cte as [not] materialized (…)`          | `cte as (…)` (a planning hint Spark does not parse) |
   | `qualify …` with `order by`              | sqlglot's `eliminate_qualify`, the `order by` kept on the outer query |
   | `l asof [left] join r on … and l.t >= r.t` | one sort of both tables with `last(r) ignore nulls over (…)` (`_asof_join`) |

   What sqlglot translates with the same meaning by itself: `list_contains` → `array_contains`,
   `count(*) filter (where …)` (Spark has FILTER), `struct_pack` → `struct` (structs compare field
   by field in both), `date_trunc('week', …)` (Monday in both), `//` → `DIV`, grouping sets,
   `bool_or`, `bit_or`, `bit_count`, `<<` → `shiftleft`, `log2` → `log(2, …)`, `varchar[]` →
   `array<string>`, DuckDB's default NULLS LAST made explicit in `order by`, and `qualify` →
   a filtered subquery.

A DuckDB construct that none of this covers fails loudly (`TranslationError`, or Spark's own
analysis error naming the function), never silently with a different number; the parity tests
(tests/test_spark_parity.py) compare every table on both engines.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema
from sqlglot.transforms import eliminate_qualify

from dashboard.engine import sql

SPARK_QUERIES_DIR = sql.QUERIES_DIR / "spark"
_DEPENDS = re.compile(r"^--.*Depends:\s*([a-z_, ]+)", re.MULTILINE)
# `:name` of a twin, outside comments and string literals (which twins keep free of colons).
_SPARK_PARAM = re.compile(r"(?<![\w:]):([a-z_][a-z0-9_]*)")
_STRING = re.compile(r"'(?:[^']|'')*'")


class TranslationError(Exception):
    """A query uses something this translation does not know how to say in Spark SQL."""


def twin_path(name: str) -> Path:
    """Where the Spark twin of `queries/<name>.sql` lives (it need not exist)."""
    return SPARK_QUERIES_DIR / f"{name}.sql"


@functools.lru_cache(maxsize=None)
def has_twin(name: str) -> bool:
    return twin_path(name).is_file()


@functools.lru_cache(maxsize=None)
def twin_text(name: str) -> str:
    return twin_path(name).read_text(encoding="utf-8")


def run_text(name: str) -> str:
    """The text that describes what runs on Spark: the twin, else the DuckDB file."""
    return twin_text(name) if has_twin(name) else sql.query_text(name)


def dependencies(name: str) -> list[str]:
    """Staging tables the query reads (its `Depends:` header; a twin keeps its own header)."""
    names: list[str] = []
    for match in _DEPENDS.finditer(run_text(name)):
        names += [n.strip() for n in match.group(1).split(",") if n.strip()]
    return names


def parameter_names(name: str) -> set[str]:
    if has_twin(name):
        text = _STRING.sub("''", re.sub(r"--[^\n]*", "", twin_text(name)))
        return set(_SPARK_PARAM.findall(text))
    return sql.parameter_names(sql.query_text(name))


def spark_sql(name: str, schema: dict[str, dict[str, str]]) -> str:
    """Spark SQL of `queries/<name>.sql` (e.g. `metrics/buyer_weekly`); `schema` maps each table
    and view the query may read to {column: Spark type}."""
    if has_twin(name):
        return twin_text(name)
    frozen = tuple(sorted((table, tuple(columns.items())) for table, columns in schema.items()))
    return _translate_cached(sql.query_text(name), frozen)


def translate(duckdb_sql: str, schema: dict[str, dict[str, str]]) -> str:
    """Spark SQL with the same meaning as a DuckDB query (see the module's table)."""
    frozen = tuple(sorted((table, tuple(columns.items())) for table, columns in schema.items()))
    return _translate_cached(duckdb_sql, frozen)


@functools.lru_cache(maxsize=256)
def _translate_cached(duckdb_sql: str, frozen_schema: tuple) -> str:
    mapping = MappingSchema(
        {table: {column: _duckdb_type(kind) for column, kind in columns} for table, columns in frozen_schema},
        dialect="duckdb",
    )
    try:
        tree = sqlglot.parse_one(duckdb_sql, read="duckdb")
        tree = qualify(tree, schema=mapping, dialect="duckdb", quote_identifiers=True)
        tree = annotate_types(tree, schema=mapping, dialect="duckdb")
    except sqlglot.errors.SqlglotError as exc:
        raise TranslationError(f"cannot translate to Spark SQL: {exc}") from None
    for select in list(tree.find_all(exp.Select)):
        _expand_group_by_all(select)
        _asof_join(select)
    tree = _rewrite_all(tree)
    return tree.sql(dialect="spark", pretty=True, comments=False)


def _asof_join(select: exp.Select) -> None:
    """`FROM l ASOF [LEFT] JOIN r ON r.k = l.k … AND l.t >= r.t` as one sort instead of a join.

    Spark has no ASOF JOIN. For each row of l, the row of r with equal keys and the latest
    r.t <= l.t (< for a strict `>`) is the last r row before it in one stream of both tables,
    partitioned by the keys and ordered by time (r first at equal times when `>=`):
    `last(r_row, true) over (partition by keys order by t, kind rows unbounded preceding)`.
    O(n log n) like DuckDB's ASOF join, and no range join that a busy key could blow up. The
    result is a derived table under l's alias with l's columns and r's as `__asof_<name>`;
    references to r in the query are renamed to those. Rows with a NULL key or time never match;
    a plain (inner) ASOF JOIN drops the l rows without a match, a LEFT one keeps them.
    """
    joins = select.args.get("joins") or []
    asof = [j for j in joins if str(j.args.get("method") or "").upper() == "ASOF"]
    if not asof:
        return
    from_key = "from_" if "from_" in select.arg_types else "from"  # sqlglot renamed it
    if len(joins) != 1 or not select.args.get(from_key):
        raise TranslationError("an ASOF JOIN beside other joins has no translation: write a Spark twin")
    join = asof[0]
    side = str(join.args.get("side") or "").upper()
    if side not in ("", "LEFT"):
        raise TranslationError(f"{side} ASOF JOIN has no translation: write a Spark twin")
    left, right = select.args[from_key].this, join.this
    left_alias, right_alias = left.alias_or_name, right.alias_or_name

    def side_of(node: exp.Expression) -> str | None:
        tables = {c.table for c in node.find_all(exp.Column)}
        return "l" if tables == {left_alias} else "r" if tables == {right_alias} else None

    on = join.args.get("on")
    conditions = list(on.flatten()) if isinstance(on, exp.And) else [on]
    keys, times, strict = [], None, False
    for condition in conditions:
        a, b = condition.this, condition.expression
        if isinstance(condition, exp.EQ) and {side_of(a), side_of(b)} == {"l", "r"}:
            keys.append((a, b) if side_of(a) == "l" else (b, a))
            continue
        if isinstance(condition, (exp.LT, exp.LTE)):  # write as `bigger >= smaller`
            a, b = b, a
        if times is None and isinstance(condition, (exp.GT, exp.GTE, exp.LT, exp.LTE)) \
                and side_of(a) == "l" and side_of(b) == "r":
            times, strict = (a, b), isinstance(condition, (exp.GT, exp.LT))
            continue
        raise TranslationError(f"ASOF JOIN condition {condition.sql('duckdb')!r} has no translation: write a Spark twin")
    if times is None or not keys:
        raise TranslationError("an ASOF JOIN needs equality keys and one `left >= right` condition")

    used = sorted({c.name for c in select.find_all(exp.Column)
                   if c.table == right_alias and not _inside(c, join)})
    q = lambda name: exp.to_identifier(name, quoted=True).sql("spark")  # noqa: E731
    left_kind, right_kind = (0, 1) if strict else (1, 0)  # at equal times, r first unless strict
    key_names = [f"__k{i}" for i in range(len(keys))]
    right_struct = ", ".join(f"{q(right_alias)}.{q(name)}" for name in used) or "1"
    template = f"""
        SELECT __l.*, {", ".join(f"__m.{q(name)} AS {q('__asof_' + name)}" for name in used) or "1 AS __asof"}
        FROM (
            SELECT __l, __kind, LAST(__r, TRUE) OVER (
                PARTITION BY {", ".join(key_names)} ORDER BY __t, __kind
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS __m
            FROM (
                SELECT {", ".join(f"__LK{i} AS {k}" for i, k in enumerate(key_names))}, __LT AS __t,
                    {left_kind} AS __kind, STRUCT({q(left_alias)}.*) AS __l, NULL AS __r
                FROM __LEFT__
                UNION ALL
                SELECT {", ".join(f"__RK{i}" for i in range(len(keys)))}, __RT, {right_kind}, NULL,
                    STRUCT({right_struct})
                FROM __RIGHT__
                WHERE {" AND ".join([f"__RK{i} IS NOT NULL" for i in range(len(keys))] + ["__RT IS NOT NULL"])}
            ) AS __stream
        ) AS __last
        WHERE __kind = {left_kind}{"" if side == "LEFT" else " AND __m IS NOT NULL"}
    """
    derived = sqlglot.parse_one(template, read="spark")
    slots = {f"__LK{i}": k[0] for i, k in enumerate(keys)} | {f"__RK{i}": k[1] for i, k in enumerate(keys)}
    slots |= {"__LT": times[0], "__RT": times[1]}
    for column in list(derived.find_all(exp.Column)):
        if not column.table and column.name in slots:
            column.replace(slots[column.name].copy())
    for table in list(derived.find_all(exp.Table)):
        if table.name == "__LEFT__":
            table.replace(left.copy())
        elif table.name == "__RIGHT__":
            table.replace(right.copy())
    for column in list(select.find_all(exp.Column)):
        if column.table == right_alias and not _inside(column, join):
            column.replace(exp.column(f"__asof_{column.name}", table=left_alias, quoted=True))
    select.set("joins", None)
    select.set(from_key, exp.From(this=exp.Subquery(this=derived, alias=exp.TableAlias(
        this=exp.to_identifier(left_alias, quoted=True)))))


def _inside(node: exp.Expression, ancestor: exp.Expression) -> bool:
    parent = node.parent
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False


def _expand_group_by_all(select: exp.Select) -> None:
    """`group by all` as the list of the select's non-aggregate expressions, as DuckDB reads it.

    Spark knows GROUP BY ALL too, but reads it as the column `all` when there is one, and
    qualifying names an unnamed `'ALL'` literal `all` (buyer_weekly's union of block 'ALL').
    Constants are left out: they need no grouping, and Spark reads an integer as a position.
    """
    group = select.args.get("group")
    if not group or not group.args.get("all"):
        return
    keys = []
    for expression in select.expressions:
        value = expression.unalias()
        if value.find(exp.AggFunc, exp.Window) or isinstance(value, (exp.Literal, exp.Null, exp.Boolean)):
            continue
        keys.append(value.copy())
    if not keys:
        select.set("group", None)
        return
    select.set("group", exp.Group(expressions=keys))


def _rewrite_all(tree: exp.Expression) -> exp.Expression:
    """Apply `_rewrite` to every node, children before their parents (so that nested cases,
    such as a division inside a division, are all rewritten)."""
    for node in reversed(list(tree.walk(bfs=False))):
        new = _rewrite(node)
        if new is node:
            continue
        if new.type is None and node.type is not None:
            new.type = node.type
        if node is tree:
            tree = new
        else:
            node.replace(new)
    return tree


def _duckdb_type(spark_type: str) -> str:
    """A Spark type string (`decimal(18,4)`, `timestamp_ntz`, `array<string>`) as DuckDB's."""
    return exp.DataType.build(spark_type, dialect="spark").sql("duckdb")


_TIMESTAMPTZ = {exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPLTZ}
_TIMESTAMP = {exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ, exp.DataType.Type.DATETIME,
              exp.DataType.Type.DATE}


def _type_of(node: exp.Expression) -> exp.DataType.Type | None:
    kind = node.type
    return kind.this if kind is not None else None


def _func(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        if name == "timezone":
            return _timezone(node)
        if name == "to_weeks":
            (weeks,) = node.expressions
            days = exp.Mul(this=exp.Literal.number(7), expression=exp.Cast(this=weeks, to=exp.DataType.build("INT")))
            return _func("make_dt_interval", days)
        if name == "epoch_us":
            (ts,) = node.expressions
            # unix_micros takes an instant; the naive UTC timestamp is one in the UTC session.
            return _func("unix_micros", exp.Cast(this=ts, to=exp.DataType.build("TIMESTAMPTZ")))
    if isinstance(node, (exp.ArgMin, exp.ArgMax)):
        # DuckDB's arg_min/arg_max skip rows whose value is NULL; Spark's min_by/max_by keep them
        # (like DuckDB's arg_min_null), and skip rows whose ordering is NULL.
        value, ordering = node.this, node.expression
        guarded = exp.Case(ifs=[exp.If(this=exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null())),
                                       true=ordering)])
        return _func("min_by" if isinstance(node, exp.ArgMin) else "max_by", value, guarded)
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("arg_min_null", "arg_max_null"):
        return _func("min_by" if node.name.lower() == "arg_min_null" else "max_by", *node.expressions)
    if isinstance(node, exp.DayOfWeekIso):
        # ISO weekday, Monday 1 .. Sunday 7 (sqlglot writes (DAYOFWEEK(x) % 7) + 1: Monday 3)
        return exp.Add(this=_func("weekday", node.this), expression=exp.Literal.number(1))
    if isinstance(node, exp.Bracket) and len(node.expressions) == 1 and not (
            isinstance(node.expressions[0], exp.Literal) and node.expressions[0].is_string):
        # DuckDB lists count from 1 and give NULL out of range (index 0 included); sqlglot keeps
        # `arr[i]`, which Spark counts from 0 and, in ANSI mode, refuses out of range.
        (index,) = node.expressions
        element = _func("try_element_at", node.this, exp.TryCast(this=index, to=exp.DataType.build("INT")))
        return exp.Case(ifs=[exp.If(this=exp.NEQ(this=index.copy(), expression=exp.Literal.number(0)), true=element)])
    if isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order):
        raise TranslationError(f"an ordered list() has no Spark translation in {node.sql('duckdb')!r}: write a Spark twin")
    if isinstance(node, exp.ToDays):
        return _func("make_dt_interval", exp.Cast(this=node.this, to=exp.DataType.build("INT")))
    if isinstance(node, exp.PercentileCont):
        return _func("percentile", node.this, node.expression)
    if isinstance(node, exp.Avg) and not isinstance(node.this, exp.Distinct):
        # DuckDB averages DECIMAL (e.g. of `then 1.0 else 0.0`) as DOUBLE; Spark's average of a
        # DECIMAL is a DECIMAL rounded to 4 more decimals than the input (1e-5 for 1.0).
        return exp.Avg(this=_as_double(node.this))
    if isinstance(node, exp.Div) and not node.args.get("typed"):
        # DuckDB's `/` is floating-point division for every numeric type; Spark's keeps DECIMAL
        # (rounded to 6 decimals) for DECIMAL operands.
        return exp.Div(this=_as_double(node.this), expression=_as_double(node.expression))
    if isinstance(node, exp.Sub) and _type_of(node.this) == exp.DataType.Type.DATE \
            and _type_of(node.expression) == exp.DataType.Type.DATE:
        # DuckDB: the number of days; Spark: an interval.
        return _func("datediff", node.this, node.expression)
    if isinstance(node, exp.Table) and isinstance(node.this, exp.GenerateSeries):
        return _range_table(node)
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        # `as [not] materialized` is a planning hint in DuckDB; Spark SQL has no such syntax.
        node.set("materialized", None)
        return node
    if isinstance(node, exp.Select) and node.args.get("qualify") and node.args.get("order"):
        return _qualify_keeping_order(node)
    return node


def _as_double(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Paren):
        node = node.this
    return exp.Cast(this=node, to=exp.DataType.build("DOUBLE"))


def _timezone(node: exp.Anonymous) -> exp.Expression:
    """DuckDB's timezone(zone, x) goes either way, by the type of x."""
    zone, value = node.expressions
    kind = value.to.this if isinstance(value, exp.Cast) else _type_of(value)
    if kind in _TIMESTAMPTZ:
        return _func("from_utc_timestamp", value, zone)  # instant -> local wall clock
    if kind in _TIMESTAMP:
        return _func("to_utc_timestamp", value, zone)  # local wall clock -> instant
    raise TranslationError(
        f"timezone(…) of a value of unknown type in {node.sql('duckdb')!r}: cast it to timestamp or timestamptz"
    )


def _range_table(node: exp.Table) -> exp.Expression:
    series: exp.GenerateSeries = node.this
    start, end, step = series.args.get("start"), series.args.get("end"), series.args.get("step")
    integers = all(
        part is None or (isinstance(part, exp.Literal) and not part.is_string and part.is_int)
        for part in (start, end, step)
    )
    if not (integers and series.args.get("is_end_exclusive")):
        raise TranslationError(
            f"range()/generate_series() other than of integer literals in {node.sql('duckdb')!r}: write a Spark twin"
        )
    args = [start or exp.Literal.number(0), end] + ([step] if step is not None else [])
    return exp.Table(this=_func("range", *args), alias=node.args.get("alias"))


def _qualify_keeping_order(node: exp.Select) -> exp.Expression:
    """eliminate_qualify wraps the query in a subquery and leaves ORDER BY inside, where Spark
    need not keep it; put it back on the outer query (it names output columns)."""
    order = node.args["order"]
    inner = node.copy()
    inner.set("order", None)
    outer = eliminate_qualify(inner)
    outputs = {e.alias_or_name for e in outer.expressions}
    ordered = order.copy()
    for column in ordered.find_all(exp.Column):
        if column.name not in outputs:
            raise TranslationError(f"ORDER BY {column.sql('duckdb')} of a QUALIFY query is not an output column")
        column.set("table", None)
    outer.set("order", ordered)
    return outer
