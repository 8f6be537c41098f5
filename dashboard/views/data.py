"""Data: what source is loaded, what was rejected and why, which metrics it can feed; glossary."""
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.core.families import families
from dashboard.core.source import SourceError, load_source
from dashboard.ui import session, widgets
from dashboard.ui.source import SOURCE_KEY, is_demo, open_source

GLOSSARY = Path(__file__).resolve().parents[2] / "docs" / "glossary.md"

source, params = session.current()
st.title("Data")

st.header("Source")
label = "the built-in demo marketplace" if is_demo(str(source.path)) else "your data"
st.markdown(f"Showing **{label}**, loaded at {source.loaded_at:%Y-%m-%d %H:%M} UTC from:")
st.code(str(source.path), language=None)

with st.form("choose_source"):
    path = st.text_input("Another source: a folder of table files or a .duckdb file", placeholder="/path/to/source")
    submitted = st.form_submit_button("Check and use")
if submitted and path:
    try:
        with st.spinner("Checking the new source…"):
            candidate = load_source(path)
    except SourceError as exc:
        st.error("That source cannot be used; the current one stays:")
        st.dataframe(pd.DataFrame({"problem": exc.problems}), hide_index=True)
    else:
        candidate.con.close()
        open_source.clear()
        st.session_state[SOURCE_KEY] = path
        st.rerun()

st.header("Tables")
rows = pd.DataFrame([
    {"table": r.table, "file": r.origin, "rows_read": r.rows_read, "rows_loaded": r.rows_loaded,
     "rows_rejected": r.rows_rejected, "duplicates_merged": r.duplicates_merged,
     "columns_given": ", ".join(r.columns_present)}
    for r in source.tables.values()
])
widgets.table(rows, "source_tables", params)

st.header("Rejected rows")
problems = pd.DataFrame([
    {"table": p.table, "column": p.column, "reason": p.reason, "rows": p.rows,
     "example_rows": ", ".join(map(str, p.examples))}
    for r in source.tables.values() for p in r.problems
], columns=["table", "column", "reason", "rows", "example_rows"])
if problems.empty:
    st.success("Every row of every table follows the data contract.")
else:
    st.caption("Row numbers count data rows from 1 (the header is not a row). Rejected rows are left out of every metric.")
    widgets.table(problems, "source_rejected_rows", params)

st.header("Metric tables")
status = pd.DataFrame([
    {"table": f.table, "available": f.available, "note": f.note} for f in families(source)
])
widgets.table(status, "source_metric_tables", params)

st.header("Glossary")
st.markdown(GLOSSARY.read_text(encoding="utf-8") if GLOSSARY.exists() else "The glossary file is missing.")
