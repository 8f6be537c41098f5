"""Which data source the dashboard shows: the one given on the command line or chosen on the
Data page, else the built-in demo marketplace (generated once into a cache folder).

A source chosen on the Data page is a path inside the allowed folders (settings.py) or table
files uploaded into a private folder of the session; it is checked before it is used, and a
source that fails its check never replaces a working one.
"""
from __future__ import annotations

import argparse
import os
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path

import streamlit as st

from dashboard.engine import cache
from dashboard.engine import settings as settings_module
from dashboard.engine.contract import TABLES
from dashboard.engine.export import EXPORT_INFO
from dashboard.engine.guard import PathRefused, allowed_path, is_inside
from dashboard.engine.metrics import METRIC_TABLES
from dashboard.engine.settings import SettingsError
from dashboard.engine.source import FILE_SUFFIXES, Source, SourceError
from dashboard.review import exported

DEMO_USERS, DEMO_WEEKS, DEMO_SEED = 20_000, 26, 7
SOURCE_KEY = "source_path"  # the source this session chose on the Data page (a real path)
CANDIDATE_KEY = "source_candidate"  # a checked source waiting for "Use this source"
UPLOAD_MAX_AGE_S = 24 * 3600  # upload folders of ended sessions are removed after a day
UPLOADABLE = {f"{table}{suffix}": (table, suffix) for table in TABLES for suffix in FILE_SUFFIXES}


def demo_dir() -> Path:
    """The cached demo's folder; its name changes whenever the generator's code does."""
    from dashboard.engine.demo import code_version

    version = code_version()  # every file of the generator's package
    base = Path(os.environ.get("RECDASH_CACHE") or settings_module.current().cache_dir)
    return base / f"demo-u{DEMO_USERS}-w{DEMO_WEEKS}-s{DEMO_SEED}-{version}"


