"""Pure chart builders: DataFrame in, Plotly figure out. No Streamlit, no data access."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.formatting import column_kind

AXIS_FORMAT = {"share": ".1%", "money": ",.0f", "minutes": ",.0f", "count": ",.0f", "ratio": ".3f", "p": ".3f"}
GOOD, BAD, NEUTRAL = "#1a7f37", "#cf222e", "#57606a"


def _layout(fig: go.Figure, title: str, y_kind: str = "count", height: int = 360) -> go.Figure:
    fig.update_layout(
        title=title, height=height, margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", yanchor="top", y=-0.12, xanchor="left", x=0),
        hovermode="x unified",
    )
    fig.update_yaxes(tickformat=AXIS_FORMAT.get(y_kind, ",.0f"), rangemode="tozero")
    return fig


def weekly_lines(frame: pd.DataFrame, columns: list[str], title: str, by: str | None = None,
                 labels: dict[str, str] | None = None) -> go.Figure:
    """One line per column (or per value of `by` when one column), x = week_start."""
    fig = go.Figure()
    labels = labels or {}
    kind = column_kind(columns[0])
    if by is not None:
        for key, part in frame.groupby(by, sort=True):
            fig.add_trace(go.Scatter(x=part["week_start"], y=part[columns[0]], mode="lines+markers", name=str(key)))
    else:
        for column in columns:
            fig.add_trace(go.Scatter(x=frame["week_start"], y=frame[column], mode="lines+markers",
                                     name=labels.get(column, column)))
    return _layout(fig, title, kind)


FUNNEL_STAGES = {
    "impressions": "Impressions",
    "clicks": "Clicks",
    "attributed_carts": "Carts (attributed)",
    "attributed_lines": "Purchases (attributed lines)",
}


def funnel(totals: pd.Series, title: str) -> go.Figure:
    """totals: impressions, clicks, attributed_carts, attributed_lines of one block."""
    fig = go.Figure(go.Funnel(
        y=list(FUNNEL_STAGES.values()), x=[totals[s] for s in FUNNEL_STAGES],
        texttemplate="%{value:,.0f}<br>%{percentPrevious:.1%} of previous", marker=dict(color="#0969da"),
    ))
    fig.update_layout(title=title, height=360, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def quantile_lines(frame: pd.DataFrame, title: str) -> go.Figure:
    fig = go.Figure()
    for column, name, dash in (("median_min", "median", "solid"), ("p75_min", "p75", "dash"), ("p90_min", "p90", "dot")):
        fig.add_trace(go.Scatter(x=frame["week_start"], y=frame[column], name=name, mode="lines+markers",
                                 line=dict(dash=dash)))
    fig = _layout(fig, title, "minutes")
    fig.update_yaxes(title="minutes")
    return fig


def naive_vs_matched(frame: pd.DataFrame, title: str) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=frame["week_start"], y=frame["naive_diff"], name="naive difference", mode="lines+markers"))
    fig.add_trace(go.Scatter(x=frame["week_start"], y=frame["matched_diff"], name="matched difference (like with like)",
                             mode="lines+markers"))
    fig.add_hline(y=0, line_color=NEUTRAL, line_width=1)
    fig = _layout(fig, title, "share")
    fig.update_yaxes(rangemode="normal", title="conversion with − without")
    return fig


def retention_heatmap(frame: pd.DataFrame, title: str) -> go.Figure:
    """frame: rows of one basis and category."""
    grid = frame.pivot_table(index="cohort_week", columns="weeks_since", values="retention", aggfunc="first")
    grid = grid.sort_index()
    sizes = frame.drop_duplicates("cohort_week").set_index("cohort_week")["cohort_size"].reindex(grid.index)
    y = [f"{pd.Timestamp(w):%Y-%m-%d} (n={int(n):,})" for w, n in zip(grid.index, sizes)]
    fig = go.Figure(go.Heatmap(
        z=grid.values, x=[f"+{int(c)}" for c in grid.columns], y=y, colorscale="Blues", zmin=0, zmax=1,
        text=[[("" if pd.isna(v) else f"{v:.0%}") for v in row] for row in grid.values], texttemplate="%{text}",
        hovertemplate="cohort %{y}<br>week %{x}<br>retention %{z:.1%}<extra></extra>",
        colorbar=dict(tickformat=".0%"),
    ))
    fig.update_layout(title=title, height=max(320, 24 * len(y) + 120), margin=dict(l=10, r=10, t=50, b=10))
    fig.update_yaxes(autorange="reversed", title="cohort week")
    fig.update_xaxes(title="weeks since first week", side="top")
    return fig


def waterfall(row: pd.Series, title: str) -> go.Figure:
    """From GMV to contribution for one week (or a sum of weeks)."""
    gmv, returns, net = float(row["gmv"]), float(row["returns_gmv"]), float(row["net_gmv"])
    commission, ads = float(row["commission"]), float(row["ad_revenue"] if pd.notna(row["ad_revenue"]) else 0)
    delivery, discount = float(row["delivery_cost"]), float(row["discount"])
    steps = [
        ("GMV", "absolute", gmv),
        ("Returns", "relative", -returns),
        ("Net GMV", "total", 0),
        ("Sellers' share", "relative", -(net - commission)),
        ("Commission", "total", 0),
        ("Ad revenue", "relative", ads),
        ("Delivery costs", "relative", -delivery),
        ("Discounts", "relative", -discount),
        ("Contribution", "total", 0),
    ]
    fig = go.Figure(go.Waterfall(
        x=[s[0] for s in steps], measure=[s[1] for s in steps], y=[s[2] for s in steps],
        increasing=dict(marker_color=GOOD), decreasing=dict(marker_color=BAD), totals=dict(marker_color="#0969da"),
        texttemplate="%{y:,.0f}", textposition="outside",
    ))
    fig.update_layout(title=title, height=420, margin=dict(l=10, r=10, t=50, b=10), showlegend=False)
    fig.update_yaxes(tickformat=",.0f")
    return fig


def sparkline(values: list[float]) -> go.Figure:
    fig = go.Figure(go.Scatter(y=values, mode="lines", line=dict(width=2, color=NEUTRAL)))
    fig.update_layout(height=60, margin=dict(l=0, r=0, t=0, b=0), showlegend=False)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig
