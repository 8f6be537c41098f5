"""Read the SQL files under queries/ and run them with bound parameters.

Values never become SQL text: every `$name` in a query is bound from a dict. Only the
names a query actually uses are passed, because DuckDB rejects surplus parameters.
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


@functools.lru_cache(maxsize=None)
def query_text(name: str) -> str:
    """The SQL of `queries/<name>.sql`, e.g. `metrics/buyer_weekly`."""
    path = QUERIES_DIR / f"{name}.sql"
    return path.read_text(encoding="utf-8")


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
    return cursor.execute(sql, bind(sql, params or {})).df()


def run_file(cursor: duckdb.DuckDBPyConnection, name: str, params: dict | None = None) -> pd.DataFrame:
    return run(cursor, query_text(name), params)


def execute(cursor: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> None:
    """Run a statement that returns nothing of interest (CREATE ... AS, SET ...)."""
    cursor.execute(sql, bind(sql, params or {}))
