"""The serving database's sandbox, the query time limit, the path allow-list and the settings.

After loading, the in-memory database needs no file: it cannot read or write files other than
the source's own, install or load extensions, or change its configuration (memory, threads,
any of these switches). A runaway query is interrupted after the configured time while other
sessions' cursors keep answering.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import duckdb
import pytest

from conftest import TEST_NOW, compute, write_source
from dashboard.engine import settings as settings_module
from dashboard.engine.guard import PathRefused, QueryTimeout, allowed_path, is_inside, time_limit
from dashboard.engine.settings import Settings, SettingsError
from dashboard.engine.source import load_source

SANDBOX = {
    "enable_external_access": "false",
    "autoinstall_known_extensions": "false",
    "autoload_known_extensions": "false",
    "lock_configuration": "true",
}
RUNAWAY = "select count(*) from range(1000000000000) t(a) where a % 7 = 3"


def ev(event_id, ts="2026-03-02 09:00:00", user="u1", event_type="app_open", **extra):
    return {"event_id": event_id, "ts": ts, "user_id": user, "event_type": event_type, **extra}


@pytest.fixture
def limits(tmp_path) -> Settings:
    return Settings(allowed_dirs=(tmp_path,), memory_limit="512MB", threads=2, query_timeout_s=1.0,
                    temp_dir=tmp_path / "spill")


@pytest.fixture
def source(tmp_path, limits):
    folder = write_source(tmp_path / "src", {"events": [
        ev("e1", event_type="impression", item_id="i1", block="home"),
        ev("e2", event_type="click", item_id="i1", block="home", ts="2026-03-02 09:01:00"),
    ]})
    return load_source(folder, now=TEST_NOW, settings=limits)


def setting(con, name: str) -> str:
    return con.execute("select value from duckdb_settings() where name = $n", {"n": name}).fetchone()[0]


def test_every_sandbox_setting_exists_in_this_duckdb():
    con = duckdb.connect()
    names = {r[0] for r in con.execute("select name from duckdb_settings()").fetchall()}
    assert set(SANDBOX) | {"memory_limit", "threads", "temp_directory", "allowed_paths"} <= names


def test_the_loaded_database_is_sealed(source, tmp_path):
    cursor = source.cursor()
    for name, value in SANDBOX.items():
        assert setting(cursor, name) == value, name
    reference = duckdb.connect()
    reference.execute("SET memory_limit = '512MB'")
    assert setting(cursor, "memory_limit") == setting(reference, "memory_limit")
    assert setting(cursor, "threads") == "2"
    # Spilling goes to a private folder of this source's own under RECDASH_TEMP_DIR.
    spill = Path(setting(cursor, "temp_directory"))
    assert spill.name == "spill" and spill.parent.parent == tmp_path / "spill"
    assert spill.parent.name.startswith("source-") and spill.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("statement, error", [
    ("COPY events TO '{tmp}/leak.csv'", duckdb.PermissionException),
    ("COPY (SELECT 1) TO '{tmp}/leak.parquet' (FORMAT parquet)", duckdb.PermissionException),
    ("SELECT * FROM read_csv('/etc/passwd')", duckdb.PermissionException),
    ("SELECT * FROM read_text('/etc/hostname')", duckdb.PermissionException),
    ("SELECT * FROM 'https://example.com/data.csv'", duckdb.PermissionException),
    ("ATTACH '{tmp}/other.duckdb' AS other", duckdb.PermissionException),
    ("INSTALL httpfs", duckdb.PermissionException),
    ("LOAD httpfs", duckdb.PermissionException),
    ("SET enable_external_access = true", duckdb.InvalidInputException),
    ("SET lock_configuration = false", duckdb.InvalidInputException),
    ("RESET lock_configuration", duckdb.InvalidInputException),
    ("SET memory_limit = '100GB'", duckdb.InvalidInputException),
    ("SET threads = 64", duckdb.InvalidInputException),
    ("PRAGMA threads = 64", duckdb.InvalidInputException),
    ("SET allowed_directories = ['/']", duckdb.InvalidInputException),
])
def test_no_file_no_extension_no_reconfiguration_from_any_cursor(source, tmp_path, statement, error):
    cursor = source.cursor()
    with pytest.raises(error):
        cursor.execute(statement.format(tmp=tmp_path))
    assert not (tmp_path / "leak.csv").exists() and not (tmp_path / "leak.parquet").exists()
    assert not (tmp_path / "other.duckdb").exists()
    # ... and the cursor still answers afterwards.
    assert cursor.execute("select count(*) from events").fetchone()[0] == 2


def test_metrics_still_run_in_the_sandbox(source):
    weekly = compute(source, "buyer_weekly")
    assert weekly.loc[weekly.block == "home", "clicks"].tolist() == [1]


def test_loading_reads_only_the_source_files(tmp_path):
    """A .duckdb view reading another file fails while loading: the loader is sandboxed too."""
    other = tmp_path / "other.csv"
    other.write_text("event_id,ts,user_id,event_type\ne1,2026-03-02,u1,app_open\n")
    db = tmp_path / "views.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(f"create view events as select * from read_csv('{other}')")
    from dashboard.engine.source import SourceError

    with pytest.raises(SourceError, match="is a view that reads files outside the database"):
        load_source(db, now=TEST_NOW)


# --- the query time limit -----------------------------------------------------------------------

def test_a_runaway_query_is_interrupted_with_a_message(source):
    cursor = source.cursor()
    started = time.monotonic()
    with pytest.raises(QueryTimeout) as err:
        with time_limit(cursor, 0.5, what="buyer_weekly"):
            cursor.execute(RUNAWAY).fetchall()
    assert time.monotonic() - started < 10
    assert str(err.value) == (
        "buyer_weekly took longer than the limit of 0.5 s and was stopped, so that other users of this server are "
        "not slowed down. Narrow the filters (fewer weeks or blocks) and try again; an administrator can raise "
        "the limit with RECDASH_QUERY_TIMEOUT_S."
    )
    # The cursor is usable afterwards, and a quick statement under a limit is not disturbed.
    with time_limit(cursor, 5):
        assert cursor.execute("select count(*) from events").fetchone()[0] == 2


def test_no_limit_means_no_interrupt(source):
    cursor = source.cursor()
    for seconds in (None, 0):
        with time_limit(cursor, seconds):
            assert cursor.execute("select count(*) from range(1000)").fetchone()[0] == 1000


def test_the_limit_covers_every_statement_of_the_block(source):
    """Time already spent before a statement counts: the statement that starts after the limit
    is stopped too (an interrupt that fell between two statements is sent again)."""
    cursor = source.cursor()
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        with time_limit(cursor, 0.3):
            cursor.execute("select 1").fetchall()
            time.sleep(0.6)  # Python work of the block (e.g. building a DataFrame) beyond the limit
            cursor.execute(RUNAWAY).fetchall()
    assert time.monotonic() - started < 10


def test_an_interrupt_not_caused_by_the_limit_is_not_called_a_timeout(source):
    cursor = source.cursor()
    timer = threading.Timer(0.3, cursor.interrupt)
    timer.start()
    with pytest.raises(duckdb.InterruptException):
        with time_limit(cursor, 60):
            cursor.execute(RUNAWAY).fetchall()
    timer.join()


def test_other_sessions_keep_working_while_a_runaway_query_is_stopped(source):
    expected = compute(source, "buyer_weekly")
    runaway_started = threading.Event()
    outcome: dict = {}

    def runaway():
        cursor = source.cursor()
        try:
            with time_limit(cursor, 2.0, what="a runaway query"):
                runaway_started.set()
                cursor.execute(RUNAWAY).fetchall()
        except QueryTimeout as exc:
            outcome["runaway"] = exc
        finally:
            outcome["runaway_ended"] = time.monotonic()

    def other_session():
        runaway_started.wait(timeout=30)
        outcome["other"] = compute(source, "buyer_weekly")
        outcome["other_ended"] = time.monotonic()

    threads = [threading.Thread(target=runaway), threading.Thread(target=other_session)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert isinstance(outcome.get("runaway"), QueryTimeout)
    assert outcome["other"].equals(expected)
    assert outcome["other_ended"] < outcome["runaway_ended"]  # answered while the runaway still ran


# --- the path allow-list ------------------------------------------------------------------------

@pytest.fixture
def tree(tmp_path) -> Path:
    (tmp_path / "allowed" / "shop").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (tmp_path / "allowed" / "escape").symlink_to(tmp_path / "secret")
    (tmp_path / "elsewhere").symlink_to(tmp_path / "allowed" / "shop")
    return tmp_path


def test_paths_inside_allowed_folders_resolve_to_their_real_location(tree):
    allowed = (tree / "allowed",)
    assert allowed_path(str(tree / "allowed" / "shop"), allowed) == (tree / "allowed" / "shop").resolve()
    assert allowed_path(str(tree / "allowed" / "x" / ".." / "shop"), allowed) == (tree / "allowed" / "shop").resolve()
    # A link from outside into an allowed folder is fine: what counts is where it leads.
    assert allowed_path(str(tree / "elsewhere"), allowed) == (tree / "allowed" / "shop").resolve()
    assert allowed_path("shop", allowed, cwd=tree / "allowed") == (tree / "allowed" / "shop").resolve()


@pytest.mark.parametrize("given", ["allowed/../secret", "allowed/escape", "/etc", "/", "secret"])
def test_paths_outside_allowed_folders_are_refused(tree, given):
    allowed = (tree / "allowed",)
    with pytest.raises(PathRefused) as err:
        allowed_path(given if given.startswith("/") else str(tree / given), allowed)
    assert "this server only opens sources inside its allowed folders" in str(err.value)
    assert "RECDASH_ALLOWED_DIRS" in str(err.value)


def test_bad_paths_are_refused_with_a_sentence(tree):
    allowed = (tree / "allowed",)
    with pytest.raises(PathRefused, match="no such folder or file"):
        allowed_path(str(tree / "allowed" / "nope"), allowed)
    with pytest.raises(PathRefused, match="NUL character"):
        allowed_path(str(tree / "allowed") + "\x00x", allowed)
    with pytest.raises(PathRefused, match="Give the path"):
        allowed_path("  ", allowed)
    with pytest.raises(PathRefused, match="not a usable path|allowed folders"):
        allowed_path(str(tree / "allowed" / ("x" * 5000)), allowed)


def test_is_inside_compares_real_folders(tree):
    assert is_inside(tree / "allowed" / "shop", [tree / "allowed"])
    assert not is_inside(tree / "allowed" / "escape", [tree / "allowed"])
    assert not is_inside(tree / "allowedness", [tree / "allowed"])  # a prefix of the name is not inside


# --- settings -----------------------------------------------------------------------------------

def test_default_settings(tmp_path):
    got = settings_module.current(environ={}, cwd=tmp_path)
    assert got.allowed_dirs == ((Path.home() / ".cache" / "recdash").resolve(), tmp_path.resolve())
    assert (got.memory_limit, got.threads, got.query_timeout_s, got.max_upload_mb) == (None, None, 120.0, 200)


def test_settings_from_the_environment(tmp_path):
    environ = {
        "RECDASH_ALLOWED_DIRS": os.pathsep.join([str(tmp_path / "a"), "relative/b"]),
        "RECDASH_MEMORY_LIMIT": "2GB", "RECDASH_THREADS": "3", "RECDASH_QUERY_TIMEOUT_S": "30.5",
        "RECDASH_MAX_UPLOAD_MB": "50", "RECDASH_UPLOAD_DIR": str(tmp_path / "up"), "RECDASH_CACHE": str(tmp_path / "c"),
    }
    got = settings_module.current(environ=environ, cwd=tmp_path)
    assert got.allowed_dirs == ((tmp_path / "a").resolve(), (tmp_path / "relative" / "b").resolve())
    assert (got.memory_limit, got.threads, got.query_timeout_s, got.max_upload_mb) == ("2GB", 3, 30.5, 50)
    assert got.upload_dir == (tmp_path / "up").resolve() and got.cache_dir == tmp_path / "c"
    assert settings_module.current(environ={"RECDASH_QUERY_TIMEOUT_S": "off"}, cwd=tmp_path).query_timeout_s is None
    assert settings_module.current(environ={"RECDASH_QUERY_TIMEOUT_S": "0"}, cwd=tmp_path).query_timeout_s is None


def test_settings_from_recdash_toml_and_the_environment_wins(tmp_path):
    (tmp_path / "recdash.toml").write_text(
        'allowed_dirs = ["/data/shop", "exports"]\nmemory_limit = "4GB"\nthreads = 2\nquery_timeout_s = 60\n'
    )
    got = settings_module.current(environ={"RECDASH_THREADS": "8"}, cwd=tmp_path)
    assert got.allowed_dirs == (Path("/data/shop").resolve(), (tmp_path / "exports").resolve())
    assert (got.memory_limit, got.threads, got.query_timeout_s) == ("4GB", 8, 60.0)
    other = tmp_path / "conf" / "server.toml"
    other.parent.mkdir()
    other.write_text("max_upload_mb = 10\n")
    assert settings_module.current(environ={"RECDASH_CONFIG": str(other)}, cwd=tmp_path).max_upload_mb == 10


@pytest.mark.parametrize("environ, message", [
    ({"RECDASH_MEMORY_LIMIT": "lots"}, "RECDASH_MEMORY_LIMIT must be a size such as 2GB or 512MB, got 'lots'"),
    ({"RECDASH_THREADS": "0"}, "RECDASH_THREADS must be a whole number ≥ 1, got '0'"),
    ({"RECDASH_THREADS": "two"}, "RECDASH_THREADS must be a whole number ≥ 1, got 'two'"),
    ({"RECDASH_QUERY_TIMEOUT_S": "-1"}, "RECDASH_QUERY_TIMEOUT_S must be a number of seconds ≥ 0 (0 or 'off': no limit), got '-1'"),
    ({"RECDASH_MAX_UPLOAD_MB": "1.5"}, "RECDASH_MAX_UPLOAD_MB must be a whole number ≥ 1, got '1.5'"),
    ({"RECDASH_CONFIG": "/nonexistent/recdash.toml"}, "RECDASH_CONFIG names /nonexistent/recdash.toml, which is not a file"),
])
def test_bad_settings_are_errors_naming_the_variable(tmp_path, environ, message):
    with pytest.raises(SettingsError) as err:
        settings_module.current(environ=environ, cwd=tmp_path)
    assert str(err.value) == message


def test_unknown_or_bad_keys_in_recdash_toml_are_errors(tmp_path):
    (tmp_path / "recdash.toml").write_text("alowed_dirs = ['/data']\n")
    with pytest.raises(SettingsError, match="unknown setting\\(s\\) alowed_dirs"):
        settings_module.current(environ={}, cwd=tmp_path)
    (tmp_path / "recdash.toml").write_text("threads = 'many'\n")
    with pytest.raises(SettingsError, match="'threads' in .*recdash.toml must be a whole number"):
        settings_module.current(environ={}, cwd=tmp_path)
    (tmp_path / "recdash.toml").write_text("threads = \n")
    with pytest.raises(SettingsError, match="is not valid TOML"):
        settings_module.current(environ={}, cwd=tmp_path)


def test_memory_and_thread_settings_reach_the_database(tmp_path, monkeypatch):
    monkeypatch.setenv("RECDASH_MEMORY_LIMIT", "300MB")
    monkeypatch.setenv("RECDASH_THREADS", "1")
    monkeypatch.setenv("RECDASH_TEMP_DIR", str(tmp_path / "spill"))
    source = load_source(write_source(tmp_path / "s", {"events": [ev("e1")]}), now=TEST_NOW)
    reference = duckdb.connect()
    reference.execute("SET memory_limit = '300MB'")
    assert setting(source.con, "memory_limit") == setting(reference, "memory_limit")
    assert setting(source.con, "threads") == "1"


# --- the Streamlit configuration ----------------------------------------------------------------

def test_streamlit_config_is_hardened():
    import tomllib

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"]["enableCORS"] is True
    assert config["server"]["maxUploadSize"] == 200
    assert config["client"]["showErrorDetails"] == "none"
    assert config["client"]["toolbarMode"] == "viewer"
    assert config["browser"]["gatherUsageStats"] is False


# --- choosing a source on the Data page ---------------------------------------------------------

@pytest.fixture
def data_page(tmp_path, monkeypatch):
    """The Data page of the app showing a tiny source, with allowed and upload folders of the test."""
    import sys

    from streamlit.testing.v1 import AppTest

    start = write_source(tmp_path / "start", {"events": [ev("e1"), ev("e2", user="u2")]})
    (tmp_path / "allowed").mkdir()
    monkeypatch.setenv("RECDASH_ALLOWED_DIRS", str(tmp_path / "allowed"))
    monkeypatch.setenv("RECDASH_UPLOAD_DIR", str(tmp_path / "uploads"))
    monkeypatch.setenv("RECDASH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "argv", ["app.py", "--data", str(start)])
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py"), default_timeout=120)
    at.switch_page("views/data.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at, start


def shown_source(at) -> str:
    return at.code[0].value


def check(at, path: str):
    at.text_input[0].set_value(path)
    at.form_submit_button[0].click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def candidate_problems(at) -> list[str]:
    frames = [d.value for d in at.dataframe if list(d.value.columns) == ["problem"]]
    return list(frames[0].problem) if frames else []


def test_a_path_outside_the_allowed_folders_is_refused_and_the_source_stays(data_page, tmp_path):
    at, start = data_page
    (tmp_path / "secret").mkdir()
    write_source(tmp_path / "secret", {"events": [ev("s1")]})
    (tmp_path / "allowed" / "link").symlink_to(tmp_path / "secret")
    for path in (str(tmp_path / "secret"), str(tmp_path / "allowed" / ".." / "secret"), str(tmp_path / "allowed" / "link")):
        check(at, path)
        assert "This source cannot be used; the current one stays." in [e.value for e in at.error]
        (problem,) = candidate_problems(at)
        assert problem == (f"{path}: this server only opens sources inside its allowed folders "
                           f"({(tmp_path / 'allowed').resolve()}, {start.resolve()}). An administrator can add folders "
                           "with RECDASH_ALLOWED_DIRS.")
        assert [b.label for b in at.button if b.label == "Use this source"] == []
        assert shown_source(at) == str(start)


def test_a_source_is_reported_before_it_replaces_the_current_one(data_page, tmp_path):
    at, start = data_page
    chosen = write_source(tmp_path / "allowed" / "shop", {"events": [ev("e1"), ev("e2", ts="later"), ev("e3")]})
    check(at, str(tmp_path / "allowed" / "x" / ".." / "shop"))
    assert "This source can be used. What it holds:" in [s.value for s in at.success]
    tables = [d.value for d in at.dataframe if "rows_loaded" in d.value.columns]
    assert [(t.rows_read[0], t.rows_loaded[0], t.rows_rejected[0]) for t in tables][0] == (3, 2, 1)  # the candidate first
    assert shown_source(at) == str(start)  # not switched yet
    at.button(key="candidate_use").click()
    at.run()
    assert not at.exception
    assert shown_source(at) == str(chosen.resolve())
    at.button(key="source_default").click()
    at.run()
    assert shown_source(at) == str(start)


def test_a_source_that_fails_its_check_never_replaces_the_current_one(data_page, tmp_path):
    at, start = data_page
    broken = tmp_path / "allowed" / "broken"
    broken.mkdir()
    (broken / "events.csv").write_bytes(b"")
    check(at, str(broken))
    assert candidate_problems(at) == [
        "events.csv: the file is empty (0 bytes); a CSV file needs at least a header row with the column names"
    ]
    assert [b.label for b in at.button if b.label == "Use this source"] == []
    assert shown_source(at) == str(start)


def test_uploads_are_saved_privately_under_contract_names_only(data_page, tmp_path):
    at, start = data_page
    at.file_uploader[0].set_value([
        ("events.csv", b"event_id,ts,user_id,event_type\ne1,2026-03-02,u1,app_open\ne2,2026-03-02,u2,app_open,x\n", "text/csv"),
        ("../../escape.csv", b"event_id\n", "text/csv"),
        ("Orders.CSV", b"order_id,item_id,ts,user_id,quantity,price\no1,i1,2026-03-02,u1,1,-5\n", "text/csv"),
    ])
    at.form_submit_button[1].click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("escape" in w.value and "not a table file of the data contract" in w.value for w in at.warning)
    assert "This source can be used. What it holds:" in [s.value for s in at.success]
    (folder,) = (tmp_path / "uploads").glob("session-*/upload-*")
    assert sorted(p.name for p in folder.iterdir()) == ["events.csv", "orders.csv"]
    assert not (tmp_path / "escape.csv").exists() and not (tmp_path / "uploads" / "escape.csv").exists()
    for path in (tmp_path / "uploads", folder.parent, folder):
        assert path.stat().st_mode & 0o777 == 0o700
    assert (folder / "events.csv").stat().st_mode & 0o777 == 0o600
    at.button(key="candidate_use").click()
    at.run()
    assert shown_source(at) == str(folder.resolve())


def test_uploads_over_the_size_limit_are_refused(data_page, tmp_path, monkeypatch):
    at, start = data_page
    monkeypatch.setenv("RECDASH_MAX_UPLOAD_MB", "1")
    at.run()  # the file chooser is drawn again with the new limit
    # Each file is under the limit (the file chooser itself refuses a larger one), together they are not.
    events = b"event_id,ts,user_id,event_type\n" + b"e1,2026-03-02,u1,app_open\n" * 25_000  # 0.65 MB
    items = b"item_id,seller_id\n" + b"i0000001,s0000001\n" * 35_000  # 0.63 MB
    at.file_uploader[0].set_value([("events.csv", events, "text/csv"), ("items.csv", items, "text/csv")])
    at.form_submit_button[1].click()
    at.run()
    assert not at.exception
    (problem,) = candidate_problems(at)
    assert problem == ("the files add up to 1.2 MB, more than this server accepts (1 MB, RECDASH_MAX_UPLOAD_MB); "
                       "put larger sources in an allowed folder instead")
    assert not list((tmp_path / "uploads").glob("session-*/upload-*"))
    assert shown_source(at) == str(start)
