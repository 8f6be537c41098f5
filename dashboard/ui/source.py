"""Which data source the dashboard shows: the one given on the command line or chosen on the
Data page, else the built-in demo marketplace (generated once into a cache folder)."""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import streamlit as st

from dashboard.core.source import Source, SourceError, load_source

DEMO_USERS, DEMO_WEEKS, DEMO_SEED = 20_000, 26, 7
SOURCE_KEY = "source_path"


def demo_dir() -> Path:
    """The cached demo's folder; its name changes whenever the generator's code does."""
    import dashboard.core.demo as demo

    version = hashlib.sha1(Path(demo.__file__).read_bytes()).hexdigest()[:8]
    base = Path(os.environ.get("RECDASH_CACHE", Path.home() / ".cache" / "recdash"))
    return base / f"demo-u{DEMO_USERS}-w{DEMO_WEEKS}-s{DEMO_SEED}-{version}"


def ensure_demo() -> Path:
    """The demo source's folder, generated on first use (atomically, so two servers can race)."""
    target = demo_dir()
    if (target / "events.parquet").exists():
        return target
    from dashboard.core.demo import generate

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


@st.cache_resource(show_spinner=False, max_entries=4)
def open_source(path: str) -> Source:
    """One loaded source per path, shared by every session; cursors are taken per query."""
    return load_source(path)


def current_source_path() -> str:
    chosen = st.session_state.get(SOURCE_KEY) or command_line_source()
    return chosen or str(ensure_demo())


def current_source() -> Source:
    """The source to show; a source that cannot be used stops the page with the reasons."""
    path = current_source_path()
    try:
        with st.spinner(f"Loading and checking {Path(path).name}…"):
            return open_source(path)
    except SourceError as exc:
        st.error(f"The data source {path} cannot be used:")
        for problem in exc.problems:
            st.markdown(f"- {_escape(problem)}")
        st.stop()
        raise  # st.stop() raises; this keeps type checkers calm


def is_demo(path: str) -> bool:
    return Path(path) == demo_dir()


def _escape(text: str) -> str:
    # Data-derived text is shown as text, never as Markdown or HTML.
    return "".join("\\" + ch if ch in "\\`*_{}[]()#+-.!<>|~$" else ch for ch in text)
