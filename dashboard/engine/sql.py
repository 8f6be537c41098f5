"""Read the SQL files under queries/ and run them with bound parameters.

Values never become SQL text: every `$name` in a query is bound from a dict. Only the
names a query actually uses are passed, because DuckDB rejects surplus parameters.

A query may call a macro of queries/macros/ (`local_ts(e.ts)`): it is expanded here, when the
file is read, so that every reader (DuckDB, and the Spark translation of the same text) gets
plain SQL. A macro's argument is a column name, never a value.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # (the Spark engine reads query_text without DuckDB)
    import duckdb

QUERIES_DIR = Path(__file__).resolve().parents[2] / "queries"

# `$name` outside of string literals and comments; our SQL files keep `$` out of both.
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


MACROS = ("local_ts",)
# A macro call: its name and one (qualified) column name as the argument.
_MACRO_CALL = re.compile(r"\b(" + "|".join(MACROS) + r")\(\s*([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?)\s*\)")


@functools.lru_cache(maxsize=None)
def query_text(name: str) -> str:
    """The SQL of `queries/<name>.sql`, e.g. `metrics/buyer_weekly`, with its macros expanded."""
    path = QUERIES_DIR / f"{name}.sql"
    return expand_macros(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def macro_body(name: str) -> str:
    """The expression of `queries/macros/<name>.sql`, its comment lines left out."""
    text = (QUERIES_DIR / "macros" / f"{name}.sql").read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("--"))


def expand_macros(sql: str) -> str:
    """`local_ts(e.ts)` → `(case when $tz = 'UTC' then e.ts else … end)`, in code, not in comments."""
    def expand(line: str) -> str:
        code, dashes, comment = line.partition("--")
        code = _MACRO_CALL.sub(lambda m: "(" + macro_body(m.group(1)).replace("{ts}", m.group(2)) + ")", code)
        return code + dashes + comment

    return "\n".join(expand(line) for line in sql.split("\n"))


def parameter_names(sql: str) -> set[str]:
    return set(_PARAM.findall(_strip_comments(sql)))


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def bind(sql: str, params: dict) -> dict:
    """The subset of `params` that `sql` refers to; a missing one is a programming error."""
    needed = parameter_names(sql)
    missing = needed - params.keys()
    if missing:
        raise KeyError(f"query needs parameters {sorted(missing)} that were not given")
    return {name: params[name] for name in needed}


def run(cursor: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> pd.DataFrame:
    """Run one SELECT and return its result as a DataFrame."""
    return plain_text(cursor.execute(sql, bind(sql, params or {})).df())


def plain_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Labels stored as ENUMs (block, model_version, …: source/keys.py) come out of DuckDB as
    pandas categoricals; every reader of a metric table gets them as the text they are."""
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(frame[column].cat.categories.dtype)
    return frame


def run_file(cursor: duckdb.DuckDBPyConnection, name: str, params: dict | None = None) -> pd.DataFrame:
    return run(cursor, query_text(name), params)


def execute(cursor: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> None:
    """Run a statement that returns nothing of interest (CREATE ... AS, SET ...)."""
    cursor.execute(sql, bind(sql, params or {}))
