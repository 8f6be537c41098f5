"""How the loaded tables store ids and short labels: integer keys and ENUM columns.

Every query groups, joins and counts users, items, sellers and sessions, and filters on event
types, blocks, platforms, model versions and categories. On text each of those hashes and
compares a 16-byte string per row; so the loader stores, once:

- `user_id`, `item_id`, `seller_id`, `session_id` as UINTEGER keys. One dictionary per kind of id
  for the whole source (`_keys_user(id, key)`, …), built from every table that has such a
  column, so a user has the same key in events, orders and assignments. Keys are numbered in the
  ids' sort order: comparing two keys orders them as their ids would be ordered, so `min`,
  `arg_min` ties and `a.item_id < b.item_id` give what they gave on the text.
- `event_type`, `block`, `platform`, `model_version`, `category` as ENUM types (`block_enum`, …),
  one per kind across tables, when it has at most MAX_ENUM_VALUES values. An ENUM reads back as
  its text, so these columns still print, filter (`block = $block`) and export as before.

The query SQL keeps its readable names: `user_id` is still the user, only stored as a key, and
no query prints a keyed id (the metric tables are aggregates). `readable_sql` turns a loaded
table back into text for anyone who wants the rows (tests, the Spark parity checks).

Why not ENUMs for the ids too: DuckDB compares ENUM types value by value while it plans a query,
so an ENUM of 700k sessions made planning one query take seconds. Why not `event_id`: it is
unique per row, so its dictionary would be as large as the column and cost a sort of every id at
load, for a column that only the key check and a few tie-breaks read.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# column -> kind of id: one dictionary `_keys_<kind>` per kind across all tables.
KEYED_COLUMNS = {"user_id": "user", "item_id": "item", "seller_id": "seller", "session_id": "session"}
# column -> kind of label: one ENUM type `<kind>_enum` per kind across all tables.
ENUM_COLUMNS = {c: c for c in ("event_type", "block", "platform", "model_version", "category")}
# Above this many distinct values a label stays text: an ENUM's planning cost grows with it
# (see above), and a column with that many values is no longer a short list of labels.
MAX_ENUM_VALUES = 10_000
KEY_TYPE = "UINTEGER"
# Off only to compare results with everything stored as text (tests/test_keys.py).
ENCODE = True
ENUM_VALUES_TABLE = "_enum_values"  # (kind, value): kept so a validated copy can recreate the types


def keys_table(kind: str) -> str:
    return f"_keys_{kind}"


def values_table(kind: str) -> str:
    """The value list of one kind while a source loads (`collect_values`), dropped by `build`."""
    return f"_values_{kind}"


def _kind(column: str) -> str | None:
    return KEYED_COLUMNS.get(column) or ENUM_COLUMNS.get(column)


def enum_type(kind: str) -> str:
    return f"{kind}_enum"


@dataclass
class Storage:
    """The stored type of each encoded column of this source (others keep the contract's type)."""

    keyed: dict[str, str] = field(default_factory=dict)  # column -> kind with a dictionary
    enums: dict[str, str] = field(default_factory=dict)  # column -> ENUM type name

    def column_type(self, column: str, contract_type: str) -> str:
        if column in self.keyed:
            return KEY_TYPE
        return self.enums.get(column, contract_type)

    def stored(self, table_columns: list[str], alias: str) -> tuple[list[str], list[str]]:
        """For a clean table's columns read from `alias`: the SELECT items and the joins that
        store them (a key looked up in its dictionary, a label cast to its ENUM)."""
        items, joins = [], []
        for c in table_columns:
            if c in self.keyed:
                dictionary = f"_k_{c}"
                items.append(f"{dictionary}.key AS {c}")
                joins.append(f"LEFT JOIN {keys_table(self.keyed[c])} AS {dictionary} ON {dictionary}.id = {alias}.{c}")
            elif c in self.enums:
                items.append(f"CAST({alias}.{c} AS {self.enums[c]}) AS {c}")
            else:
                items.append(f"{alias}.{c}")
        return items, joins


def collect_values(con, scan, typed_select: str, columns: list[str], collected: set[str]) -> None:
    """Add the distinct values of `columns` of one table's typed rows to the kinds' value lists.

    `scan(sql)` runs SQL over the table's raw rows (with its bound parameters); `collected`: the
    kinds with a value list so far. Values of rows that will be rejected are collected too: a
    dictionary entry nobody uses costs nothing.
    """
    for c in columns if ENCODE else ():
        kind = _kind(c)
        if kind is None:
            continue
        if kind not in collected:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {values_table(kind)} (value VARCHAR)")
            collected.add(kind)
        scan(f"INSERT INTO {values_table(kind)} SELECT DISTINCT {c} FROM ({typed_select}) WHERE {c} IS NOT NULL")


def collected_values(columns: list[str], collected: set[str]) -> dict[str, str]:
    """column -> the relation of the values collected so far for its kind (a VARCHAR column
    `value`, every table's values of that kind): the columns of `columns` that have one."""
    kinds = {c: _kind(c) for c in columns}
    return {c: values_table(kind) for c, kind in kinds.items() if kind in collected}


def build(con, collected: set[str]) -> Storage:
    """The dictionaries and ENUM types from the collected values (`collected`: the kinds with a
    value list, `collect_values`); the value lists dropped."""
    storage = Storage()
    con.execute(f"CREATE TABLE {ENUM_VALUES_TABLE} (kind VARCHAR, value VARCHAR)")
    for column, kind in KEYED_COLUMNS.items():  # one column per kind of id
        if kind not in collected:
            continue
        con.execute(
            f"CREATE TABLE {keys_table(kind)} AS SELECT value AS id, "
            f"CAST(row_number() OVER (ORDER BY value) AS {KEY_TYPE}) AS key "
            f"FROM (SELECT DISTINCT value FROM {values_table(kind)})"
        )
        storage.keyed[column] = kind
    for column, kind in ENUM_COLUMNS.items():
        if kind not in collected:
            continue
        con.execute(
            f"INSERT INTO {ENUM_VALUES_TABLE} SELECT $kind, value FROM (SELECT DISTINCT value FROM {values_table(kind)})",
            {"kind": kind},
        )
        count = con.execute(f"SELECT count(*) FROM {ENUM_VALUES_TABLE} WHERE kind = $kind", {"kind": kind}).fetchone()[0]
        if count > MAX_ENUM_VALUES:
            con.execute(f"DELETE FROM {ENUM_VALUES_TABLE} WHERE kind = $kind", {"kind": kind})
            continue
        create_enum(con, kind, f"SELECT value FROM {ENUM_VALUES_TABLE} WHERE kind = '{kind}'")
        storage.enums[column] = enum_type(kind)
    for kind in collected:
        con.execute(f"DROP TABLE {values_table(kind)}")
    return storage


def create_enum(con, kind: str, values_select: str) -> None:
    """`<kind>_enum` with the values of `values_select` (one VARCHAR column), in sort order.

    Values never become SQL text: the type is made from a query over a table holding them.
    """
    con.execute(f"CREATE TYPE {enum_type(kind)} AS ENUM ({values_select} ORDER BY 1)")


def readable_sql(con, table: str, columns: list[str] | None = None) -> str:
    """SELECT of `table` with every keyed id as its text and every label as VARCHAR: the rows
    as the source gave them (`columns`, or every column of the loaded table, in its order)."""
    database = con.execute("SELECT current_database()").fetchone()[0]
    described = dict(con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = $d AND schema_name = 'main' "
        "AND table_name = $t ORDER BY column_index", {"d": database, "t": table}).fetchall())
    # (a source restarted from its validated copy holds views of the copy's tables: cache.py)
    tables = {name for (name,) in con.execute(
        "SELECT DISTINCT table_name FROM duckdb_columns() WHERE database_name = $d AND schema_name = 'main'",
        {"d": database}).fetchall()}
    items, joins = [], []
    for name in columns or list(described):
        data_type, kind = described[name], KEYED_COLUMNS.get(name)
        if kind and data_type == KEY_TYPE and keys_table(kind) in tables:
            items.append(f"_k_{name}.id AS {name}")
            joins.append(f"LEFT JOIN {_qualified(database, keys_table(kind))} AS _k_{name} ON _k_{name}.key = _t.{name}")
        elif data_type.startswith("ENUM"):
            items.append(f"CAST(_t.{name} AS VARCHAR) AS {name}")
        else:
            items.append(f"_t.{name}")
    return f"SELECT {', '.join(items)} FROM {_qualified(database, table)} AS _t {' '.join(joins)}"


def _qualified(database: str, table: str) -> str:
    # The database's name is DuckDB's ("memory", or a file's stem); table names are ours.
    return '"' + database.replace('"', '""') + '".main.' + table