def ensure_demo() -> Path:
    """The demo source's folder, generated on first use (atomically, so two servers can race)."""
    target = demo_dir()
    if (target / "events.parquet").exists():
        return target
    from dashboard.engine.demo import generate

    target.parent.mkdir(parents=True, exist_ok=True)
    with st.spinner("Generating the demo marketplace (first start only)…"):
        scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=".demo-"))
        generate(scratch, users=DEMO_USERS, weeks=DEMO_WEEKS, seed=DEMO_SEED)
        try:
            scratch.rename(target)
        except OSError:  # another process finished first
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def command_line_source() -> str | None:
    """`streamlit run dashboard/app.py -- --data SOURCE`."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data")
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.data


def signature(path: str | Path) -> tuple:
    """What identifies the files of a source now: names, sizes and modification times.

    Part of the cache key of `open_source`, so that a source whose files change is loaded again,
    without clearing the sources of every other session.
    """
    path = Path(path)
    try:
        if path.is_dir():
            files = [path / f"{t}{s}" for t in TABLES for s in FILE_SUFFIXES]
            files += [path / f"{t}{s}" for t in METRIC_TABLES for s in exported.SUFFIXES] + [path / EXPORT_INFO]
        else:
            files = [path, path.with_name(path.name + ".wal")]
        return tuple((f.name, st_.st_size, st_.st_mtime_ns) for f in files if f.is_file() and (st_ := f.stat()))
    except OSError:
        return ()


@st.cache_resource(show_spinner=False, max_entries=4)
def open_source(path: str, files: tuple = (), _allowed_dirs: tuple[Path, ...] | None = None
                ) -> Source | exported.ExportedSource:
    """One loaded source per path and version of its files, shared by every session; cursors are
    taken per query. `_allowed_dirs` (not part of the key): every file read must lie inside.

    A folder of exported metric tables (no events file, metric table files) is opened as such:
    the pages then show the tables a scheduled job computed instead of computing them."""
    if exported.is_exported_folder(path):
        return open_exported(Path(path), _allowed_dirs)
    reload = path in _RELOAD
    _RELOAD.discard(path)
    # From the validated copy of an unchanged source (a restart needs no new validation).
    return cache.load(path, allowed_dirs=_allowed_dirs, reload=reload)


# Paths whose next load validates the files again ("Load and check again" on the Data page).
_RELOAD: set[str] = set()


def reload_source(path: str) -> None:
    """Callback of "Load and check again": the next run loads and validates the files anew and
    rewrites the validated copy; every session showing this source gets the new load."""
    _RELOAD.add(path)
    open_source.clear(path, signature(path))


def open_exported(folder: Path, allowed: tuple[Path, ...] | None) -> exported.ExportedSource:
    try:
        files = [*exported.table_files(folder).values(), folder / EXPORT_INFO]
        if allowed is not None:
            outside = [f.name for f in files if f.exists() and not is_inside(f.resolve(), allowed)]
            if outside:
                raise SourceError([f"{folder}: {', '.join(outside)} lead outside the allowed folders; not read"])
        return exported.load_exported_source(folder)
    except exported.ExportedError as exc:
        raise SourceError([str(exc)]) from None


def open_current(path: str, allowed_dirs: tuple[Path, ...] | None = None) -> Source:
    return open_source(path, signature(path), allowed_dirs)


def default_source_path() -> str:
    return command_line_source() or str(ensure_demo())


def chosen_source_path() -> str | None:
    return st.session_state.get(SOURCE_KEY)


def current_source_path() -> str:
    return chosen_source_path() or default_source_path()


def current_source() -> Source:
    """The source to show; a source that cannot be used stops the page with the reasons.

    A source chosen on the Data page that stopped loading (its files changed or went away) is
    dropped with a warning, and the default source is shown instead.
    """
    try:
        chosen = chosen_source_path()
        if chosen:
            try:
                with st.spinner(f"Loading and checking {Path(chosen).name}…"):
                    return open_current(chosen, allowed_dirs())
            except SourceError as exc:
                st.session_state.pop(SOURCE_KEY, None)
                st.warning(f"The source you chose ({escape_markdown(chosen)}) cannot be used any more, so the "
                           "default source is shown:\n\n" + "\n".join(f"- {escape_markdown(p)}" for p in exc.problems))
        path = default_source_path()
        try:
            with st.spinner(f"Loading and checking {Path(path).name}…"):
                return open_current(path)
        except SourceError as exc:
            st.error(f"The data source {escape_markdown(path)} cannot be used:")
            for problem in exc.problems:
                st.markdown(f"- {escape_markdown(problem)}")
            st.stop()
            raise  # st.stop() raises; this keeps type checkers calm
    except SettingsError as exc:
        st.error(f"The server's settings cannot be used: {escape_markdown(str(exc))}")
        st.stop()
        raise


def is_demo(path: str) -> bool:
    return Path(path) == demo_dir()


# --- choosing a source on the Data page -----------------------------------------------------

def allowed_dirs(uploads: bool = True) -> tuple[Path, ...]:
    """Folders a session may open: the configured ones, the command line's source and (unless
    `uploads` is false) the session's own upload folder."""
    settings = settings_module.current()
    extra = [session_upload_dir()] if uploads else []
    given = command_line_source()
    if given:
        extra.append(Path(given))
    return tuple(dict.fromkeys([*settings.allowed_dirs, *(p.resolve() for p in extra)]))


def check_path(text: str) -> dict:
    """Check a path typed on the Data page; the result is kept as this session's candidate."""
    try:
        real = allowed_path(text, allowed_dirs(), shown=allowed_dirs(uploads=False))
    except PathRefused as exc:
        return _candidate(str(text).strip(), None, [str(exc)])
    copies = settings_module.current().validated_cache_dir
    if copies is not None and is_inside(real, [copies]):
        # The copies hold other sources (uploads of other sessions among them): never a source.
        return _candidate(str(text).strip(), None, [f"{str(text).strip()}: the server's validated copies are not a source"])
    return _check(str(real), display=str(text).strip())


def check_uploads(files) -> dict:
    """Save uploaded table files into a fresh private folder of this session and check them."""
    settings = settings_module.current()
    tables, refused = [], []
    for file in files:
        name = Path(str(file.name).replace("\\", "/")).name.lower()
        if name in UPLOADABLE:
            tables.append((UPLOADABLE[name], file))
        else:
            refused.append(file.name)
    problems = [
        f"{_short(name)}: not a table file of the data contract (expected names such as events.csv, "
        "orders.parquet or items.csv.gz); left out"
        for name in refused
    ]
    total = sum(file.size for _, file in tables)
    if total > settings.max_upload_mb * 1024 * 1024:
        return _candidate("uploaded files", None, [
            f"the files add up to {total / 1024 / 1024:,.1f} MB, more than this server accepts "
            f"({settings.max_upload_mb} MB, RECDASH_MAX_UPLOAD_MB); put larger sources in an allowed folder instead"
        ])
    if not tables:
        return _candidate("uploaded files", None, problems or ["no files were uploaded"])
    try:
        folder = _new_upload_folder()
        for (table, suffix), file in tables:
            # The name on disk is made from the contract, never taken from the upload.
            target = folder / f"{table}{suffix}"
            with open(target, "xb") as out:
                out.write(file.getbuffer())
            os.chmod(target, 0o600)
    except FileExistsError:
        return _candidate("uploaded files", None, ["the same table was uploaded twice; upload one file per table"])
    except OSError as exc:
        return _candidate("uploaded files", None, [f"the files could not be saved on the server ({exc.strerror or exc})"])
    _prune_uploads(keep={folder})
    candidate = _check(str(folder), display="uploaded files: " + ", ".join(f"{t}{s}" for (t, s), _ in tables))
    candidate["notes"] = problems
    return candidate


