"""Validated copies of loaded sources, so that a restart does not load and validate again.

`load(path)` is `source.load_source(path)` with a memory: the first load of a source writes its
clean tables and its whole validation report (every TableReport: rows read, loaded, rejected
by column and reason with example rows, duplicates, notes) into one DuckDB file of the cache
folder (`settings.validated_cache_dir`); a later load of the same, unchanged source — in this or
another process — reads that file instead, and gets the same tables and the same report.

A copy is used only while all of this is unchanged (its key):
- the source's real path, and for each of its table files (a folder: every contract table name
  with every suffix, so a file added or removed counts; a `.duckdb` file: it and its `.wal`) the
  real path, size, modification time and a hash of its metadata — a Parquet file's footer, else
  its first and last 64 KiB (the whole file when it is smaller), so a rewrite that keeps the size
  and the time is still seen in the metadata or the ends of the file;
- the code that decides what is valid: contract.py, loading.py (what the DuckDB and Spark loaders
  share: CSV header and dialect, column mapping, report words), every file of source/, this module
  and DuckDB's version, so a change of the validation rules retires every copy.
And the time of loading: rows more than a day in the future are rejected, relative to "now". A
copy made at t0 gives exactly a fresh load's result at any later t1 when no row was rejected as
in the future (every row then passed that rule at t0 and passes it with the later limit too).
A source that had such rows is not kept (whether they are rejected depends on the time), and a
copy is not used for a time before t0.

Writing: after a fresh load the copy is written in a background thread (compressing every table
costs about as much as loading a Parquet source), so the source is usable at once; `wait()` waits
for it (the command line does before it exits, and a load of the same source in this process
waits rather than loading again).

Concurrency: a copy is written to a temporary file in the cache folder and renamed over the old
one (atomic on one file system), so a reader sees a whole old or a whole new copy. Two processes
loading at once both validate and both write; the last rename wins and both copies are good.

Serving: memory storage serves the copy in place — attached read-only before external access
is switched off (DuckDB then allows that file alone), each table a view of the copy's — so a
restart reads nothing until a query does and decompresses only what it scans. DuckDB keeps the
file it opened, so a copy replaced (renamed over) or pruned meanwhile stays readable as it was.
Disk storage copies the copy, in one read, into a private temporary folder of the source (as a
fresh load's temporary database file) and serves from that, since its runs write staging tables
into their database. Then the configuration is locked, as after `load_source` (docs/security.md).

Anything wrong with a copy (unreadable, truncated, another format) is a warning and a fresh load
that rewrites it; a copy that cannot be written is a warning too. Neither stops the source.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb

from dashboard.engine import settings as settings_module
from dashboard.engine.contract import TABLES
from dashboard.engine.guard import is_inside
from dashboard.engine.source import FILE_SUFFIXES, Problem, Source, TableReport, keys, load_source, new_connection

# Bump when the layout of a copy changes (the code hash below changes too; this names it).
FORMAT = 1
META_TABLE = "_validated_copy"
# How much of each end of a file is hashed (a file up to twice this is hashed whole).
END_BYTES = 64 * 1024
# A Parquet footer larger than this is not hashed whole (its ends are, as for other files).
MAX_FOOTER_BYTES = 64 * 1024 * 1024
# Copies not used for this long are removed when another copy is written.
UNUSED_DAYS = 30
ARROW_BATCH = 1 << 17
# The code whose text decides what a clean table and a report are: these files of the engine and
# every file of these packages (a file added to a package counts as soon as it exists).
CODE_FILES = ("contract.py", "loading.py", "cache.py")
CODE_PACKAGES = ("source",)

log = logging.getLogger(__name__)


@dataclass
class Status:
    """How a source came to be: from a validated copy or loaded now, and what happened to its copy."""

    from_copy: bool
    validated_at: dt.datetime  # the "now" of the validation (a copy's: when it was made)
    message: str  # one sentence for the command line
    warnings: list[str] = field(default_factory=list)
    copy: Path | None = None
    why: str = ""  # of a fresh load: why the copy was not used ("events.csv changed", …)


_STATUS: weakref.WeakKeyDictionary[Source, Status] = weakref.WeakKeyDictionary()
_STATUS_LOCK = threading.Lock()


def status(source: Source) -> Status | None:
    """How `source` was loaded, when it came through `load` (None for a plain load_source)."""
    with _STATUS_LOCK:
        return _STATUS.get(source)


def load(
    path: str | Path,
    now: dt.datetime | None = None,
    *,
    settings: settings_module.Settings | None = None,
    allowed_dirs: tuple[Path, ...] | list[Path] | None = None,
    reload: bool = False,
    say: Callable[[str], None] | None = None,
) -> Source:
    """`load_source(path, now, …)`, served from the validated copy when it is still the same source.

    `reload`: validate the files again (and rewrite the copy). `say`: told one sentence — "using
    the validated copy from …" or why the source was loaded — and every warning.
    """
    settings = settings or settings_module.current()
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    path = Path(path)
    folder = settings.validated_cache_dir
    tell = say or (lambda _message: None)
    if folder is None or not _usable_path(path):
        # No cache, or a path load_source refuses with its own message.
        return load_source(path, now, settings=settings, allowed_dirs=allowed_dirs)
    if allowed_dirs is not None and not _inside(path, allowed_dirs):
        # load_source names what lies outside; a copy is never a way around that check (and no
        # byte of a file outside is read for the key).
        return load_source(path, now, settings=settings, allowed_dirs=allowed_dirs)
    warnings: list[str] = []
    key = _key(path)
    file = copy_path(path, settings)

    why = "asked to check the files again" if reload else None
    _wait_for(file)  # a copy being written in this process is cheaper to wait for than a load
    if not reload and file.exists():
        try:
            found = _open_copy(file, settings, path, key, now)
        except Exception as exc:  # noqa: BLE001 — a broken copy never stops the source
            found = None
            warnings.append(f"the validated copy {file} could not be read ({_first_line(exc)}); "
                            "loading the source again and rewriting it")
        if isinstance(found, Source):
            _touch(file)
            validated_at = found.loaded_at
            message = f"using the validated copy from {validated_at:%Y-%m-%d %H:%M:%S} UTC"
            _remember(found, Status(True, validated_at, message, warnings, file))
            for warning in warnings:
                tell(f"warning: {warning}")
            tell(message)
            return found
        if isinstance(found, str):
            why = found
    elif not reload:
        why = "no validated copy yet"

    for warning in warnings:
        tell(f"warning: {warning}")
    started = time.perf_counter()
    source = load_source(path, now, settings=settings, allowed_dirs=allowed_dirs)
    took = time.perf_counter() - started
    state = Status(False, now, f"loaded and validated in {took:.1f} s ({why})", warnings, None, why)
    _remember(source, state)
    _keep(source, path, key, file, settings, took, state, tell)
    return source


def forget(path: str | Path, settings: settings_module.Settings | None = None) -> bool:
    """Remove the validated copy of `path` (the next load validates again); whether there was one."""
    settings = settings or settings_module.current()
    if settings.validated_cache_dir is None:
        return False
    file = copy_path(Path(path), settings)
    try:
        file.unlink()
        return True
    except FileNotFoundError:
        return False


def copy_path(path: Path, settings: settings_module.Settings) -> Path:
    """The file of `path`'s copy: one per source path, named by a hash of its real path."""
    assert settings.validated_cache_dir is not None
    digest = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return settings.validated_cache_dir / f"source-{digest}.duckdb"


