"""Pure chart builders: DataFrame in, Plotly figure out. No Streamlit, no data access.

Building a figure is mostly Plotly validating every property (~15 ms for a few weekly lines),
and a page rerun that changes nothing draws the same data again. So each builder is memoised on
the content of its arguments, and the figure it returns is shared: callers must not modify it
(what a chart needs, such as a reference line, is an argument of its builder).
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.formatting import column_kind
from dashboard.memo import memoised

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


@memoised
def weekly_lines(frame: pd.DataFrame, columns: list[str], title: str, by: str | None = None,
                 labels: dict[str, str] | None = None, reference_y: float | None = None) -> go.Figure:
    """One line per column (or per value of `by` when one column), x = week_start;
    `reference_y` draws a dotted horizontal line there (e.g. 1 = the market price)."""
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
    if reference_y is not None:
        fig.add_hline(y=reference_y, line_dash="dot")
    return _layout(fig, title, kind)


FUNNEL_STAGES = {
    "impressions": "Impressions",
    "clicks": "Clicks",
    "attributed_carts": "Carts (attributed)",
    "attributed_lines": "Purchases (attributed lines)",
}


@memoised
def funnel(totals: pd.Series, title: str) -> go.Figure:
    """totals: impressions, clicks, attributed_carts, attributed_lines of one block."""
    fig = go.Figure(go.Funnel(
        y=list(FUNNEL_STAGES.values()), x=[totals[s] for s in FUNNEL_STAGES],
        texttemplate="%{value:,.0f}<br>%{percentPrevious:.1%} of previous", marker=dict(color="#0969da"),
    ))
    fig.update_layout(title=title, height=360, margin=dict(l=10, r=10, t=50, b=10))
    return fig


@memoised
def quantile_lines(frame: pd.DataFrame, title: str) -> go.Figure:
    fig = go.Figure()
    for column, name, dash in (("median_min", "median", "solid"), ("p75_min", "p75", "dash"), ("p90_min", "p90", "dot")):
        fig.add_trace(go.Scatter(x=frame["week_start"], y=frame[column], name=name, mode="lines+markers",
                                 line=dict(dash=dash)))
    fig = _layout(fig, title, "minutes")
    # Times to purchase span minutes to days: a log axis keeps the median readable next to p90.
    fig.update_yaxes(title="minutes (log scale)", type="log", rangemode="normal")
    return fig


@memoised
def naive_vs_matched(frame: pd.DataFrame, title: str) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=frame["week_start"], y=frame["naive_diff"], name="naive difference", mode="lines+markers"))
    fig.add_trace(go.Scatter(x=frame["week_start"], y=frame["matched_diff"], name="matched difference (like with like)",
                             mode="lines+markers"))
    fig.add_hline(y=0, line_color=NEUTRAL, line_width=1)
    fig = _layout(fig, title, "share")
    fig.update_yaxes(rangemode="normal", title="conversion with − without")
    return fig


@memoised
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


@memoised
def waterfall(row: pd.Series, title: str) -> go.Figure:
    """From GMV to contribution for one week (or a sum of weeks)."""
    gmv, returns, net = float(row["gmv"]), float(row["returns_gmv"]), float(row["net_gmv"])
    commission, ads = float(row["commission"]), float(row["ad_revenue"] if pd.notna(row["ad_revenue"]) else 0)
    delivery, discount = float(row["delivery_cost"]), float(row["discount"])
    contribution = commission + ads - delivery - discount
    # (label, kind, step, what the bar's label says: a step's size, or a total's level)
    steps = [
        ("GMV", "absolute", gmv, gmv),
        ("Returns", "relative", -returns, -returns),
        ("Net GMV", "total", 0, net),
        ("Sellers' share", "relative", -(net - commission), -(net - commission)),
        ("Commission", "total", 0, commission),
        ("Ad revenue", "relative", ads, ads),
        ("Delivery costs", "relative", -delivery, -delivery),
        ("Discounts", "relative", -discount, -discount),
        ("Contribution", "total", 0, contribution),
    ]
    fig = go.Figure(go.Waterfall(
        x=[s[0] for s in steps], measure=[s[1] for s in steps], y=[s[2] for s in steps],
        increasing=dict(marker_color=GOOD), decreasing=dict(marker_color=BAD), totals=dict(marker_color="#0969da"),
        text=[f"{s[3]:,.0f}" for s in steps], textposition="outside", cliponaxis=False,
    ))
    fig.update_layout(title=title, height=420, margin=dict(l=10, r=10, t=50, b=10), showlegend=False)
    fig.update_yaxes(tickformat=",.0f")
    return fig


@memoised
def sparkline(values: list[float]) -> go.Figure:
    fig = go.Figure(go.Scatter(y=values, mode="lines", line=dict(width=2, color=NEUTRAL)))
    fig.update_layout(height=60, margin=dict(l=0, r=0, t=0, b=0), showlegend=False)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


@memoised
def forest(review: pd.DataFrame, title: str) -> go.Figure:
    """Relative difference vs control with its 95 % interval, one row per experiment variant."""
    frame = review.sort_values(["start_ts", "experiment_id", "variant"], ascending=False)
    labels = [f"{e} · {v} ({b})" for e, v, b in zip(frame["experiment_id"], frame["variant"], frame["block"].fillna("all"))]
    colours = [
        NEUTRAL if broken else (GOOD if verdict.startswith("better") else BAD if verdict.startswith("worse") else "#0969da")
        for broken, verdict in zip(frame["srm_broken"], frame["verdict"])
    ]
    x = frame["delta_rel"].astype("float64")
    fig = go.Figure(go.Scatter(
        x=x, y=labels, mode="markers", marker=dict(color=colours, size=9,
                                                  symbol=["x" if b else "circle" for b in frame["srm_broken"]]),
        error_x=dict(type="data", symmetric=False, array=frame["ci_high_rel"].astype("float64") - x,
                     arrayminus=x - frame["ci_low_rel"].astype("float64"), color="#8c959f"),
        customdata=frame[["verdict", "p_value", "p_adj_bh", "users"]].astype("object").values,
        hovertemplate="%{y}<br>Δ %{x:.1%}<br>%{customdata[0]}<br>p %{customdata[1]:.3g}, "
                      "BH-adjusted %{customdata[2]:.3g}<br>users %{customdata[3]:,}<extra></extra>",
    ))
    fig.add_vline(x=0, line_color=NEUTRAL, line_width=1)
    fig.update_layout(title=title, height=max(300, 26 * len(labels) + 120), margin=dict(l=10, r=10, t=50, b=10))
    fig.update_xaxes(tickformat=".0%", title="relative difference vs control (95 % interval)")
    return fig


@memoised
def pair_scatter(pairs: pd.DataFrame, summary: dict, offline: str, online: str) -> go.Figure:
    """Offline delta (x) vs online relative delta (y), one point per experiment pair."""
    x = pairs["offline_delta"].astype("float64")
    y = pairs["online_delta"].astype("float64")
    fig = go.Figure(go.Scatter(
        x=x, y=y, mode="markers", name="experiment pairs", marker=dict(size=10, color="#0969da"),
        error_y=dict(type="data", symmetric=False, array=pairs["online_ci_high"].astype("float64") - y,
                     arrayminus=y - pairs["online_ci_low"].astype("float64"), color="#8c959f"),
        text=[f"{e} · {v}<br>{m} vs {c}" for e, v, m, c in
              zip(pairs["experiment_id"], pairs["variant"], pairs["model_version"], pairs["control_model_version"])],
        hovertemplate="%{text}<br>offline Δ %{x:.4f}<br>online Δ %{y:.1%}<extra></extra>",
    ))
    slope = summary.get("slope")
    if slope is not None and len(x) >= 2:
        intercept = float(y.mean() - slope * x.mean())
        xs = [float(x.min()), float(x.max())]
        fig.add_trace(go.Scatter(x=xs, y=[intercept + slope * v for v in xs], mode="lines", name="least squares",
                                 line=dict(color=NEUTRAL, dash="dash")))
    fig.add_hline(y=0, line_color="#d0d7de", line_width=1)
    fig.add_vline(x=0, line_color="#d0d7de", line_width=1)
    fig.update_layout(title=dict(text=f"{offline} vs {online}<br><sup>{correlation_caption(summary)}</sup>"),
                      height=460, margin=dict(l=10, r=10, t=80, b=10), showlegend=False)
    fig.update_xaxes(title=f"offline Δ {offline} (variant − control)")
    fig.update_yaxes(title=f"online relative Δ {online}", tickformat=".0%")
    return fig


def correlation_caption(summary: dict) -> str:
    def fmt(value, pattern):
        return "—" if value is None else format(value, pattern)

    # Since v2 the interval belongs to the experiment-level r (pairs sharing a control are not independent).
    if "n_experiments" in summary:
        ci = (f"[{fmt(summary.get('r_ci_low'), '.2f')}, {fmt(summary.get('r_ci_high'), '.2f')}]"
              if summary.get("r_ci_low") is not None else "[no interval: < 4 experiments]")
        head = (f"n = {summary.get('n_pairs', 0)} pairs · Pearson r = {fmt(summary.get('pearson_r'), '.2f')} · "
                f"{summary.get('n_experiments') or 0} experiments: r = {fmt(summary.get('r_experiments'), '.2f')} {ci}")
    else:
        ci = (f"[{fmt(summary.get('r_ci_low'), '.2f')}, {fmt(summary.get('r_ci_high'), '.2f')}]"
              if summary.get("r_ci_low") is not None else "[no interval: n < 4]")
        head = f"n = {summary.get('n_pairs', 0)} · Pearson r = {fmt(summary.get('pearson_r'), '.2f')} {ci}"
    return (f"{head} · Spearman ρ = {fmt(summary.get('spearman_rho'), '.2f')} · "
            f"Kendall τ = {fmt(summary.get('kendall_tau'), '.2f')} · "
            f"sign agreement = {fmt(summary.get('sign_agreement'), '.0%')}")


MIN_PAIRS = 10


def cell_note(row: pd.Series) -> str | None:
    """Why a cell of the offline × online matrix should not be read as evidence (None: it may be)."""
    n = int(row["n_pairs"])
    if n < MIN_PAIRS:
        return f"n = {n} < {MIN_PAIRS}"
    low, high = row["r_ci_low"], row["r_ci_high"]
    if pd.isna(low) or pd.isna(high):
        return "no interval"
    if float(low) <= 0 <= float(high):
        return "interval contains 0"
    return None


@memoised
def correlation_matrix(table: pd.DataFrame, title: str) -> go.Figure:
    """Pearson r of every offline × online metric; unreliable cells greyed out with the reason."""
    offline = sorted(table["offline_metric"].unique())
    online = list(dict.fromkeys(table["online_metric"]))
    lookup = {(r.offline_metric, r.online_metric): r for r in table.itertuples(index=False)}
    z_ok, z_grey, text, colours = [], [], [], []
    for off in offline:
        ok_row, grey_row, text_row = [], [], []
        for on in online:
            row = lookup.get((off, on))
            r = None if row is None or pd.isna(row.pearson_r) else float(row.pearson_r)
            note = cell_note(pd.Series(row._asdict())) if row is not None else "no pairs"
            p_adj = None if row is None or pd.isna(row.p_adj_bh) else float(row.p_adj_bh)
            label = "—" if r is None else f"r {r:.2f}"
            if p_adj is not None:
                label += "<br>p adj < 0.001" if p_adj < 0.001 else f"<br>p adj {p_adj:.3f}"
            label += f"<br>({note})" if note else ""
            ok_row.append(r if note is None else None)
            # White on strong colours, dark on grey and pale cells, so every label stays readable.
            colours.append("white" if note is None and r is not None and abs(r) > 0.5 else "#24292f")
            grey_row.append(0 if note is not None else None)
            text_row.append(label)
        z_ok.append(ok_row)
        z_grey.append(grey_row)
        text.append(text_row)
    fig = go.Figure()
    fig.add_trace(go.Heatmap(z=z_grey, x=online, y=offline, colorscale=[[0, "#eaeef2"], [1, "#eaeef2"]],
                             showscale=False, hoverinfo="skip"))
    fig.add_trace(go.Heatmap(z=z_ok, x=online, y=offline, colorscale="RdBu", zmin=-1, zmax=1, zmid=0,
                             colorbar=dict(title="r"), hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=[on for _ in offline for on in online], y=[off for off in offline for _ in online], mode="text",
        text=[t for row in text for t in row], textfont=dict(size=11, color=colours), hoverinfo="text", showlegend=False,
    ))
    fig.update_layout(title=title, height=max(320, 46 * len(offline) + 120), margin=dict(l=10, r=10, t=50, b=10))
    fig.update_yaxes(autorange="reversed")
    return fig


@memoised
def trend_two_axes(frame: pd.DataFrame, offline: str, online: str, title: str) -> go.Figure:
    """A block's weekly online metric and the offline metric of the model serving it."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=frame["week_start"], y=frame["online_value"], name=online, mode="lines+markers"))
    fig.add_trace(go.Scatter(x=frame["week_start"], y=frame["offline_value"], name=f"{offline} of serving model",
                             mode="lines+markers", yaxis="y2", line=dict(dash="dash"),
                             text=frame["model_version"], hovertemplate="%{text}: %{y:.4f}<extra></extra>"))
    fig.update_layout(title=title, height=380, margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.12, xanchor="left", x=0),
                      yaxis=dict(title=online, tickformat=AXIS_FORMAT.get(column_kind(online), ",.3f")),
                      yaxis2=dict(title=offline, overlaying="y", side="right", showgrid=False))
    return fig