def _check(path: str, display: str) -> dict:
    try:
        with st.spinner(f"Checking {Path(path).name}…"):
            open_current(path, allowed_dirs())
    except SourceError as exc:
        return _candidate(display, path, exc.problems)
    return _candidate(display, path, [])


def _candidate(display: str, path: str | None, problems: list[str]) -> dict:
    return {"display": display, "path": path, "files": signature(path) if path else (), "problems": problems,
            "notes": []}


def use_candidate() -> None:
    """Callback of "Use this source": switch only to a source that passed its check unchanged."""
    candidate = st.session_state.get(CANDIDATE_KEY)
    if not candidate or candidate["problems"] or not candidate["path"]:
        return
    if signature(candidate["path"]) != candidate["files"]:
        candidate["problems"] = ["its files changed after the check; check it again"]
        return
    st.session_state[SOURCE_KEY] = candidate["path"]
    st.session_state.pop(CANDIDATE_KEY, None)


def discard_candidate() -> None:
    st.session_state.pop(CANDIDATE_KEY, None)


def use_default() -> None:
    st.session_state.pop(SOURCE_KEY, None)
    st.session_state.pop(CANDIDATE_KEY, None)


def upload_limit_mb() -> int:
    """The largest upload the file chooser accepts: the settings' limit, within Streamlit's."""
    try:
        server_limit = int(st.get_option("server.maxUploadSize"))
    except Exception:  # noqa: BLE001 — an unset option means Streamlit's default
        server_limit = 200
    return max(1, min(settings_module.current().max_upload_mb, server_limit))


# --- the private upload folders ---------------------------------------------------------------

def _session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    raw = ctx.session_id if ctx else "no-session"
    return "".join(ch for ch in raw if ch.isalnum() or ch == "-")[:64] or "no-session"


def session_upload_dir() -> Path:
    return settings_module.current().upload_dir / f"session-{_session_id()}"


def _private_dir(path: Path) -> Path:
    """Create `path` readable by this user only, and refuse one that someone else prepared
    (a shared temp folder could hold a link planted to catch the uploads)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise OSError(0, f"{path} is not a private folder of this server")
    os.chmod(path, 0o700)
    return path


def _new_upload_folder() -> Path:
    settings = settings_module.current()
    _private_dir(settings.upload_dir)
    session = _private_dir(session_upload_dir())
    return Path(tempfile.mkdtemp(dir=session, prefix="upload-"))


def _prune_uploads(keep: set[Path]) -> None:
    """Remove this session's older uploads (except the one in use) and other sessions' after a day."""
    in_use = {Path(p).resolve() for p in (st.session_state.get(SOURCE_KEY), (st.session_state.get(CANDIDATE_KEY) or {}).get("path")) if p}
    keep = {p.resolve() for p in keep} | in_use
    mine = session_upload_dir()
    now = time.time()
    base = settings_module.current().upload_dir
    for session in base.glob("session-*"):
        for folder in session.glob("upload-*"):
            old = now - folder.stat().st_mtime > UPLOAD_MAX_AGE_S
            if folder.resolve() not in keep and (session == mine or old):
                shutil.rmtree(folder, ignore_errors=True)


def _short(text: str, chars: int = 60) -> str:
    text = str(text).replace("\n", " ")
    return text if len(text) <= chars else text[: chars - 1] + "…"


def escape_markdown(text: str) -> str:
    """Data-derived text shown as text, never as Markdown or HTML."""
    return "".join("\\" + ch if ch in "\\`*_{}[]()#+-.!<>|~$:" else ch for ch in str(text))


_escape = escape_markdown  # the former name