def code_files() -> list[Path]:
    """The files `code_version` hashes, in a fixed order."""
    here = Path(__file__).resolve().parent
    files = [here / name for name in CODE_FILES]
    for package in CODE_PACKAGES:
        files += sorted((here / package).rglob("*.py"))
    return files


@functools.cache
def code_version() -> str:
    """A hash of the code that makes clean tables and reports, and of DuckDB's version."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(f"format {FORMAT}; duckdb {duckdb.__version__}".encode())
    for file in code_files():
        digest.update(file.relative_to(here).as_posix().encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


# --- the key --------------------------------------------------------------------------------------

def _usable_path(path: Path) -> bool:
    return path.exists() and (path.is_dir() or path.suffix.lower() == ".duckdb")


def _table_files(path: Path) -> list[Path]:
    """Every file whose presence or content load_source reads."""
    if path.is_dir():
        return [path / f"{table}{suffix}" for table in TABLES for suffix in FILE_SUFFIXES]
    return [path, path.with_name(path.name + ".wal")]


def _key(path: Path) -> dict:
    files = []
    for file in _table_files(path):
        try:
            info = file.stat()  # follows a link: the file that is read
        except OSError:
            continue
        if not file.is_file():
            continue
        files.append({"name": file.name, "real": str(file.resolve()), "size": info.st_size,
                      "mtime_ns": info.st_mtime_ns, "hash": _content_hash(file, info.st_size)})
    return {"format": FORMAT, "code": code_version(), "source": str(path.resolve()), "files": files}


def _content_hash(file: Path, size: int) -> str:
    """A Parquet file's footer (its schema, row groups and statistics), else the file's two ends."""
    digest = hashlib.sha256()
    try:
        with open(file, "rb") as f:
            if file.name.endswith(".parquet") and size >= 12:
                f.seek(size - 8)
                tail = f.read(8)
                footer = int.from_bytes(tail[:4], "little")
                if tail[4:] == b"PAR1" and footer + 8 <= min(size, MAX_FOOTER_BYTES):
                    f.seek(size - 8 - footer)
                    digest.update(b"footer\0" + f.read(footer + 8))
                    return digest.hexdigest()
            if size <= 2 * END_BYTES:
                digest.update(b"whole\0" + f.read())
            else:
                digest.update(b"ends\0" + f.read(END_BYTES))
                f.seek(size - END_BYTES)
                digest.update(f.read(END_BYTES))
    except OSError as exc:
        digest.update(f"unreadable {exc.__class__.__name__}".encode())
    return digest.hexdigest()


def _inside(path: Path, allowed_dirs) -> bool:
    return is_inside(path, allowed_dirs) and all(
        is_inside(file.resolve(), allowed_dirs) for file in _table_files(path) if file.exists())


def _what_changed(old: dict, new: dict) -> str:
    """Why a copy no longer fits, in a few words."""
    if old.get("format") != new["format"] or old.get("code") != new["code"]:
        return "the loading code or the data contract changed since the copy was made"
    before = {f["name"]: f for f in old.get("files", [])}
    after = {f["name"]: f for f in new["files"]}
    changes = [f"{name} added" for name in sorted(set(after) - set(before))]
    changes += [f"{name} removed" for name in sorted(set(before) - set(after))]
    changes += [f"{name} changed" for name in sorted(set(before) & set(after)) if before[name] != after[name]]
    return ", ".join(changes) or "the source's path changed"


# --- reading a copy -------------------------------------------------------------------------------

def _open_copy(file: Path, settings, path: Path, key: dict, now: dt.datetime) -> Source | str:
    """The source served from `file`, or why the copy does not fit (it is then left untouched).

    Memory storage serves the copy in place: `file` attached read-only, each table a view of
    the copy's, so a restart reads nothing until a query does (DuckDB reads the compressed
    blocks it needs into its buffers; the staging tables of the runs live in memory as after a
    fresh load). DuckDB keeps the file it opened: a copy that another process replaces meanwhile
    (a rename, never a write in place: `_write`) or prunes stays readable, as it was. Disk
    storage serves from a private copy of the file, as a fresh load serves from its own
    temporary file (the serving database writes its staging tables there). Raises on a copy
    that cannot be read."""
    if settings.storage == "disk":
        return _open_private_copy(file, settings, path, key, now)
    con = new_connection(settings)
    try:
        # Attached before external access is switched off with no path allowed: DuckDB reads the
        # copy through the handle it opened, and the serving database can open nothing more,
        # not even the copy a second time.
        con.execute(f"ATTACH '{_sql_string(file)}' AS validated_copy (READ_ONLY)")
        con.execute("SET enable_external_access = false")
        meta = _meta(con, "validated_copy")
        why = _misfit(meta, key, now)
        if why:
            con.close()
            return why
        for table, _columns in meta["tables"]:
            con.execute(f"CREATE VIEW {_quoted(table)} AS SELECT * FROM validated_copy.{_quoted(table)}")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return _source(path, con, meta)


def _open_private_copy(file: Path, settings, path: Path, key: dict, now: dt.datetime) -> Source | str:
    """Disk storage: the source served from a private copy of `file` (one read of it: whole
    even if another process replaces the copy meanwhile)."""
    with duckdb.connect(str(file), read_only=True) as peek:  # a misfit is known without copying
        why = _misfit(_meta(peek, "main"), key, now)
    if why:
        return why
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="source-", dir=settings.temp_dir))
    mine = folder / "tables.duckdb"
    try:
        shutil.copyfile(file, mine)
        con = new_connection(settings, database=mine)
        weakref.finalize(con, shutil.rmtree, folder, True)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        meta = _meta(con, "main")
        why = _misfit(meta, key, now)
        if why:
            con.close()
            return why
        con.execute(f"DROP TABLE {META_TABLE}")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return _source(path, con, meta)


def _meta(con, database: str) -> dict:
    rows = con.execute(f"SELECT meta FROM {database}.{META_TABLE}").fetchall()
    if len(rows) != 1:
        raise ValueError(f"{len(rows)} rows in {META_TABLE}")
    meta = json.loads(rows[0][0])
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError("not a copy of this format")
    return meta


def _misfit(meta: dict, key: dict, now: dt.datetime) -> str | None:
    if meta["key"] != key:
        return _what_changed(meta["key"], key)
    if now < dt.datetime.fromisoformat(meta["loaded_at"]):
        return "the copy was validated later than the time of this load"
    return None


def _source(path: Path, con, meta: dict) -> Source:
    reports = {r["table"]: _report(r) for r in meta["reports"]}
    return Source(path=path, con=con, tables=reports, loaded_at=dt.datetime.fromisoformat(meta["loaded_at"]))


def _report(data: dict) -> TableReport:
    values = dict(data)
    values["problems"] = [Problem(**p) for p in values.get("problems", [])]
    for f in dataclasses.fields(TableReport):  # JSON has lists where the report has tuples
        if str(f.type).startswith("tuple") and f.name in values:
            values[f.name] = tuple(values[f.name])
    return TableReport(**values)


# --- writing a copy -------------------------------------------------------------------------------

def _keep(source: Source, path: Path, key: dict, file: Path, settings, took: float, state: Status,
          tell: Callable[[str], None]) -> None:
    """Write the validated copy of a freshly loaded source, in a background thread.

    The source is usable at once; the copy (compressing every table into a file) is written
    meanwhile, and `state` and `tell` say when it is done or why it was not kept. `wait()`
    waits for it (the command line does before it exits)."""
    future = [f"{r.table}.{p.column}" for r in source.tables.values() for p in r.problems
              if p.column in TABLES[r.table].no_future and "future" in p.reason]
    if future:
        forget(path, settings)
        _finish(state, tell, f"not kept as a validated copy: rows of {', '.join(sorted(set(future)))} were "
                             "rejected as in the future, which depends on the time of loading")
        return
    if _key(path) != key:
        _finish(state, tell, "not kept as a validated copy: the files changed while they were loaded")
        return

    def write() -> None:
        started = time.perf_counter()
        try:
            _write(source, key, file, took)
        except Exception as exc:  # noqa: BLE001 — the loaded source is good; only its copy failed
            state.warnings.append(f"the validated copy {file} could not be written ({_first_line(exc)})")
            log.warning(state.warnings[-1])
            tell(f"warning: {state.warnings[-1]}")
            _finish(state, None, "not kept as a validated copy (see the warning)")
        else:
            state.copy = file
            _prune(file.parent, keep=file)
            _finish(state, tell, f"kept a validated copy in {file} (written in {time.perf_counter() - started:.1f} s)",
                    tell_all=False)
        finally:
            with _WRITING_LOCK:
                if _WRITING.get(file) is threading.current_thread():
                    del _WRITING[file]

    tell(f"{state.message}; writing a validated copy in the background")
    # Not a daemon: a process that ends (the command line) finishes the copy first.
    thread = threading.Thread(target=write, name="recdash-validated-copy")
    with _WRITING_LOCK:
        _WRITING[file] = thread
    thread.start()


def _finish(state: Status, tell, what: str, tell_all: bool = True) -> None:
    state.message = f"{state.message}; {what}"
    if tell is not None:
        tell(state.message if tell_all else what)


_WRITING: dict[Path, threading.Thread] = {}  # copies being written by this process
_WRITING_LOCK = threading.Lock()


def wait(timeout: float | None = None) -> None:
    """Wait until the validated copies this process is writing are written."""
    with _WRITING_LOCK:
        threads = list(_WRITING.values())
    for thread in threads:
        thread.join(timeout)


def _wait_for(file: Path) -> None:
    with _WRITING_LOCK:
        thread = _WRITING.get(file)
    if thread is not None and thread is not threading.current_thread():
        thread.join()


def _write(source: Source, key: dict, file: Path, took: float) -> None:
    folder = file.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=".writing-", suffix=".duckdb", dir=folder)
    os.close(handle)
    os.unlink(scratch)  # DuckDB creates the file itself; the name is ours
    scratch = Path(scratch)
    try:
        cursor = source.cursor()
        try:
            tables = [(name, cursor.execute(f"DESCRIBE {_quoted(name)}").fetchall())
                      for (name,) in cursor.execute(
                          "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                          "AND schema_name = 'main' AND NOT temporary ORDER BY table_name").fetchall()]
            columns = {name: [(c[0], c[1]) for c in described] for name, described in tables}
            with duckdb.connect(str(scratch)) as out:
                _copy_enum_types(cursor, out, columns)
                for name, cols in columns.items():
                    out.execute(f"CREATE TABLE {_quoted(name)} ({_columns_sql(cols)})")
                    reader = cursor.sql(f"SELECT * FROM {_quoted(name)}").to_arrow_reader(ARROW_BATCH)
                    out.register("_incoming", reader)
                    try:
                        out.execute(f"INSERT INTO {_quoted(name)} SELECT * FROM _incoming")
                    finally:
                        out.unregister("_incoming")
                meta = {
                    "format": FORMAT, "key": key, "loaded_at": source.loaded_at.isoformat(),
                    "validated_in_s": round(took, 3), "written_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                    "tables": [[name, cols] for name, cols in columns.items()],
                    "reports": [dataclasses.asdict(r) for r in source.tables.values()],
                }
                out.execute(f"CREATE TABLE {META_TABLE} (meta VARCHAR)")
                out.execute(f"INSERT INTO {META_TABLE} VALUES ($m)", {"m": json.dumps(meta)})
                out.execute("CHECKPOINT")
        finally:
            cursor.close()
        os.chmod(scratch, 0o600)
        os.replace(scratch, file)  # atomic: readers see the old copy or this one, whole
    finally:
        for leftover in (scratch, scratch.with_name(scratch.name + ".wal")):
            leftover.unlink(missing_ok=True)


def _prune(folder: Path, keep: Path) -> None:
    """Remove copies unused for UNUSED_DAYS, and scratch files of writers that died a day ago."""
    now = time.time()
    for file in folder.glob("*.duckdb*"):
        try:
            age = now - file.stat().st_mtime
        except OSError:
            continue
        stale = age > UNUSED_DAYS * 86400 if file.name.startswith("source-") else age > 86400
        if file != keep and stale:
            file.unlink(missing_ok=True)


def _touch(file: Path) -> None:
    try:
        os.utime(file)  # "used": pruning goes by the time of last use
    except OSError:
        pass


# --- small helpers --------------------------------------------------------------------------------

def _remember(source: Source, state: Status) -> None:
    with _STATUS_LOCK:
        _STATUS[source] = state


def _quoted(name: str) -> str:
    # Table and column names come from the loaded database (the contract's and the loader's).
    return '"' + name.replace('"', '""') + '"'


def _columns_sql(columns) -> str:
    # A label stored as an ENUM is declared with its kind's type (made by `_copy_enum_types`),
    # not with the values DESCRIBE spells out.
    return ", ".join(
        f"{_quoted(name)} {keys.enum_type(keys.ENUM_COLUMNS[name]) if kind.startswith('ENUM') else kind}"
        for name, kind in columns
    )


def _copy_enum_types(cursor, out, columns: dict) -> None:
    """The source's ENUM types made again in the copy, from its table of their values (keys.py)."""
    if keys.ENUM_VALUES_TABLE not in columns:
        return
    values = cursor.sql(f"SELECT kind, value FROM {keys.ENUM_VALUES_TABLE}").arrow().read_all()
    out.register("_enum_values_incoming", values)
    try:
        for kind in sorted(set(values.column("kind").to_pylist())):
            if kind not in keys.ENUM_COLUMNS.values():  # our names only ever reach SQL text
                raise ValueError(f"unknown ENUM kind {kind!r}")
            keys.create_enum(out, kind, f"SELECT value FROM _enum_values_incoming WHERE kind = '{kind}'")
    finally:
        out.unregister("_enum_values_incoming")


def _sql_string(path: Path) -> str:
    # ATTACH takes no bound parameter for its path; quotes are doubled so the path stays a literal.
    return str(path).replace("'", "''")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else exc.__class__.__name__)[:300]
