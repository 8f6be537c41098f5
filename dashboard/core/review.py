"""The weekly review: the story of one week for buyers, sellers and the business.

Pure data, shared by the Weekly review page and the one-file HTML report: headline metrics with
this week, last week, change, 4-week average and an 8-week history; "what moved" (changes beyond
the metric's usual week-to-week noise) first; experiments that ended this week with their
verdicts; and the offline ↔ online summary. An incomplete week is never compared silently with a
complete one: its changes are left out and the review says why.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pandas as pd

from dashboard.core import experiment_review, kpis
from dashboard.core.context import MetricContext, Unavailable
from dashboard.core.experiment_checks import dropped_experiments
from dashboard.core.metrics import compute_table
from dashboard.core.metrics.experiments import experiment_details
from dashboard.core.metrics.offline_online import OLD_EXPORT, is_proxy, missing_v2_columns
from dashboard.core.params import Params
from dashboard.core.source import Source

STAKEHOLDERS = ("Buyers", "Sellers", "Business")
REVIEW_METRICS = ("rec_conversion", "gmv_per_user")  # verdicts shown for experiments that ended
TRACKING_ONLINE = "rec_conversion"  # which online metric "tracks best" is judged against
MIN_PAIRS = 10


@dataclass
class OfflineOnlineSummary:
    experiments: int = 0
    pairs: int = 0
    online_metric: str = TRACKING_ONLINE
    best: dict | None = None  # the offline_online row of the best-tracking offline metric
    sentence: str = ""


@dataclass
class WeeklyReview:
    week: pd.Timestamp
    is_complete: bool
    params: Params
    source_name: str
    movements: list[kpis.Movement]
    what_moved: list[kpis.Movement]
    ended_experiments: pd.DataFrame
    offline_online: OfflineOnlineSummary
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def by_stakeholder(self, stakeholder: str) -> list[kpis.Movement]:
        return [m for m in self.movements if m.headline.stakeholder == stakeholder]

    def headline_frame(self) -> pd.DataFrame:
        """The headline numbers as a table (for CSV and the report)."""
        return pd.DataFrame([
            {"stakeholder": m.headline.stakeholder, "metric": m.headline.label, "table": m.headline.table,
             "column": m.headline.column, "week_start": m.week_start, "this_week": m.value,
             "last_week": m.previous, "change": m.change, "avg_4_weeks_before": m.avg4,
             "change_vs_avg4": m.change_vs_avg4, "noise_sd": m.noise, "moved": m.unusual,
             "higher_is_better": m.headline.higher_is_better}
            for m in self.movements
        ])


def available_weeks(business_weekly: pd.DataFrame) -> list[pd.Timestamp]:
    return [pd.Timestamp(w) for w in business_weekly["week_start"]]


def build(source: Source, params: Params, week: pd.Timestamp | None = None,
          tables: dict[str, pd.DataFrame] | None = None) -> WeeklyReview:
    """The review of `week` (default: the last complete week) under `params`.

    `tables` may hold metric tables already computed (the page passes its cached ones).
    """
    tables = dict(tables or {})
    ctx = MetricContext(source, params)
    try:
        for name in sorted({h.table for h in kpis.HEADLINES} | {"business_weekly", "offline_online"}):
            if name not in tables:
                try:
                    tables[name] = compute_table(name, ctx)
                except Unavailable:
                    pass
        try:
            details = experiment_details(ctx)
            dropped = dropped_experiments(ctx, produced=details["experiment_id"])
        except Unavailable:
            details, dropped = None, []
    finally:
        ctx.close()
    weekly = assemble(tables, details, params, source.name, week)
    weekly.notes += [f"Experiment {message} (it has no results)." for message in dropped]
    return weekly


def assemble(tables: dict[str, pd.DataFrame], details: pd.DataFrame | None, params: Params, source_name: str,
             week: pd.Timestamp | None = None) -> WeeklyReview:
    business = tables["business_weekly"]
    notes: list[str] = []
    if week is None:
        week = kpis.last_complete_week(business)
        if week is None:
            week = pd.Timestamp(business["week_start"].max())
            notes.append("No week of this selection is complete yet; the latest (incomplete) week is shown.")
    week = pd.Timestamp(week)
    row = business[business["week_start"] == week]
    if row.empty:
        raise ValueError(f"week {week:%Y-%m-%d} is not in the data's range")
    is_complete = bool(row["is_complete"].iloc[0])
    movements = kpis.movements(tables, week)
    if not is_complete:
        notes.append(f"The week of {week:%Y-%m-%d} is not complete: its numbers will still grow, so they are not "
                     "compared with the complete weeks before it.")
        movements = [_without_comparison(m) for m in movements]
    previous = business[business["week_start"] == week - pd.Timedelta(weeks=1)]
    if is_complete and not previous.empty and not bool(previous["is_complete"].iloc[0]):
        notes.append("The week before is incomplete (the data starts within it): changes against it are left out.")
        movements = [_without_comparison(m) for m in movements]
    return WeeklyReview(
        week=week,
        is_complete=is_complete,
        params=params,
        source_name=source_name,
        movements=movements,
        what_moved=kpis.what_moved(movements),
        ended_experiments=ended_experiments(details, week, params.tz),
        offline_online=summarise_offline_online(tables.get("offline_online"), details),
        tables=tables,
        notes=notes,
    )


def _without_comparison(m: kpis.Movement) -> kpis.Movement:
    return dataclasses.replace(m, previous=None, change=None, avg4=None, change_vs_avg4=None, unusual=False)


def ended_experiments(details: pd.DataFrame | None, week: pd.Timestamp, tz: str) -> pd.DataFrame:
    """Variants of experiments whose end falls in the week (local time), with their verdicts."""
    columns = ["experiment_id", "name", "block", "variant", "model_version", "metric", "users", "delta_rel",
               "ci_low_rel", "ci_high_rel", "p_adj_bh", "mde_rel", "verdict", "end_ts", "interval"]
    if details is None or details.empty:
        return pd.DataFrame(columns=columns)
    ends = pd.to_datetime(details["end_ts"]).dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None)
    in_week = (ends >= week) & (ends < week + pd.Timedelta(weeks=1))
    ended = details[in_week]
    parts = []
    for metric in REVIEW_METRICS:
        # Verdicts are judged among all experiments (BH over every variant), then cut to the week.
        # CUPED-adjusted where the pre-period allows it, as on the Experiments page by default
        reviewed = experiment_review.review(details, metric, cuped=True)
        parts.append(reviewed[reviewed["experiment_id"].isin(set(ended["experiment_id"]))])
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return frame[columns].sort_values(["experiment_id", "variant", "metric"]).reset_index(drop=True)


def summarise_offline_online(table: pd.DataFrame | None, details: pd.DataFrame | None) -> OfflineOnlineSummary:
    summary = OfflineOnlineSummary()
    if details is not None and not details.empty:
        summary.experiments = int(details["experiment_id"].nunique())
        variants = details.drop_duplicates(["experiment_id", "variant"])
        summary.pairs = int((~variants["is_control"].astype(bool)).sum())
    if table is None or table.empty:
        summary.sentence = "No offline ↔ online comparison is available for this source."
        return summary
    rows = table[table["online_metric"] == TRACKING_ONLINE]
    if rows.empty:
        summary.online_metric = str(table["online_metric"].iloc[0])
        rows = table[table["online_metric"] == summary.online_metric]
    missing = missing_v2_columns(rows)
    if missing:
        summary.sentence = OLD_EXPORT.format(missing=", ".join(missing))
        return summary
    summary.sentence = proxy_sentence(rows, summary.online_metric)
    proxies = _proxies(rows)
    if not proxies.empty:
        summary.best = proxies.iloc[0].to_dict()
    return summary


def _proxies(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows that count as a proxy (offline_online.is_proxy, and ≥ MIN_PAIRS pairs), the best
    held-out prediction (q2) first."""
    keep = [int(r["n_pairs"]) >= MIN_PAIRS and is_proxy(r) for _, r in rows.iterrows()]
    return rows[keep].sort_values("q2", ascending=False)


