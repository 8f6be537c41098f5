"""Data: what source is loaded, what was rejected and why, which metrics it can feed; choosing
another source (a path on the server or uploaded files), checked before it is used; glossary."""
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.engine import cache
from dashboard.engine.export import describe_params
from dashboard.engine.families import families
from dashboard.engine.metrics import METRIC_TABLES
from dashboard.engine.source import Source, SourceError
from dashboard.review.exported import WEEKLY_COLUMN, ExportedSource
from dashboard.ui import session, widgets
from dashboard.ui.source import (CANDIDATE_KEY, allowed_dirs, check_path, check_uploads, chosen_source_path,
                                 current_source_path, discard_candidate, escape_markdown, is_demo, open_current,
                                 reload_source, upload_limit_mb, use_candidate, use_default)

GLOSSARY = Path(__file__).resolve().parents[2] / "docs" / "glossary.md"


def report(src: Source | ExportedSource, prefix: str, params) -> None:
    """Rows read, loaded and rejected per table; rejected rows by reason; warnings; metric tables."""
    if isinstance(src, ExportedSource):
        exported_report(src, prefix, params)
        return
    rows = pd.DataFrame([
        {"table": r.table, "file": r.origin, "rows_read": r.rows_read, "rows_loaded": r.rows_loaded,
         "rows_rejected": r.rows_rejected, "duplicates_merged": r.duplicates_merged,
         "columns_given": ", ".join(r.columns_present)}
        for r in src.tables.values()
    ])
    widgets.table(rows, f"{prefix}source_tables", params)

    st.subheader("Rejected rows")
    problems = pd.DataFrame([
        {"table": p.table, "column": p.column, "reason": p.reason, "rows": p.rows,
         "example_rows": ", ".join(map(str, p.examples))}
        for r in src.tables.values() for p in r.problems
    ], columns=["table", "column", "reason", "rows", "example_rows"])
    if problems.empty:
        st.success("Every row of every table follows the data contract.")
    else:
        st.caption("Row numbers count data rows from 1 (the header is not a row). Rejected rows are left out of "
                   "every metric; the other rows of the same file are loaded.")
        widgets.table(problems, f"{prefix}source_rejected_rows", params)

    notes = pd.DataFrame(src.notes, columns=["table", "warning"])
    if not notes.empty:
        st.subheader("Warnings")
        st.caption("Nothing was rejected for these, but they may change what the numbers mean.")
        widgets.table(notes, f"{prefix}source_warnings", params)

    st.subheader("Metric tables")
    status = pd.DataFrame([
        {"table": f.table, "available": f.available, "note": f.note} for f in families(src)
    ])
    widgets.table(status, f"{prefix}source_metric_tables", params)


def exported_report(src: ExportedSource, prefix: str, params) -> None:
    """What an exported folder holds: its tables, their weeks, and how they were computed."""
    st.info("This source is a folder of exported metric tables: the pages show them as computed by the export "
            "(only the date filter narrows them). Analyses that need the raw events (experiment details, "
            "offline ↔ online pairs and trends) are not available.", icon=":material/inventory_2:")
    rows = []
    for table in METRIC_TABLES:
        frame = src.tables.get(table)
        column = WEEKLY_COLUMN.get(table)
        weeks = frame[column].dropna() if frame is not None and column in frame else pd.Series(dtype="datetime64[us]")
        rows.append({"table": table, "in_folder": frame is not None, "rows": len(frame) if frame is not None else 0,
                     "first_week": weeks.min().date() if not weeks.empty else None,
                     "last_week": weeks.max().date() if not weeks.empty else None})
    widgets.table(pd.DataFrame(rows), f"{prefix}exported_tables", params)
    if src.params is None:
        st.caption("No export.json in the folder: the parameters these tables were computed with are unknown.")
        return
    # As the export's zip README says them, with when and by which engine the export was made.
    facts = {**describe_params(src.about.get("source", "unknown"), src.params),
             "made at": src.about.get("made_at", "unknown"), "engine": src.about.get("engine", "unknown")}
    widgets.table(pd.DataFrame({"setting": list(facts), "value": list(facts.values())}),
                  f"{prefix}export_parameters", params)


