"""The weekly review as one self-contained HTML file: opens offline, prints readably.

Plotly's JavaScript is embedded once; every text that comes from data is HTML-escaped.
"""
from __future__ import annotations

import datetime as dt
import html
import math

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from dashboard import charts
from dashboard.engine.export import describe_params
from dashboard.engine.metrics.offline_online import PROXY_RULE
from dashboard.review.kpis import Movement
from dashboard.review.review import STAKEHOLDERS, WeeklyReview
from dashboard.formatting import format_change, format_change_size, format_value, is_no_change

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #24292f;
       max-width: 1100px; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2rem; }
.meta { color: #57606a; font-size: .9rem; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; margin: .5rem 0 1rem; }
th, td { text-align: right; padding: .3rem .5rem; border-bottom: 1px solid #eaeef2; }
th:first-child, td:first-child { text-align: left; }
td.text { text-align: left; }
.good { color: #1a7f37; } .bad { color: #cf222e; } .flag { font-weight: 600; }
.note { background: #fff8c5; border: 1px solid #d4a72c; padding: .5rem .8rem; border-radius: 6px; }
.moved li { margin: .2rem 0; }
section { page-break-inside: avoid; break-inside: avoid; }
.chart { page-break-inside: avoid; break-inside: avoid; }
@media print { body { margin: 0; max-width: none; } a { color: inherit; } .chart { width: 100%; } }
"""


def render(review: WeeklyReview) -> str:
    """The whole report as one HTML document."""
    e = html.escape
    about = describe_params(review.source_name, review.params)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Weekly review {review.week:%Y-%m-%d}</title><style>{CSS}</style>",
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
        f"<h1>Weekly review: week of {review.week:%Y-%m-%d}</h1>",
        "<p class='meta'>" + " · ".join(f"{e(k)}: {e(v)}" for k, v in about.items()) + "</p>",
    ]
    for note in review.notes:
        parts.append(f"<p class='note'>{e(note)}</p>")
    parts.append(_what_moved(review))
    for stakeholder in STAKEHOLDERS:
        parts.append(_stakeholder(review, stakeholder))
    parts.append(_experiments(review))
    parts.append(_offline_online(review))
    parts.append(f"<p class='meta'>Made {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC. "
                 "Changes are flagged when larger than 2 standard deviations of the metric's previous 8 weekly "
                 "changes. Definitions: see the dashboard's Data page (glossary).</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _what_moved(review: WeeklyReview) -> str:
    items = [
        f"<li class='flag'>{html.escape(m.headline.stakeholder)}: {html.escape(m.headline.label)} "
        f"{_change_html(m)} to {html.escape(format_value(m.value, m.headline.kind))} "
        f"(usual weekly change ±{html.escape(format_change_size(m.noise, m.headline.kind))})</li>"
        for m in review.what_moved
    ]
    body = f"<ul class='moved'>{''.join(items)}</ul>" if items else "<p>Nothing moved beyond its usual noise.</p>"
    return f"<section id='what-moved'><h2>What moved</h2>{body}</section>"


def _stakeholder(review: WeeklyReview, stakeholder: str) -> str:
    rows = review.by_stakeholder(stakeholder)
    if not rows:
        return (f"<section id='{stakeholder.lower()}'><h2>{stakeholder}</h2>"
                "<p>No headline metric is available for this source.</p></section>")
    head = ("<tr><th>metric</th><th>this week</th><th>last week</th><th>change</th>"
            "<th>4-week average</th><th>8 weeks</th></tr>")
    body = "".join(
        f"<tr><td>{html.escape(m.headline.label)}{' ⚑' if m.unusual else ''}</td>"
        f"<td>{html.escape(format_value(m.value, m.headline.kind))}</td>"
        f"<td>{html.escape(format_value(m.previous, m.headline.kind))}</td>"
        f"<td>{_change_html(m)}</td>"
        f"<td>{html.escape(format_value(m.avg4, m.headline.kind))}</td>"
        f"<td>{sparkline_svg(m.history)}</td></tr>"
        for m in rows
    )
    chart = _stakeholder_chart(review, stakeholder)
    return (f"<section id='{stakeholder.lower()}'><h2>{stakeholder}</h2><table>{head}{body}</table>"
            f"{chart}</section>")


def _stakeholder_chart(review: WeeklyReview, stakeholder: str) -> str:
    tables = review.tables
    upto = review.week
    fig = None
    if stakeholder == "Buyers" and "buyer_weekly" in tables:
        frame = tables["buyer_weekly"]
        frame = frame[(frame["block"] != "ALL") & (frame["week_start"] <= upto)]
        fig = charts.weekly_lines(frame, ["buyer_conversion"], "Buyer conversion per block", by="block")
    elif stakeholder == "Sellers" and "seller_weekly" in tables:
        frame = tables["seller_weekly"]
        fig = charts.weekly_lines(frame[frame["week_start"] <= upto], ["share_gt_n"],
                                  f"Share of sellers with more than {review.params.n_sales} sales")
    elif stakeholder == "Business" and "business_weekly" in tables:
        frame = tables["business_weekly"]
        fig = charts.weekly_lines(frame[frame["week_start"] <= upto], ["gmv", "contribution"], "GMV and contribution")
    return _figure(fig) if fig is not None else ""


def _interval_note(row) -> str:
    """Which interval a row shows, when it is not the raw one (CUPED-adjusted, always-valid)."""
    kind = getattr(row, "interval", "raw")
    return "" if kind in (None, "raw") or kind != kind else f" <small>({html.escape(str(kind))})</small>"


def _experiments(review: WeeklyReview) -> str:
    frame = review.ended_experiments
    if frame.empty:
        return "<section id='experiments'><h2>Experiments that ended this week</h2><p>None.</p></section>"
    head = ("<tr><th>experiment</th><th>variant</th><th>metric</th><th>users</th><th>Δ vs control</th>"
            "<th>95 % interval</th><th>p (BH)</th><th>verdict</th></tr>")
    body = "".join(
        f"<tr><td class='text'>{html.escape(str(r.experiment_id))} {html.escape(str(r.name or ''))}</td>"
        f"<td class='text'>{html.escape(str(r.variant))}</td><td class='text'>{html.escape(str(r.metric))}</td>"
        f"<td>{int(r.users):,}</td><td>{html.escape(format_value(_f(r.delta_rel), 'share'))}</td>"
        f"<td>{html.escape(format_value(_f(r.ci_low_rel), 'share'))} to {html.escape(format_value(_f(r.ci_high_rel), 'share'))}"
        f"{_interval_note(r)}</td>"
        f"<td>{html.escape(format_value(_f(r.p_adj_bh), 'p'))}</td><td class='text'>{html.escape(str(r.verdict))}</td></tr>"
        for r in frame.itertuples(index=False)
    )
    return f"<section id='experiments'><h2>Experiments that ended this week</h2><table>{head}{body}</table></section>"


def _offline_online(review: WeeklyReview) -> str:
    s = review.offline_online
    text = (f"<p>{s.experiments} experiments, {s.pairs} variant-vs-control pairs. "
            f"{html.escape(s.sentence)}</p>"
            f"<p class='meta'>Rule: {html.escape(PROXY_RULE)}.</p>")
    return f"<section id='offline-online'><h2>Offline ↔ online</h2>{text}</section>"


def _figure(fig: go.Figure) -> str:
    fig.update_layout(width=None, height=320)
    return "<div class='chart'>" + fig.to_html(full_html=False, include_plotlyjs=False,
                                              config={"displayModeBar": False, "responsive": True}) + "</div>"


def _change_html(m: Movement) -> str:
    text = format_change(m.change, m.headline.kind)
    if text is None:
        return "—"
    good = None if is_no_change(text) else m.good
    css = "" if good is None else ("good" if good else "bad")
    return f"<span class='{css}'>{html.escape(text)}</span>"


def sparkline_svg(values: list[float], width: int = 110, height: int = 26) -> str:
    """A tiny inline SVG line of up to 8 weekly values (gaps for missing weeks)."""
    known = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if len(known) < 2:
        return ""
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    step = width / max(len(values) - 1, 1)
    segments, current = [], []
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            if current:
                segments.append(current)
            current = []
            continue
        current.append(f"{i * step:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}")
    if current:
        segments.append(current)
    lines = "".join(f"<polyline fill='none' stroke='#57606a' stroke-width='1.5' points='{' '.join(s)}'/>"
                    for s in segments if len(s) > 1)
    return f"<svg width='{width}' height='{height}' role='img' aria-label='last 8 weeks'>{lines}</svg>"


def _f(value) -> float | None:
    if value is None or value is pd.NA:
        return None
    value = float(value)
    return None if math.isnan(value) else value
