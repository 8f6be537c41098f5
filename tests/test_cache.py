"""Validated copies (dashboard/engine/cache.py): a second load of an unchanged source is served from
its copy, with the same tables and the same report as a fresh load; any change of a file, of the
code or the wish to check again (`--reload`, the Data page's button) loads the files anew; a
broken copy is a warning and is rebuilt; the served database is as sealed as a fresh one.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import TEST_NOW, write_source
from dashboard.engine import cache
from dashboard.engine import settings as settings_module
from dashboard.engine.contract import TABLES
from dashboard.engine.source import SourceError, load_source

REPO = Path(__file__).resolve().parents[1]


def ev(event_id, ts="2026-03-02 09:00:00", user="u1", event_type="app_open", **extra):
    return {"event_id": event_id, "ts": ts, "user_id": user, "event_type": event_type, **extra}


# A source with something in every part of the report. events.csv, 6 data rows:
#   e1, e2 load; e3 has ts "yesterday" (not a timestamp); e4 has no user_id (missing value);
#   e5 is an exact copy of e1 (merged once); e6 loads. -> read 6, loaded 3, rejected 2, merged 1.
# The extra column `note` is ignored, with a note in the report.
# orders.csv: o1 loads, o2 has price -5 (negative amount) -> read 2, loaded 1, rejected 1.
EVENTS = [
    ev("e1", event_type="impression", item_id="i1", block="home", note="x"),
    ev("e2", event_type="click", item_id="i1", block="home", ts="2026-03-02 09:01:00", note="x"),
    ev("e3", ts="yesterday", note="x"),
    ev("e4", user="", note="x"),
    ev("e1", event_type="impression", item_id="i1", block="home", note="x"),
    ev("e6", user="u2", ts="2026-03-03 10:00:00", note="x"),
]
ORDERS = [
    {"order_id": "o1", "item_id": "i1", "ts": "2026-03-02 10:00:00", "user_id": "u1", "price": "10.5", "quantity": "2"},
    {"order_id": "o2", "item_id": "i1", "ts": "2026-03-02 11:00:00", "user_id": "u2", "price": "-5", "quantity": "1"},
]


def settings_for(tmp_path, storage="memory", **extra):
    environ = {"RECDASH_VALIDATED_CACHE": str(tmp_path / "copies"), "RECDASH_TEMP_DIR": str(tmp_path / "spill"),
               "RECDASH_STORAGE": storage, **extra}
    return settings_module.current(environ, cwd=tmp_path)


@pytest.fixture
def source_dir(tmp_path):
    return write_source(tmp_path / "src", {"events": EVENTS, "orders": ORDERS})


def load(path, settings, now=TEST_NOW, **kwargs):
    """cache.load, once the copy it may write in the background is written; what it said."""
    said: list[str] = []
    source = cache.load(path, now, settings=settings, say=said.append, **kwargs)
    cache.wait()
    return source, said


def assert_same_source(fresh, cached):
    """Every table (rows in order, column types) and every report field are the fresh load's."""
    assert cached.tables == fresh.tables  # TableReport dataclasses: counts, problems, examples, notes
    assert cached.loaded_at == fresh.loaded_at and cached.path == fresh.path
    for table in TABLES:
        assert cached.con.execute(f"DESCRIBE {table}").fetchall() == fresh.con.execute(f"DESCRIBE {table}").fetchall()
        pd.testing.assert_frame_equal(cached.con.execute(f"SELECT * FROM {table}").df(),
                                      fresh.con.execute(f"SELECT * FROM {table}").df(), check_exact=True)