@memoised
def held_out_scatter(predictions: pd.DataFrame, offline: str, online: str) -> go.Figure:
    """Predicted (x) vs actual (y) online relative delta, one point per experiment pair, each
    predicted from the other experiments only; red points are calls the offline metric got wrong."""
    fitted = predictions[predictions["predicted_online_delta"].notna()]
    x = fitted["predicted_online_delta"].astype("float64")
    y = fitted["online_delta"].astype("float64")
    wrong = fitted["sign_scored"].astype(bool) & ~fitted["sign_correct"].fillna(True).astype(bool)
    fig = go.Figure(go.Scatter(
        x=x, y=y, mode="markers", name="experiment pairs (held out)",
        marker=dict(size=10, color=[BAD if w else "#0969da" for w in wrong]),
        text=[f"{e} · {v}<br>{m} vs {c}<br>{'wrong call' if w else 'right call'}" for e, v, m, c, w in
              zip(fitted["experiment_id"], fitted["variant"], fitted["model_version"],
                  fitted["control_model_version"], wrong)],
        hovertemplate="%{text}<br>predicted Δ %{x:.1%}<br>actual Δ %{y:.1%}<extra></extra>",
    ))
    if len(fitted):
        low = float(min(x.min(), y.min()))
        high = float(max(x.max(), y.max()))
        fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="predicted = actual",
                                 line=dict(color=NEUTRAL, dash="dash")))
    fig.add_hline(y=0, line_color="#d0d7de", line_width=1)
    fig.add_vline(x=0, line_color="#d0d7de", line_width=1)
    fig.update_layout(title=dict(text=f"{online}: predicted from {offline} vs what happened<br>"
                                      "<sup>each pair predicted from the other experiments only; red: the sign was wrong</sup>"),
                      height=460, margin=dict(l=10, r=10, t=80, b=10), showlegend=False)
    fig.update_xaxes(title=f"predicted online relative Δ {online}", tickformat=".0%")
    fig.update_yaxes(title=f"actual online relative Δ {online}", tickformat=".0%")
    return fig