def candidate_section(params) -> None:
    """The checked source waiting for confirmation: its report first, then "Use this source"."""
    candidate = st.session_state.get(CANDIDATE_KEY)
    if not candidate:
        return
    with st.container(border=True):
        st.subheader("Check of the new source")
        st.code(candidate["display"], language=None)
        for note in candidate.get("notes", []):
            st.warning(escape_markdown(note))
        if not candidate["problems"]:
            try:
                checked = open_current(candidate["path"], allowed_dirs())
            except SourceError as exc:
                candidate["problems"] = exc.problems
        if candidate["problems"]:
            st.error("This source cannot be used; the current one stays.", icon=":material/block:")
            st.dataframe(pd.DataFrame({"problem": candidate["problems"]}), hide_index=True)
            st.button("Dismiss", on_click=discard_candidate, key="candidate_dismiss")
            return
        st.success("This source can be used. What it holds:", icon=":material/check_circle:")
        report(checked, "candidate_", params)
        left, right = st.columns(2)
        left.button("Use this source", type="primary", on_click=use_candidate, key="candidate_use",
                    icon=":material/swap_horiz:")
        right.button("Discard", on_click=discard_candidate, key="candidate_discard")


source, params = session.current()
st.title("Data")

st.header("Source")
label = "the built-in demo marketplace" if is_demo(str(source.path)) else "your data"
st.markdown(f"Showing **{label}**, loaded at {source.loaded_at:%Y-%m-%d %H:%M} UTC from:")
st.code(str(source.path), language=None)
if isinstance(source, Source):
    loaded = cache.status(source)
    if loaded is not None:
        if loaded.from_copy:
            st.caption(f"Using the validated copy from {loaded.validated_at:%Y-%m-%d %H:%M:%S} UTC: the files have "
                       "not changed since they were checked, so they were not read again.")
        else:
            st.caption(f"Loaded and validated when it was opened ({escape_markdown(loaded.why)}).")
        for warning in loaded.warnings:
            st.warning(escape_markdown(warning))
    st.button("Load and check again", on_click=reload_source, args=(current_source_path(),), key="source_reload",
              icon=":material/refresh:", help="Read and validate the files anew instead of using the validated copy "
                                              "of this unchanged source")
if chosen_source_path():
    st.button("Back to the default source", on_click=use_default, key="source_default")

with st.expander("Use another source", expanded=bool(st.session_state.get(CANDIDATE_KEY))):
    by_path, by_upload = st.tabs(["A folder or .duckdb file on the server", "Upload table files"])
    with by_path:
        with st.form("choose_source"):
            path = st.text_input("Path of a folder of table files or of a .duckdb file", placeholder="/path/to/source")
            submitted = st.form_submit_button("Check")
        st.caption("Only paths inside these folders can be opened (set by the server's RECDASH_ALLOWED_DIRS):")
        st.code("\n".join(str(d) for d in allowed_dirs(uploads=False)), language=None)
        if submitted and path:
            st.session_state[CANDIDATE_KEY] = check_path(path)
    with by_upload:
        limit = upload_limit_mb()
        with st.form("upload_source"):
            files = st.file_uploader(
                "Table files named after their table: events.csv, orders.parquet, items.csv.gz, …",
                type=["csv", "gz", "parquet"], accept_multiple_files=True, max_upload_size=limit, key="upload_files",
            )
            uploaded = st.form_submit_button("Check these files")
        st.caption(f"Up to {limit} MB. The files are kept in a private folder of this session on the server and "
                   "seen by nobody else.")
        if uploaded and files:
            st.session_state[CANDIDATE_KEY] = check_uploads(files)
    candidate_section(params)

st.header("Tables")
report(source, "", params)

st.header("Glossary")
st.markdown(GLOSSARY.read_text(encoding="utf-8") if GLOSSARY.exists() else "The glossary file is missing.")
