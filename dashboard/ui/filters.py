"""The global filters in the sidebar, shared by every page and mirrored in the URL."""
from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

import streamlit as st

from dashboard.engine.export import describe_params
from dashboard.engine.params import Params
from dashboard.engine.source import Source
from dashboard.review.exported import ExportedSource

COMMON_ZONES = ["UTC", "Europe/London", "Europe/Berlin", "Europe/Moscow", "America/New_York",
                "America/Los_Angeles", "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney"]
ALL_PLATFORMS = "All platforms"


@st.cache_data(show_spinner=False, max_entries=16)
def source_facts(source_key: str, _source: Source) -> dict:
    """Dates, blocks and platforms to offer; `source_key` identifies the loaded source."""
    cur = _source.cursor()
    try:
        first, last = cur.execute(
            "select cast(min(ts) as date), cast(max(ts) as date) from (select ts from events union all select ts from orders)"
        ).fetchone()
        blocks = [r[0] for r in cur.execute("select distinct block from events where block is not null order by 1").fetchall()]
        platforms = [r[0] for r in cur.execute("select distinct platform from events where platform is not null order by 1").fetchall()]
    finally:
        cur.close()
    return {"first": first, "last": last, "blocks": blocks, "platforms": platforms}


def source_key(source: Source | ExportedSource) -> str:
    return f"{source.path}|{source.loaded_at.isoformat()}"


@functools.cache
def zone_choices() -> list[str]:
    """The common zones first, then every other IANA zone (read from disk once per process)."""
    return COMMON_ZONES + sorted(zoneinfo.available_timezones() - set(COMMON_ZONES))


def sidebar(source: Source | ExportedSource) -> Params:
    if isinstance(source, ExportedSource):
        return exported_sidebar(source)
    facts = source_facts(source_key(source), source)
    bar = st.sidebar
    bar.header("Filters")
    first, last = facts["first"] or dt.date.today(), facts["last"] or dt.date.today()
    dates = bar.date_input("Dates (whole weeks are shown)", value=(first, last), min_value=first, max_value=last,
                           key="dates", bind="query-params", format="YYYY-MM-DD")
    start, end = _date_range(dates, first, last)
    blocks = bar.multiselect("Recommendation blocks", facts["blocks"], default=None, key="blocks",
                             placeholder="All blocks", bind="query-params")
    platform = bar.selectbox("Platform", [ALL_PLATFORMS, *facts["platforms"]], key="platform", bind="query-params")
    window = bar.number_input("Attribution window (days)", min_value=1, max_value=60, value=7, step=1,
                              key="window", bind="query-params")
    n_sales = bar.number_input("N: sales per week for the seller share", min_value=0, max_value=10_000, value=5,
                               step=1, key="n", bind="query-params")
    tz = bar.selectbox("Reporting time zone", zone_choices(), key="tz", bind="query-params")
    k = st.session_state.get("k", 10)
    return Params(
        tz=tz,
        window_days=int(window),
        n_sales=int(n_sales),
        k=int(k),
        start=start if start != first else None,
        end=end if end != last else None,
        blocks=tuple(blocks) if blocks else None,
        platform=None if platform == ALL_PLATFORMS else platform,
    )


def _date_range(value, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    # While a range is being picked the widget holds one date only.
    if isinstance(value, (tuple, list)):
        if len(value) == 2:
            return value[0], value[1]
        if len(value) == 1:
            return value[0], last
        return first, last
    return value, value


def exported_sidebar(source: ExportedSource) -> Params:
    """Exported tables were computed with one set of filters: only the weeks can still be narrowed
    (a weekly row does not depend on the weeks around it); the rest is shown, not offered."""
    bar = st.sidebar
    bar.header("Filters")
    first, last = source.weeks()
    first, last = first or dt.date.today(), (last + dt.timedelta(days=6)) if last else dt.date.today()
    dates = bar.date_input("Dates (whole weeks are shown)", value=(first, last), min_value=first, max_value=last,
                           key="dates", bind="query-params", format="YYYY-MM-DD")
    start, end = _date_range(dates, first, last)
    fixed = source.params or Params()
    if source.params is None:
        bar.caption("Exported metric tables whose parameters are not recorded (no export.json): "
                    "they are shown as they were written.")
    else:
        settings = describe_params(source.name, fixed)
        bar.caption("Exported metric tables, computed with: "
                    + " · ".join(f"{what} {value}" for what, value in settings.items() if what not in ("source", "made at"))
                    + ". Export again to change them.")
    return Params(tz=fixed.tz, window_days=fixed.window_days, n_sales=fixed.n_sales, k=fixed.k,
                  start=start if start != first else None, end=end if end != last else None,
                  blocks=fixed.blocks, platform=fixed.platform)
