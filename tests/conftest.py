"""Tiny hand-written data sources for the tests.

`make_source({"events": [...rows...], "orders": [...]})` writes one CSV per table (every value
as text, exactly as written in the test) into a fresh folder and loads it like a user's source.
"""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from dashboard.engine.context import MetricContext
from dashboard.engine.params import Params
from dashboard.engine.source import Source, load_source

# A fixed "now" keeps the future-timestamp rule independent of the day the tests run.
TEST_NOW = dt.datetime(2026, 11, 1)


def write_source(folder: Path, tables: dict[str, list[dict]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for table, rows in tables.items():
        columns: list[str] = []
        for row in rows:
            columns += [c for c in row if c not in columns]
        with open(folder / f"{table}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return folder


@pytest.fixture
def make_source(tmp_path):
    counter = iter(range(1_000_000))

    def _make(tables: dict[str, list[dict]], now: dt.datetime = TEST_NOW) -> Source:
        return load_source(write_source(tmp_path / f"source{next(counter)}", tables), now=now)

    return _make


def compute(source: Source, table: str, **params):
    """One metric table of `source` with the given parameters, as a DataFrame."""
    from dashboard.engine.metrics import compute_table

    return compute_table(table, MetricContext(source, Params(**params)))


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """The default demo marketplace (20k users, 26 weeks), generated once per test run."""
    from dashboard.engine.demo import generate

    folder = tmp_path_factory.mktemp("demo")
    generate(folder)
    return folder


@pytest.fixture(scope="session")
def demo_source(demo_dir):
    return load_source(demo_dir, now=TEST_NOW)


@pytest.fixture(scope="session", autouse=True)
def validated_copies(tmp_path_factory):
    """Validated copies of the sources the tests load through the CLI and the pages
    (dashboard/engine/cache.py) go to a folder of the test run, never to the user's cache."""
    folder = tmp_path_factory.mktemp("validated-copies")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECDASH_VALIDATED_CACHE", str(folder))
        yield folder
