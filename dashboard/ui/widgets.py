"""Streamlit pieces the pages share: tables with downloads, charts with their data, KPI cards."""
from __future__ import annotations

import re

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.engine.export import csv_text
from dashboard.engine.params import Params
from dashboard.review.kpis import Movement
from dashboard.formatting import column_kind, format_change, format_value, is_no_change
from dashboard.memo import memoised

COLUMN_FORMATS = {"share": "percent", "money": "%,.2f", "minutes": "%.1f min", "ratio": "%.3f", "p": "%.4f",
                  "count": "localized"}
NO_DATA = "No data for this selection."
# A KPI card's width (px): the longest label ("Sold again next week ⚑" with its help icon) and a
# delta with its comparison label ("+0.7 min  vs previous week") fit on one line each. Cards
# flow into as many per row as the page has room for (3 at 1280 px, 5 at 1920 px), never cut.
KPI_CARD_WIDTH = 240


def download_name(what: str, params: Params) -> str:
    """A file name that says what the table is and which filters made it."""
    parts = [what]
    if params.start or params.end:
        parts.append(f"{params.start or 'first'}_to_{params.end or 'last'}")
    parts.append("blocks-" + ("+".join(params.blocks) if params.blocks else "all"))
    parts.append(f"platform-{params.platform or 'all'}")
    parts.append(f"tz-{params.tz}")
    parts.append(f"window-{params.window_days}d")
    if "seller" in what:
        parts.append(f"n-{params.n_sales}")
    if "offline" in what:
        parts.append(f"k-{params.k}")
    name = "__".join(parts)
    return re.sub(r"[^A-Za-z0-9_.+-]", "-", name) + ".csv"


def download(frame: pd.DataFrame, what: str, params: Params, label: str = "Download CSV") -> None:
    # Not a callable for a download on click: a click during a rerun of the page would ask for a
    # callable that rerun has replaced, and get nothing. The text is memoised by content instead.
    st.download_button(label, _csv(frame), file_name=download_name(what, params), mime="text/csv",
                       key=f"download-{what}", on_click="ignore", icon=":material/download:")


_csv = memoised(csv_text)


# A text column whose longest value is longer than this many characters is shown at a medium
# width (its cells cut, the whole text on hover, in the cell and in the CSV), so that one long
# verdict or experiment name does not push the numbers beside it out of view.
LONG_TEXT = 40


def column_config(frame: pd.DataFrame, pinned: tuple[str, ...] = ()) -> dict:
    config = {}
    for column in frame.columns:
        if column == "week_start" or column == "cohort_week":
            config[column] = st.column_config.DateColumn(column, format="YYYY-MM-DD")
        elif pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column]):
            config[column] = st.column_config.NumberColumn(column, format=COLUMN_FORMATS[column_kind(column)])
        elif frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            longest = frame[column].astype("string").str.len().max()
            if pd.notna(longest) and longest > LONG_TEXT:
                config[column] = st.column_config.TextColumn(column, width="medium")
        if column in pinned:
            config[column] = config.get(column) or st.column_config.Column(column)
            config[column]["pinned"] = True
    return config


def table(frame: pd.DataFrame | None, what: str, params: Params, reason: str | None = None, height: int | None = None,
          pinned: tuple[str, ...] = ()) -> None:
    """A data table formatted for people, with its unrounded CSV download.

    `pinned`: columns that stay in view when the table scrolls sideways (put them first)."""
    if frame is None:
        unavailable(reason)
        return
    if frame.empty:
        st.info(NO_DATA)
        return
    st.dataframe(frame, hide_index=True, column_config=column_config(frame, pinned), height=height or "auto")
    download(frame, what, params)


def chart(fig: go.Figure, data: pd.DataFrame, what: str, params: Params) -> None:
    """A chart and, under it, the download of exactly the data it draws."""
    st.plotly_chart(fig, key=f"chart-{what}")
    download(data, what, params, label="Download chart data (CSV)")


def unavailable(reason: str | None) -> None:
    st.info(f"Not available for this data source. {reason or ''}".strip())


def require(frame: pd.DataFrame | None, reason: str | None) -> pd.DataFrame:
    """The table, or stop the page with why it is unavailable or that the selection is empty."""
    if frame is None:
        unavailable(reason)
        st.stop()
    if frame.empty:
        st.info(NO_DATA)
        st.stop()
    return frame


def kpi_row(cards: list[Movement]) -> None:
    """One row of KPI cards, or a sentence when the stakeholder has none for this source."""
    if not cards:
        st.info("No headline metric is available for this stakeholder with this data source.")
        return
    with st.container(horizontal=True, gap="small"):
        for m in cards:
            kpi(m)


def kpi(m: Movement) -> None:
    kind = m.headline.kind
    label = m.headline.label + (" ⚑" if m.unusual else "")
    help_text = _kpi_help(m)
    change = format_change(m.change, kind)
    no_change = is_no_change(change)  # grey and without an arrow: zero is neither good nor bad
    st.metric(
        label,
        format_value(m.value, kind),
        delta=change,
        delta_color="off" if no_change else ("normal" if m.headline.higher_is_better else "inverse"),
        delta_arrow="off" if no_change else "auto",
        help=help_text,
        border=True,
        width=KPI_CARD_WIDTH,
        height="stretch",
        chart_data=[v for v in m.history if v == v] or None,
        delta_description="vs previous week",
    )


def _kpi_help(m: Movement) -> str:
    kind = m.headline.kind
    lines = [
        f"Week of {m.week_start:%Y-%m-%d}." if m.week_start is not None else "",
        f"Previous week: {format_value(m.previous, kind)}.",
        f"4-week average before: {format_value(m.avg4, kind)} (change {format_change(m.change_vs_avg4, kind) or '—'}).",
        ("Higher is better." if m.headline.higher_is_better else "Lower is better."),
    ]
    if m.unusual:
        lines.append("⚑ This change is larger than 2 standard deviations of the previous 8 weekly changes.")
    return " ".join(line for line in lines if line)