def proxy_sentence(rows: pd.DataFrame, online_metric: str) -> str:
    """The "best proxy" sentence of one online metric's offline_online rows.

    A proxy must beat the baseline out of sample, not only correlate (docs/decisions.md,
    "offline_online v2"): held out one experiment at a time, its sign accuracy must exceed the
    better of always or never launching, its q2 must be > 0, and its experiment-level
    correlation must survive BH (p_adj_bh < 0.05), with at least MIN_PAIRS pairs.
    """
    proxies = _proxies(rows)
    if proxies.empty:
        n = int(rows["n_experiments"].max()) if len(rows) else 0
        sentence = (f"No offline metric is a proven proxy for {online_metric}: held out one experiment at a time "
                    f"(up to {n} experiments), none called the direction of {online_metric} more often than "
                    "always launching or never launching would have, with q2 > 0 and a correlation that survives "
                    "the correction for all metrics looked at.")
        correlated = rows[(rows["p_adj_bh"] < 0.05) & (rows["r_experiments"] > 0)]["offline_metric"].tolist()
        if correlated:
            sentence += (f" {', '.join(correlated)} correlate{'s' if len(correlated) == 1 else ''} with it but would "
                         "not have picked the winners better than that.")
        return sentence
    best = proxies.iloc[0]
    return (
        f"{best['offline_metric']} is the best proxy for {online_metric}: held out one experiment at a time, it called "
        f"the direction right in {best['loo_sign_accuracy']:.0%} of {int(best['loo_pairs'])} pairs against "
        f"{best['baseline_accuracy']:.0%} for always or never launching, q2 = {best['q2']:.2f}; across "
        f"{int(best['n_experiments'])} experiments r = {best['r_experiments']:.2f} "
        f"(95 % CI {best['r_ci_low']:.2f} to {best['r_ci_high']:.2f}), BH-adjusted p = {best['p_adj_bh']:.2g}."
    )
