"""Headline metrics per stakeholder, and how this week compares with the weeks before.

Pure pandas on the (small) weekly metric tables, shared by the Overview page and the weekly
review. A change is "unusual" when it is larger than 2 standard deviations of the previous 8
week-over-week changes of the same metric: the metric's own noise sets the bar.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

NOISE_WEEKS = 8
NOISE_SIGMAS = 2.0


@dataclass(frozen=True)
class Headline:
    stakeholder: str
    label: str
    table: str
    column: str
    higher_is_better: bool
    kind: str  # "count", "share", "money", "minutes", "ratio"
    block: str | None = None  # row filter for per-block tables
    measure: str | None = None  # row filter for time_to_purchase_weekly
    basis: str | None = None
    # Read off an earlier week: "retention next week" of the last week is not known yet.
    lag_weeks: int = 0


HEADLINES: tuple[Headline, ...] = (
    Headline("Buyers", "CTR (all blocks)", "buyer_weekly", "ctr", True, "share", block="ALL"),
    Headline("Buyers", "Buyer conversion", "buyer_weekly", "buyer_conversion", True, "share", block="ALL"),
    Headline("Buyers", "Click conversion", "buyer_weekly", "click_conversion", True, "share", block="ALL"),
    Headline("Buyers", "Click→buy median", "time_to_purchase_weekly", "median_min", False, "minutes",
             block="ALL", measure="click_to_purchase"),
    Headline("Buyers", "Price index", "price_weekly", "price_index", False, "ratio"),
    Headline("Sellers", "Share > N sales", "seller_weekly", "share_gt_n", True, "share"),
    Headline("Sellers", "Sellers with a sale", "seller_weekly", "sellers_with_sales", True, "count"),
    Headline("Sellers", "Sold again next week", "seller_weekly", "seller_retention_next_week", True, "share",
             lag_weeks=1),
    Headline("Sellers", "Review replies", "seller_weekly", "reply_share", True, "share"),
    Headline("Sellers", "GMV Gini", "seller_weekly", "gmv_gini", False, "ratio"),
    Headline("Business", "WAU", "business_weekly", "wau", True, "count"),
    Headline("Business", "Average DAU", "business_weekly", "dau_avg", True, "count"),
    Headline("Business", "GMV", "business_weekly", "gmv", True, "money"),
    Headline("Business", "Contribution", "business_weekly", "contribution", True, "money"),
    Headline("Business", "Margin", "business_weekly", "margin", True, "share"),
    Headline("Business", "Rec. GMV share", "business_weekly", "rec_gmv_share", True, "share"),
)


@dataclass(frozen=True)
class Movement:
    headline: Headline
    week_start: pd.Timestamp | None
    value: float | None
    previous: float | None
    change: float | None  # vs the previous week
    avg4: float | None  # mean of the 4 weeks before
    change_vs_avg4: float | None
    noise: float | None  # std of the previous 8 weekly changes
    unusual: bool
    history: list[float]  # up to 8 weeks ending at this one, for sparklines

    @property
    def good(self) -> bool | None:
        if self.change is None or self.change == 0:
            return None
        return (self.change > 0) == self.headline.higher_is_better


def series_for(headline: Headline, frame: pd.DataFrame) -> pd.Series:
    """The headline's weekly values, indexed by week_start, in order."""
    rows = frame
    for column in ("block", "measure", "basis"):
        wanted = getattr(headline, column)
        if wanted is not None and column in rows.columns:
            rows = rows[rows[column] == wanted]
    values = pd.to_numeric(rows.set_index("week_start")[headline.column], errors="coerce").astype("float64")
    return values.sort_index()


def last_complete_week(business_weekly: pd.DataFrame) -> pd.Timestamp | None:
    complete = business_weekly[business_weekly["is_complete"].astype(bool)]
    return None if complete.empty else complete["week_start"].max()


def movement(headline: Headline, values: pd.Series, week: pd.Timestamp) -> Movement:
    """How `values` moved in `week`; weeks after it are ignored (they may be incomplete)."""
    upto = values[values.index <= week]
    if upto.empty or upto.index[-1] != week:
        return Movement(headline, week, None, None, None, None, None, None, False, [])
    value = _num(upto.iloc[-1])
    previous = _num(upto.iloc[-2]) if len(upto) > 1 else None
    change = value - previous if value is not None and previous is not None else None
    before = upto.iloc[:-1].tail(4).dropna()
    avg4 = float(before.mean()) if len(before) else None
    change_vs_avg4 = value - avg4 if value is not None and avg4 is not None else None
    past_changes = upto.iloc[:-1].diff().dropna().tail(NOISE_WEEKS)
    noise = float(past_changes.std(ddof=1)) if len(past_changes) >= 3 else None
    unusual = bool(change is not None and noise is not None and abs(change) > NOISE_SIGMAS * noise and noise >= 0)
    if noise == 0 and change:
        unusual = True  # a flat metric that moves at all has moved beyond its noise
    history = [float(v) if v is not None and not math.isnan(v) else math.nan for v in upto.tail(8)]
    return Movement(headline, week, value, previous, change, avg4, change_vs_avg4, noise, unusual, history)


def movements(tables: dict[str, pd.DataFrame], week: pd.Timestamp) -> list[Movement]:
    """Every headline whose table is available, in headline order."""
    return [
        movement(h, series_for(h, tables[h.table]), week - pd.Timedelta(weeks=h.lag_weeks))
        for h in HEADLINES
        if h.table in tables and h.column in tables[h.table].columns
    ]


def what_moved(found: list[Movement]) -> list[Movement]:
    """The movements beyond their usual noise, largest (in noise units) first."""
    unusual = [m for m in found if m.unusual]
    return sorted(unusual, key=lambda m: -(abs(m.change) / m.noise if m.noise else math.inf))


def _num(value) -> float | None:
    if value is None or value is pd.NA:
        return None
    value = float(value)
    return None if math.isnan(value) else value