@pytest.mark.parametrize("storage", ["memory", "disk"])
def test_second_load_is_served_from_the_copy_with_identical_tables_and_reports(source_dir, tmp_path, storage):
    settings = settings_for(tmp_path, storage)
    first, said_first = load(source_dir, settings)
    assert not cache.status(first).from_copy
    assert said_first[0].startswith("loaded and validated in")
    assert said_first[0].endswith("(no validated copy yet); writing a validated copy in the background")
    copy = cache.copy_path(source_dir, settings)
    assert said_first[1].startswith(f"kept a validated copy in {copy} (written in ") and len(said_first) == 2
    assert cache.status(first).copy == copy and copy.stat().st_mode & 0o777 == 0o600
    second, said = load(source_dir, settings, now=TEST_NOW + dt.timedelta(hours=5))
    assert said == ["using the validated copy from 2026-11-01 00:00:00 UTC"]
    assert cache.status(second).from_copy and cache.status(second).validated_at == TEST_NOW
    assert_same_source(load_source(source_dir, now=TEST_NOW), second)
    assert_same_source(first, second)
    # The report is the one worked out above, not merely equal to itself.
    events, orders = second.tables["events"], second.tables["orders"]
    assert (events.rows_read, events.rows_loaded, events.rows_rejected, events.duplicates_merged) == (6, 3, 2, 1)
    assert sorted((p.column, p.reason, p.rows, p.examples) for p in events.problems) == [
        ("ts", "not a timestamp", 1, [3]), ("user_id", "missing value", 1, [4])]
    assert any("note" in n for n in events.notes)
    assert [(p.column, p.reason, p.rows, p.examples) for p in orders.problems] == [("price", "negative amount", 1, [2])]
    assert second.readable_cursor().execute("SELECT list(event_id ORDER BY _row) FROM events").fetchone()[0] == ["e1", "e2", "e6"]


def test_the_source_from_a_copy_is_sealed(source_dir, tmp_path):
    settings = settings_for(tmp_path)
    load(source_dir, settings)
    source, _ = load(source_dir, settings)
    assert cache.status(source).from_copy
    copy = cache.copy_path(source_dir, settings)
    cursor = source.cursor()
    values = dict(cursor.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN "
        "('enable_external_access', 'lock_configuration', 'autoload_known_extensions')").fetchall())
    assert values == {"enable_external_access": "false", "lock_configuration": "true",
                      "autoload_known_extensions": "false"}
    # The one file it may read is the copy it serves, attached read-only (DuckDB allows the
    # paths of attached databases, and their WAL names): nothing else can be opened.
    allowed = cursor.execute("SELECT value FROM duckdb_settings() WHERE name = 'allowed_paths'").fetchone()[0]
    allowed = {Path(p) for p in allowed.strip("[]").split(", ")}
    assert allowed == {copy, *(copy.with_name(copy.name + suffix) for suffix in (".wal", ".wal.recovery", ".wal.checkpoint"))}
    for statement in (f"COPY events TO '{tmp_path}/leak.csv'", f"SELECT * FROM read_csv('{source_dir}/events.csv')",
                      f"ATTACH '{tmp_path / 'other.duckdb'}' AS other"):
        with pytest.raises(duckdb.PermissionException):
            cursor.execute(statement)
    # the copy cannot be written through the source: it is open read-only
    with pytest.raises(duckdb.Error):
        cursor.execute("CREATE TABLE validated_copy.planted AS SELECT 1")
    with pytest.raises(duckdb.InvalidInputException):
        cursor.execute("SET enable_external_access = true")
    assert not (tmp_path / "leak.csv").exists()


def _reloaded_because(path, settings) -> str:
    source, said = load(path, settings)
    assert not cache.status(source).from_copy, said
    return next(s for s in said if s.startswith("loaded and validated"))


def test_any_change_of_the_files_invalidates_the_copy(source_dir, tmp_path):
    settings = settings_for(tmp_path)
    load(source_dir, settings)
    events = source_dir / "events.csv"

    # Touched: same bytes, a new modification time.
    os.utime(events, ns=(events.stat().st_atime_ns, events.stat().st_mtime_ns + 1_000_000_000))
    assert "(events.csv changed)" in _reloaded_because(source_dir, settings)
    assert cache.status(load(source_dir, settings)[0]).from_copy

    # Changed in place, same size, modification time set back: the content hash sees it.
    info = events.stat()
    events.write_bytes(events.read_bytes().replace(b"e6,", b"e7,"))
    os.utime(events, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert events.stat().st_size == info.st_size
    assert "(events.csv changed)" in _reloaded_because(source_dir, settings)
    changed, _ = load(source_dir, settings)
    assert cache.status(changed).from_copy
    assert changed.readable_cursor().execute("SELECT list(event_id ORDER BY _row) FROM events").fetchone()[0] == ["e1", "e2", "e7"]

    # A table file added, then removed.
    write_source(tmp_path / "more", {"sellers": [{"seller_id": "s1", "joined_at": "2026-01-05"}]})
    (tmp_path / "more" / "sellers.csv").rename(source_dir / "sellers.csv")
    assert "(sellers.csv added)" in _reloaded_because(source_dir, settings)
    assert load(source_dir, settings)[0].has("sellers")
    (source_dir / "orders.csv").unlink()
    assert "(orders.csv removed)" in _reloaded_because(source_dir, settings)
    assert not load(source_dir, settings)[0].has("orders")


def test_a_parquet_rewrite_with_the_same_size_and_time_is_seen_in_its_footer(tmp_path):
    folder = tmp_path / "pq"
    folder.mkdir()
    # Two files of equal size whose data (and so footer statistics) differ: user u1 vs u2.
    frames = [pd.DataFrame({"event_id": ["e1"], "ts": [pd.Timestamp("2026-03-02 09:00")], "user_id": [u],
                            "event_type": ["app_open"]}) for u in ("u1", "u2")]
    frames[0].to_parquet(folder / "a.parquet", index=False)
    frames[1].to_parquet(folder / "b.parquet", index=False)
    assert (folder / "a.parquet").stat().st_size == (folder / "b.parquet").stat().st_size
    source = folder / "src"
    source.mkdir()
    (folder / "a.parquet").rename(source / "events.parquet")
    settings = settings_for(tmp_path)
    load(source, settings)
    info = (source / "events.parquet").stat()
    (folder / "b.parquet").replace(source / "events.parquet")
    os.utime(source / "events.parquet", ns=(info.st_atime_ns, info.st_mtime_ns))
    again, said = load(source, settings)
    assert "(events.parquet changed)" in said[0]
    assert again.readable_cursor().execute("SELECT user_id FROM events").fetchone()[0] == "u2"


def test_a_change_of_the_code_version_invalidates_every_copy(source_dir, tmp_path, monkeypatch):
    settings = settings_for(tmp_path)
    load(source_dir, settings)
    assert cache.status(load(source_dir, settings)[0]).from_copy
    monkeypatch.setattr(cache, "code_version", lambda: "validation rules of tomorrow")
    assert "(the loading code or the data contract changed since the copy was made)" in _reloaded_because(source_dir, settings)
    assert cache.status(load(source_dir, settings)[0]).from_copy  # rewritten under the new version


def test_the_code_version_covers_contract_and_every_file_of_the_source_package():
    engine = Path(cache.__file__).resolve().parent
    hashed = {f.relative_to(engine).as_posix() for f in cache.code_files()}
    package = {f.relative_to(engine).as_posix() for f in (engine / "source").rglob("*.py")}
    # loading.py: the CSV header, column mapping and report words the DuckDB loader shares with Spark's.
    assert {"contract.py", "loading.py", "cache.py"} | package <= hashed
    assert {"source/__init__.py", "source/rules.py", "source/read.py"} <= package
    assert len(cache.code_version()) == 64


def test_a_change_in_any_file_of_the_source_package_changes_the_code_version(tmp_path, monkeypatch):
    # A copy of the engine's hashed files, so that a file can be changed and one added.
    engine = Path(cache.__file__).resolve().parent
    copy = tmp_path / "engine"
    for file in cache.code_files():
        target = copy / file.relative_to(engine)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)
    monkeypatch.setattr(cache, "__file__", str(copy / "cache.py"))

    def version() -> str:
        cache.code_version.cache_clear()
        return cache.code_version()

    try:
        first = version()
        assert version() == first  # the same files, the same version
        with open(copy / "source" / "rules.py", "a") as f:
            f.write("# a rule changed\n")
        second = version()
        assert second != first
        (copy / "source" / "new_rule.py").write_text("RULE = 1\n")  # a file added to the package
        third = version()
        assert third != second
        with open(copy / "loading.py", "a") as f:  # the part shared with the Spark loader
            f.write("# a header rule changed\n")
        assert version() != third
    finally:
        cache.code_version.cache_clear()