@memoised
def accuracy_vs_baseline(winners: pd.DataFrame, title: str) -> go.Figure:
    """Held-out sign accuracy per offline metric with its Wilson interval, beside the baseline."""
    frame = winners.sort_values("offline_metric")
    acc = frame["loo_sign_accuracy"].astype("float64")
    fig = go.Figure(go.Scatter(
        x=acc, y=frame["offline_metric"], mode="markers", name="held-out sign accuracy",
        marker=dict(size=11, color=[GOOD if b else NEUTRAL for b in frame["beats_baseline"]]),
        error_x=dict(type="data", symmetric=False, array=frame["accuracy_ci_high"].astype("float64") - acc,
                     arrayminus=acc - frame["accuracy_ci_low"].astype("float64"), color="#8c959f"),
        customdata=frame[["sign_pairs"]].to_numpy(),
        hovertemplate="%{y}: %{x:.0%} of %{customdata[0]} calls right<extra></extra>",
    ))
    fig.add_trace(go.Scatter(
        x=frame["baseline_accuracy"].astype("float64"), y=frame["offline_metric"], mode="markers",
        name="baseline (always / never launch)", marker=dict(symbol="line-ns-open", size=18, color=BAD),
        hovertemplate="%{y}: baseline %{x:.0%}<extra></extra>",
    ))
    fig.update_layout(title=title, height=max(240, 60 + 36 * len(frame)), margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.15, xanchor="left", x=0))
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title="share of launch calls that were right")
    return fig
