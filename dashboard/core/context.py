"""A metric run: one cursor, one set of parameters, staging tables built once and shared.

Staging queries (`queries/staging/stg_*.sql`) become temporary tables of the run's cursor
the first time a metric needs them; each file names the staging tables it reads in a
`Depends:` line of its header, so the order is derived, not maintained by hand.
"""
from __future__ import annotations

import re

import pandas as pd

from dashboard.core import sql
from dashboard.core.params import Params
from dashboard.core.source import Source

_DEPENDS = re.compile(r"^--.*Depends:\s*([a-z_, ]+)", re.MULTILINE)


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
        """Materialise staging table `name` (and what it depends on) once per run."""
        if name in self._staged:
            return
        text = sql.query_text(f"staging/{name}")
        for dependency in staging_dependencies(text):
            self.stage(dependency)
        # `name` is a file name from this repository, never user input.
        sql.execute(self.cursor, f"CREATE OR REPLACE TEMP TABLE {name} AS\n{text}", self._bound)
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