def test_reload_validates_again_and_rewrites_the_copy(source_dir, tmp_path):
    settings = settings_for(tmp_path)
    load(source_dir, settings)
    reloaded, said = load(source_dir, settings, now=TEST_NOW + dt.timedelta(days=1), reload=True)
    assert not cache.status(reloaded).from_copy and "(asked to check the files again)" in said[0]
    assert reloaded.loaded_at == TEST_NOW + dt.timedelta(days=1)
    _, said = load(source_dir, settings, now=TEST_NOW + dt.timedelta(days=2))
    assert said == ["using the validated copy from 2026-11-02 00:00:00 UTC"]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_broken_copy_is_a_warning_and_is_rebuilt(source_dir, tmp_path, damage):
    settings = settings_for(tmp_path)
    load(source_dir, settings)
    copy = cache.copy_path(source_dir, settings)
    data = copy.read_bytes()
    copy.write_bytes({"garbage": b"not a database" * 1000, "truncated": data[: len(data) // 3], "empty": b""}[damage])
    source, said = load(source_dir, settings)
    assert not cache.status(source).from_copy
    assert said[0].startswith(f"warning: the validated copy {copy} could not be read (")
    assert said[0].endswith("); loading the source again and rewriting it")
    assert cache.status(source).warnings and source.tables["events"].rows_loaded == 3
    again, said = load(source_dir, settings)
    assert cache.status(again).from_copy and said == ["using the validated copy from 2026-11-01 00:00:00 UTC"]
    assert_same_source(source, again)


def test_a_copy_that_cannot_be_written_is_a_warning(source_dir, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    settings = settings_for(tmp_path, RECDASH_VALIDATED_CACHE=str(blocker / "copies"))
    source, said = load(source_dir, settings)
    assert source.tables["events"].rows_loaded == 3
    assert any(s.startswith(f"warning: the validated copy {blocker / 'copies'}") and "could not be written" in s for s in said)


def test_rows_rejected_as_future_keep_no_copy(tmp_path):
    # At TEST_NOW (2026-11-01) the limit is 2026-11-02 00:00: e2 at 2026-11-05 is rejected as future.
    # Four days later it would load, so the result depends on the time of loading: no copy.
    folder = write_source(tmp_path / "future", {"events": [ev("e1"), ev("e2", ts="2026-11-05 00:00:00")]})
    settings = settings_for(tmp_path)
    source, said = load(folder, settings)
    assert [p.reason for p in source.tables["events"].problems] == ["more than a day in the future"]
    assert "; not kept as a validated copy: rows of events.ts were rejected as in the future" in said[-1]
    assert len(said) == 1
    assert not cache.copy_path(folder, settings).exists()
    later, _ = load(folder, settings, now=TEST_NOW + dt.timedelta(days=4))
    assert later.tables["events"].rows_loaded == 2 and not cache.status(later).from_copy


def test_a_copy_is_not_used_for_an_earlier_time(source_dir, tmp_path):
    settings = settings_for(tmp_path)
    load(source_dir, settings)
    earlier, said = load(source_dir, settings, now=TEST_NOW - dt.timedelta(days=1))
    assert not cache.status(earlier).from_copy
    assert "(the copy was validated later than the time of this load)" in said[0]


def test_the_cache_can_be_switched_off(source_dir, tmp_path):
    settings = settings_for(tmp_path, RECDASH_VALIDATED_CACHE="off")
    assert settings.validated_cache_dir is None
    source, said = load(source_dir, settings)
    assert said == [] and cache.status(source) is None and not (tmp_path / "copies").exists()


def test_default_folder_is_beside_the_demo_cache_not_inside(tmp_path):
    got = settings_module.current({"RECDASH_CACHE": str(tmp_path / "c")}, cwd=tmp_path)
    assert got.validated_cache_dir == tmp_path / "c-validated"


def test_a_copy_never_bypasses_the_allowed_folders(tmp_path):
    # A table file that links outside the allowed folder: the command line (trusted) loads it and
    # keeps a copy; the Data page (allowed_dirs) is refused as by load_source, copy or not.
    outside = write_source(tmp_path / "outside", {"events": [ev("e1")]})
    allowed = tmp_path / "allowed"
    (allowed / "src").mkdir(parents=True)
    (allowed / "src" / "events.csv").symlink_to(outside / "events.csv")
    settings = settings_for(tmp_path)
    load(allowed / "src", settings)
    assert cache.copy_path(allowed / "src", settings).exists()
    with pytest.raises(SourceError, match="is a link to a file outside the folders this server may read"):
        cache.load(allowed / "src", TEST_NOW, settings=settings, allowed_dirs=(allowed,))


def test_two_processes_loading_at_once_leave_a_good_copy(source_dir, tmp_path):
    code = (
        "import datetime as dt, sys\n"
        "from dashboard.engine import cache\n"
        "s = cache.load(sys.argv[1], dt.datetime(2026, 11, 1))\n"
        "print(s.tables['events'].rows_loaded, cache.status(s).from_copy)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "RECDASH_VALIDATED_CACHE": str(tmp_path / "copies")}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(source_dir)], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert all(out.split()[0] == "3" for out, _ in outputs)
    assert not [f for f in (tmp_path / "copies").iterdir() if f.name.startswith(".writing-")]
    source, said = load(source_dir, settings_for(tmp_path))
    assert cache.status(source).from_copy, said
    assert_same_source(load_source(source_dir, now=TEST_NOW), source)


# --- the command line -------------------------------------------------------------------------

def test_cli_uses_the_copy_and_reload_forces_a_new_validation(source_dir, tmp_path, monkeypatch, capsys):
    from dashboard.__main__ import main

    monkeypatch.setenv("RECDASH_VALIDATED_CACHE", str(tmp_path / "copies"))
    assert main(["validate", str(source_dir)]) == 0
    fresh = capsys.readouterr()
    assert "kept a validated copy" in fresh.err
    assert main(["validate", str(source_dir)]) == 0
    cached = capsys.readouterr()
    assert "using the validated copy from" in cached.err
    assert cached.out == fresh.out  # the whole printed report, rejected rows and warnings included
    assert "not a timestamp: 1 rows (e.g. rows 3)" in cached.out
    assert main(["validate", "--reload", str(source_dir)]) == 0
    again = capsys.readouterr()
    assert "(asked to check the files again)" in again.err and "using the validated copy" not in again.err

    out1, out2 = tmp_path / "out1", tmp_path / "out2"
    assert main(["export", "--data", str(source_dir), "--out", str(out1)]) == 0
    assert "using the validated copy from" in capsys.readouterr().err
    assert main(["export", "--reload", "--data", str(source_dir), "--out", str(out2)]) == 0
    assert "using the validated copy" not in capsys.readouterr().err
    assert sorted(p.name for p in out1.iterdir()) == sorted(p.name for p in out2.iterdir())
    for file in out1.glob("*.csv"):
        assert file.read_bytes() == (out2 / file.name).read_bytes(), file.name
    assert main(["report", "--data", str(source_dir), "--out", str(tmp_path / "r.html")]) == 0
    assert "using the validated copy from" in capsys.readouterr().err


@pytest.mark.parametrize("storage", ["memory", "disk"])
def test_the_command_as_run_ends_with_its_copy_written_and_no_temp_folder_left(source_dir, tmp_path, storage):
    # The command as a user runs it (a process of its own, ended by __main__.end_process): no
    # connection's private temp folder is left (in disk storage it holds the tables' database
    # file), and the copy written in the background is complete before the process ends.
    env = {**os.environ, "PYTHONPATH": str(REPO), "RECDASH_VALIDATED_CACHE": str(tmp_path / "copies"),
           "RECDASH_TEMP_DIR": str(tmp_path / "spill"), "RECDASH_STORAGE": storage}
    command = [sys.executable, "-m", "dashboard", "export", "--data", str(source_dir)]
    first = subprocess.run([*command, "--out", str(tmp_path / "out1")], env=env, cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "kept a validated copy" in first.stderr
    assert list((tmp_path / "spill").iterdir()) == []
    assert [f.suffix for f in (tmp_path / "copies").iterdir()] == [".duckdb"]
    second = subprocess.run([*command, "--out", str(tmp_path / "out2")], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "using the validated copy from" in second.stderr
    assert list((tmp_path / "spill").iterdir()) == []
    assert (tmp_path / "out1" / "buyer_weekly.csv").read_bytes() == (tmp_path / "out2" / "buyer_weekly.csv").read_bytes()


def test_ending_the_process_still_runs_the_finalizers_of_objects_left_in_a_cycle():
    # end_process freezes every object before the interpreter's shutdown, so a cycle is never
    # collected; its weakref.finalize callbacks (how every connection's temp folder is removed)
    # must run at exit all the same.
    code = (
        "import weakref\n"
        "from dashboard.__main__ import end_process\n"
        "class Held: pass\n"
        "held = Held(); held.itself = held\n"
        "weakref.finalize(held, print, 'finalized', flush=True)\n"
        "del held\n"
        "end_process(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (3, "finalized\n"), done.stderr


# --- the Data page --------------------------------------------------------------------------------

def test_data_page_says_where_the_source_came_from_and_its_button_reloads(source_dir, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from dashboard.ui.source import open_source

    monkeypatch.setenv("RECDASH_VALIDATED_CACHE", str(tmp_path / "copies"))
    monkeypatch.setenv("RECDASH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "argv", ["app.py", "--data", str(source_dir)])

    def data_page() -> AppTest:
        at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=120)
        at.switch_page("views/data.py")
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    def caption(at) -> str:
        return next(c.value for c in at.caption if "validat" in c.value).replace("\\", "")  # Markdown escapes

    open_source.clear()
    at = data_page()
    assert caption(at) == "Loaded and validated when it was opened (no validated copy yet)."
    open_source.clear()  # a restart of the server: the loaded source is gone, the copy is not
    at = data_page()
    assert caption(at).startswith("Using the validated copy from")
    at.button(key="source_reload").click()
    at.run()
    assert not at.exception
    assert caption(at) == "Loaded and validated when it was opened (asked to check the files again)."
    open_source.clear()
    assert caption(data_page()).startswith("Using the validated copy from")
    open_source.clear()


def test_data_page_refuses_to_open_the_validated_copies(source_dir, tmp_path, monkeypatch):
    from dashboard.ui.source import check_path

    copies = tmp_path / "copies"
    monkeypatch.setenv("RECDASH_VALIDATED_CACHE", str(copies))
    monkeypatch.setenv("RECDASH_ALLOWED_DIRS", str(tmp_path))
    load(source_dir, settings_for(tmp_path))
    copy = next(copies.glob("source-*.duckdb"))
    candidate = check_path(str(copy))
    assert candidate["path"] is None
    assert candidate["problems"] == [f"{copy}: the server's validated copies are not a source"]


def test_unused_copies_and_dead_writers_scratch_files_are_removed(source_dir, tmp_path):
    # Copies unused for more than 30 days and a dead writer's scratch file older than a day go
    # when a copy is written; a copy used 29 days ago and a scratch file of an hour ago stay.
    copies = tmp_path / "copies"
    copies.mkdir()
    now = time.time()
    ages = {"source-old.duckdb": 31 * 86400, "source-recent.duckdb": 29 * 86400,
            ".writing-dead.duckdb": 2 * 86400, ".writing-busy.duckdb": 3600}
    for name, age in ages.items():
        (copies / name).write_bytes(b"x")
        os.utime(copies / name, (now - age, now - age))
    load(source_dir, settings_for(tmp_path))
    left = sorted(f.name for f in copies.iterdir())
    assert left == sorted([".writing-busy.duckdb", "source-recent.duckdb",
                           cache.copy_path(source_dir, settings_for(tmp_path)).name])
