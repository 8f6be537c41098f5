"""A metric run: one cursor, one set of parameters, staging tables built once and shared.

Staging queries (`queries/staging/stg_*.sql`) become tables the first time a metric needs
them; each file names the staging tables it reads in a `Depends:` line of its header, so the
order is derived, not maintained by hand.

Where a staging table lives depends on what it reads:
- A table that depends on neither the block nor the date filter (derived from the `$names` its
  SQL and its dependencies read: today `stg_tz`, `stg_clicks`, `stg_lines`, `stg_touches`,
  `stg_sessions`, `stg_activity_all`) is built once per source and per value of the parameters it
  reads (time zone, platform, window), kept in the source's database and shared by every later
  run: a filter change on a page then rebuilds only what the filter touches.
- The rest are temporary tables of the run's cursor, dropped with it.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
import weakref
from typing import TYPE_CHECKING

import pandas as pd

from dashboard.engine import sql
from dashboard.engine.params import Params

if TYPE_CHECKING:  # (the Spark engine runs the metric modules without DuckDB)
    from dashboard.engine.source import Source

_DEPENDS = re.compile(r"^--.*Depends:\s*([a-z_, ]+)", re.MULTILINE)

# Filters a user changes from one page view to the next: a staging table reading one of these
# would pile up a copy per selection, so it stays private to its run.
_FAST_CHANGING = frozenset({"blocks", "start_week", "end_week"})
# Bound on shared copies of one staging table (one per time zone × platform × window in use);
# past it a run builds its own temporary copy instead of evicting one another run may be reading.
MAX_SHARED_VERSIONS = 6


class Unavailable(Exception):
    """A metric table cannot be computed from this source; the message says why, in a sentence."""


class MetricContext:
    def __init__(self, source: Source, params: Params | None = None):
        self.source = source
        self.params = params or Params()
        self.cursor = source.cursor()
        self._bound = self.params.sql()
        self._staged: set[str] = set()

    def require(self, *tables: str, why: str) -> None:
        """Raise Unavailable unless every table is in the source."""
        missing = [t for t in tables if not self.source.has(t)]
        if missing:
            names = ", ".join(f"'{t}'" for t in missing)
            raise Unavailable(f"{why} needs the {names} table{'s' if len(missing) > 1 else ''}, which the source does not have.")

    def stage(self, name: str) -> None:
        """Make staging table `name` (and what it depends on) readable by this run's cursor."""
        if name in self._staged:
            return
        text = sql.query_text(f"staging/{name}")
        for dependency in staging_dependencies(text):
            self.stage(dependency)
        # `name` is a file name from this repository, never user input.
        shared = shared_staging(self.source).table(self, name, text) if is_shareable(name) else None
        if shared is None:
            sql.execute(self.cursor, f"CREATE OR REPLACE TEMP TABLE {name} AS\n{text}", self._bound)
        else:
            self.cursor.execute(f'CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM main."{shared}"')
        self._staged.add(name)

    def query(self, name: str, **extra) -> pd.DataFrame:
        """Run `queries/metrics/<name>.sql` after building the staging tables it reads."""
        text = sql.query_text(f"metrics/{name}")
        for dependency in staging_dependencies(text):
            self.stage(dependency)
        return sql.run(self.cursor, text, {**self._bound, **extra})

    def close(self) -> None:
        self.cursor.close()


def staging_dependencies(text: str) -> list[str]:
    names: list[str] = []
    for match in _DEPENDS.finditer(text):
        names += [n.strip() for n in match.group(1).split(",") if n.strip()]
    return names


@functools.cache
def staging_parameters(name: str) -> frozenset[str]:
    """The `$names` a staging table's SQL and everything it depends on read."""
    text = sql.query_text(f"staging/{name}")
    names = set(sql.parameter_names(text))
    for dependency in staging_dependencies(text):
        names |= staging_parameters(dependency)
    return frozenset(names)


def is_shareable(name: str) -> bool:
    return not staging_parameters(name) & _FAST_CHANGING


class SharedStaging:
    """The shared staging tables of one source: `(name, parameter values) -> table name`."""

    def __init__(self):
        self._tables: dict[tuple, str] = {}
        self._lock = threading.Lock()  # one build of a given table at a time, across sessions

    def table(self, ctx: MetricContext, name: str, text: str) -> str | None:
        """The shared table holding `name` for the run's parameters, built on first use;
        None when this staging table already has its maximum of shared copies."""
        values = {p: ctx._bound[p] for p in sorted(staging_parameters(name))}
        key = (name, json.dumps(values, default=str, sort_keys=True))
        with self._lock:
            found = self._tables.get(key)
            if found is not None:
                return found
            if sum(1 for (n, _) in self._tables if n == name) >= MAX_SHARED_VERSIONS:
                return None
            digest = hashlib.sha256(key[1].encode()).hexdigest()[:12]
            table = f"_staged_{name}_{digest}"
            # The text reads its dependencies by their plain names, which the run's cursor
            # resolves to its own views of them. A failed or interrupted build registers nothing.
            sql.execute(ctx.cursor, f'CREATE OR REPLACE TABLE main."{table}" AS\n{text}', ctx._bound)
            self._tables[key] = table
            return table

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._tables.values())

    def drop_all(self, cursor) -> None:
        """Forget and drop every shared table (for measurements that must start cold; no run
        may be using them)."""
        with self._lock:
            for table in self._tables.values():
                cursor.execute(f'DROP TABLE IF EXISTS main."{table}"')
            self._tables.clear()


_SHARED: weakref.WeakKeyDictionary[Source, SharedStaging] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def shared_staging(source: Source) -> SharedStaging:
    """The source's shared staging tables (they live and die with its database)."""
    with _SHARED_LOCK:
        found = _SHARED.get(source)
        if found is None:
            found = _SHARED[source] = SharedStaging()
        return found
