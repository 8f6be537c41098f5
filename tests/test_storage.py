"""RECDASH_STORAGE=disk keeps a loaded source in a temporary compressed DuckDB file.

Same tables and same metric results as in memory; the file is the source's own and goes when
the source does; a wrong value is an error naming the variable.
"""
from __future__ import annotations

import datetime as dt
import gc

import pandas as pd
import pytest

from conftest import TEST_NOW, compute
from dashboard.engine import settings as settings_module
from dashboard.engine.demo import generate
from dashboard.engine.settings import SettingsError
from dashboard.engine.source import load_source

NOW = TEST_NOW + dt.timedelta(days=60)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("storage-demo")
    generate(folder, users=300, weeks=6, seed=2)
    return folder


def _settings(tmp_path, storage: str):
    return settings_module.current({"RECDASH_STORAGE": storage, "RECDASH_TEMP_DIR": str(tmp_path / "spill")},
                                   cwd=tmp_path)


def test_storage_setting_is_checked(tmp_path):
    assert _settings(tmp_path, "disk").storage == "disk"
    assert _settings(tmp_path, " Memory ").storage == "memory"
    assert settings_module.current({}, cwd=tmp_path).storage == "memory"
    with pytest.raises(SettingsError, match="RECDASH_STORAGE must be one of memory, disk, got 'ssd'"):
        _settings(tmp_path, "ssd")


def test_disk_storage_loads_the_same_tables_and_results(demo, tmp_path):
    in_memory = load_source(demo, now=NOW, settings=_settings(tmp_path, "memory"))
    on_disk = load_source(demo, now=NOW, settings=_settings(tmp_path, "disk"))
    path = on_disk.con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()[0]
    assert path.endswith("tables.duckdb") and str(tmp_path / "spill") in path
    for table in ("events", "orders", "items"):
        query = f"SELECT * FROM {table} ORDER BY ALL"
        pd.testing.assert_frame_equal(on_disk.con.execute(query).df(), in_memory.con.execute(query).df())
    for name in ("buyer_weekly", "business_weekly", "seller_weekly"):
        pd.testing.assert_frame_equal(compute(on_disk, name), compute(in_memory, name))
    assert [r.rows_loaded for r in on_disk.tables.values()] == [r.rows_loaded for r in in_memory.tables.values()]


def test_the_temporary_database_goes_with_its_source(demo, tmp_path):
    source = load_source(demo, now=NOW, settings=_settings(tmp_path, "disk"))
    folders = list((tmp_path / "spill").glob("source-*"))
    assert len(folders) == 1 and (folders[0] / "tables.duckdb").is_file()
    source.con.close()
    del source
    gc.collect()
    assert not folders[0].exists()
