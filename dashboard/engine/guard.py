"""Protections around what users can make the server do: which paths they may open, and how
long one query may run.

`allowed_path` resolves a path a user typed (symlinks, `..`, `~`) and refuses it unless it lies
inside one of the allowed folders. `time_limit` interrupts a DuckDB cursor whose statement runs
longer than the limit and raises `QueryTimeout`; other cursors of the same database, in other
threads, keep working.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import duckdb

from dashboard.engine.sql import plain_text


class PathRefused(ValueError):
    """A path a user gave is not one this server may read; the message says why in a sentence."""


class QueryTimeout(RuntimeError):
    """A query ran longer than the configured limit and was stopped."""

    def __init__(self, seconds: float, what: str = "The computation"):
        self.seconds = seconds
        self.what = what
        super().__init__(
            f"{what} took longer than the limit of {seconds:g} s and was stopped, so that other users "
            "of this server are not slowed down. Narrow the filters (fewer weeks or blocks) and try "
            "again; an administrator can raise the limit with RECDASH_QUERY_TIMEOUT_S."
        )


# --- paths ------------------------------------------------------------------------------------

def allowed_path(text: str | Path, allowed_dirs: Sequence[Path], cwd: Path | None = None,
                 shown: Sequence[Path] | None = None) -> Path:
    """The real path of `text` (symlinks and `..` resolved) when it lies inside an allowed folder.

    Raises PathRefused otherwise, or when it does not exist. The allowed folders are resolved
    too, so that a symlinked allowed folder still matches its real location. `shown`: the
    folders the refusal lists (default: all of `allowed_dirs`).
    """
    raw = str(text).strip()
    if not raw:
        raise PathRefused("Give the path of a folder of table files or of a .duckdb file.")
    if "\x00" in raw:
        raise PathRefused("That path contains a NUL character; it is not a file name.")
    try:
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = (cwd or Path.cwd()) / path
        real = path.resolve()
        exists = real.exists()
    except (OSError, RuntimeError, ValueError) as exc:  # too long, symlink loop, bad user in ~user
        raise PathRefused(f"{raw}: not a usable path ({exc.__class__.__name__}).") from None
    if not is_inside(real, allowed_dirs):
        folders = ", ".join(str(d) for d in (allowed_dirs if shown is None else shown)) or "none"
        raise PathRefused(
            f"{raw}: this server only opens sources inside its allowed folders ({folders}). "
            "An administrator can add folders with RECDASH_ALLOWED_DIRS."
        )
    if not exists:
        raise PathRefused(f"{raw}: no such folder or file.")
    return real


def is_inside(path: Path, folders: Sequence[Path]) -> bool:
    """Whether the real `path` lies in (or is) one of the real `folders`."""
    real = path.resolve()
    for folder in folders:
        try:
            if real.is_relative_to(Path(folder).resolve()):
                return True
        except (OSError, RuntimeError):
            continue
    return False


# --- query time limit -------------------------------------------------------------------------

@contextmanager
def time_limit(cursor: duckdb.DuckDBPyConnection, seconds: float | None, what: str = "The computation") -> Iterator[None]:
    """Interrupt `cursor` when the block runs longer than `seconds`; raise QueryTimeout then.

    Use one cursor per thread (`Source.cursor()`): the interrupt stops that cursor's statement
    only, and other cursors of the same database keep answering. `None` or 0 means no limit.

    Once the time is up the cursor is interrupted again every 50 ms until the block ends: an
    interrupt that lands between two statements is lost (DuckDB ignores it on an idle cursor),
    and the block's next statement must not run unbounded. A lock orders the interrupts with
    the block's end, so none can hit a statement run after the block.
    """
    if not seconds:
        yield
        return
    lock = threading.Lock()
    done = threading.Event()
    state = {"active": True, "fired": False}

    def watch() -> None:
        if done.wait(seconds):
            return
        while True:
            with lock:
                if not state["active"]:
                    return
                state["fired"] = True
                cursor.interrupt()
            if done.wait(0.05):
                return

    watcher = threading.Thread(target=watch, name="recdash-query-time-limit", daemon=True)
    watcher.start()
    try:
        yield
    except duckdb.InterruptException:
        if state["fired"]:
            raise QueryTimeout(seconds, what) from None
        raise
    finally:
        with lock:
            state["active"] = False
        done.set()


def run_limited(cursor: duckdb.DuckDBPyConnection, sql: str, params: dict | None, seconds: float | None,
                what: str = "The query"):
    """`cursor.execute(sql, params).df()` under `time_limit` — for callers with one statement."""
    with time_limit(cursor, seconds, what):
        return plain_text(cursor.execute(sql, params or {}).df())
