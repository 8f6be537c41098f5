"""Loading a source: a connection with the server's limits, then every table located, read,
checked and loaded; the checks across tables; the configuration locked."""
from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import weakref
from pathlib import Path

import duckdb

from dashboard.engine import settings as settings_module
from dashboard.engine.contract import TABLES
from dashboard.engine.guard import is_inside
from dashboard.engine.source.across import (
    _check_experiments, _check_target_policies, _create_absent_tables, _note_heavy_users,
    _note_traffic_shares,
)
from dashboard.engine.loading import (
    SourceError, TableReport, _events_missing, _locate_tables, _refuse_export_folder,
)
from dashboard.engine.source.locate import _attach, _locate_in_database, _refuse_state_definitions
from dashboard.engine.source.report import Source, _first_line
from dashboard.engine.source import keys
from dashboard.engine.source.table import _finish_table, _prepare_table


def new_connection(settings: settings_module.Settings | None = None,
                   database: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A database with the server's limits; nothing is installed or loaded on demand.

    In memory by default; with `storage = disk` a temporary DuckDB file of its own under temp_dir,
    removed when the connection goes (the tables are compressed there: see settings.py).
    `database`: serve from this DuckDB file instead, which the caller owns (cache.py's private
    copy of a validated source).
    """
    settings = settings or settings_module.current()
    # Every connection gets a private folder of its own under temp_dir (0700, removed with the
    # connection), and DuckDB's temp_directory is that folder: DuckDB lets a connection read its
    # temp_directory even with external access off, so a shared one would let a view of an
    # uploaded .duckdb read another source's spilled or disk-stored rows.
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="source-", dir=settings.temp_dir))
    if database is not None:
        con = duckdb.connect(str(database))
    elif settings.storage == "disk":
        con = duckdb.connect(str(folder / "tables.duckdb"))
    else:
        con = duckdb.connect(":memory:")
    # The folder lives as long as the connection object (or until the process exits).
    weakref.finalize(con, shutil.rmtree, folder, True)
    # Naive timestamps mean UTC; instants are compared in UTC, zones only make weeks and days.
    con.execute("SET TimeZone = 'UTC'")
    # Progress is reported by the callers in their own words, not by DuckDB's bar on stderr.
    con.execute("SET enable_progress_bar = false")
    # A query must never make the server download or load code (e.g. httpfs for a URL).
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    if settings.memory_limit:
        con.execute("SET memory_limit = $v", {"v": settings.memory_limit})
    if settings.threads:
        con.execute("SET threads = $v", {"v": settings.threads})
    # Spilled intermediates go to the connection's own folder, not `.tmp` in the working directory.
    con.execute("SET temp_directory = $v", {"v": str(folder / "spill")})
    return con


def load_source(
    path: str | Path,
    now: dt.datetime | None = None,
    *,
    settings: settings_module.Settings | None = None,
    allowed_dirs: tuple[Path, ...] | list[Path] | None = None,
) -> Source:
    """Load and validate a source; raise SourceError when it cannot be used at all.

    `allowed_dirs`: when given (the Data page), the source and every file it reads must really
    lie inside one of these folders — a table file that is a link to a file elsewhere is refused.
    """
    path = Path(path)
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    settings = settings or settings_module.current()
    if not path.exists():
        raise SourceError([f"{path}: no such folder or file"])
    is_folder = path.is_dir()
    if not is_folder and path.suffix.lower() != ".duckdb":
        raise SourceError([f"{path}: a source is a folder of table files or a .duckdb file"])
    if allowed_dirs is not None and not is_inside(path, allowed_dirs):
        raise SourceError([f"{path}: outside the folders this server may read"])

    try:
        con = new_connection(settings)
    except OSError as exc:  # e.g. a temp folder the server may not write
        raise SourceError([
            f"{path.name}: cannot be loaded: the temporary folder {settings.temp_dir} is not usable "
            f"({exc.strerror or exc.__class__.__name__}); an administrator can set RECDASH_TEMP_DIR"
        ]) from None
    try:
        reports = _load_all(con, path, is_folder, now, allowed_dirs)
    except SourceError:
        con.close()
        raise
    except duckdb.Error as exc:  # e.g. out of memory: a message, never a traceback
        con.close()
        raise SourceError([f"{path.name}: could not be loaded ({_first_line(exc, path)})"]) from None
    except OSError as exc:  # e.g. a folder the server may not list
        con.close()
        raise SourceError([f"{path.name}: cannot be read ({exc.strerror or exc.__class__.__name__})"]) from None
    return Source(path=path, con=con, tables=reports, loaded_at=now)


def _load_all(con, path: Path, is_folder: bool, now, allowed_dirs) -> dict[str, TableReport]:
    errors: list[str] = []
    given: set[str] = set()  # tables with a file, readable or not
    if is_folder:
        _refuse_export_folder(path)
        located, given, errors = _locate_tables(path, allowed_dirs)
        readable = [loc.path for loc in located]
    else:
        real = path.resolve()
        readable = [real, real.with_name(real.name + ".wal")]
    # From here on DuckDB reads exactly these files and nothing else.
    con.execute("SET allowed_paths = $p", {"p": [str(p) for p in readable]})
    con.execute("SET enable_external_access = false")
    if not is_folder:
        _attach(con, path)
        _refuse_state_definitions(con, path)
        located = [loc for table in TABLES if (loc := _locate_in_database(con, path, table))]
        given = {loc.table for loc in located}

    # Every table read and counted first, then written clean: the dictionaries of ids and labels
    # (keys.py) need the values of all tables before the first clean table stores a key.
    prepared, failed, collected = [], {}, set()
    for loc in located:
        try:
            prepared.append(_prepare_table(con, TABLES[loc.table], loc, now, collected))
        except SourceError as exc:
            failed[loc.table] = exc.problems
    storage = keys.build(con, collected)
    reports: dict[str, TableReport] = {}
    for table in prepared:
        try:
            reports[table.table.name] = _finish_table(con, table, storage)
        except SourceError as exc:
            failed[table.table.name] = exc.problems
    errors.extend(problem for loc in located for problem in failed.get(loc.table, []))
    if "events" not in given:
        errors.append(_events_missing(path, is_folder))
    if errors:
        raise SourceError(errors)
    if not is_folder:
        con.execute("DETACH src")
    _check_experiments(con, reports)
    _check_target_policies(con, reports)
    _note_traffic_shares(con, reports)
    _note_heavy_users(con, reports, storage)
    _create_absent_tables(con, reports, storage)
    # The serving database needs no file and no extension, and its limits must hold: the
    # configuration cannot be changed by any later statement.
    con.execute("SET lock_configuration = true")
    return reports
