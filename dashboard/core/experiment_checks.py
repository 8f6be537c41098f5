"""Experiments of the input that produced no rows, named with the reason.

An experiment whose rows were all rejected while loading (e.g. a traffic_share that is not a
number) would otherwise vanish from experiments.csv and the pages without a word. `export`,
`report` and the Experiments page say, per experiment, why it has no rows.
"""
from __future__ import annotations

from collections.abc import Iterable

from dashboard.core.context import MetricContext

EXPERIMENT_TABLES = ("experiments", "experiment_variants", "assignments")


def dropped_experiments(ctx: MetricContext, produced: Iterable[str] | None = None) -> list[str]:
    """One sentence per experiment of the input without rows in the experiments table, e.g.
    "exp-07: all variant rows rejected: traffic_share is not a number".

    `produced`: the experiment_ids that have rows (default: those of experiment_details(ctx)).
    Experiments the filters leave out (block, dates) are not dropped. An experiment whose own row
    in `experiments` was rejected has no dates to filter by: it is always named.
    """
    source = ctx.source
    if not all(source.has(t) for t in EXPERIMENT_TABLES):
        return []  # the whole table is unavailable, and export/pages say so already
    if produced is None:
        from dashboard.core.metrics.experiments import experiment_details

        produced = experiment_details(ctx)["experiment_id"]
    produced = {str(e) for e in produced}
    rejected = {t: _rejected(source, t) for t in EXPERIMENT_TABLES}
    loaded = ctx.query("experiments_selected")
    counts = {str(r.experiment_id): r for r in loaded.itertuples(index=False)}
    candidates = set(counts) | set(rejected["experiments"]) | set(rejected["experiment_variants"]) \
        | set(rejected["assignments"])
    messages = []
    for experiment in sorted(candidates - produced):
        if experiment in counts and not counts[experiment].selected:
            continue  # the filters leave it out
        messages.append(f"{experiment}: {_why(experiment, counts.get(experiment), rejected)}")
    return messages


def _why(experiment: str, counts, rejected: dict[str, dict[str, list[str]]]) -> str:
    if experiment in rejected["experiments"]:
        return "its row in experiments was rejected: " + "; ".join(rejected["experiments"][experiment])
    variants = 0 if counts is None else int(counts.variants)
    if variants == 0:
        if experiment in rejected["experiment_variants"]:
            return "all variant rows rejected: " + "; ".join(rejected["experiment_variants"][experiment])
        return "it has no rows in experiment_variants"
    if experiment in rejected["assignments"] and int(counts.assignments) == 0:
        return "all assignments rejected: " + "; ".join(rejected["assignments"][experiment])
    return "no rows were computed for it"


def _rejected(source, table: str) -> dict[str, list[str]]:
    report = source.tables.get(table)
    found = getattr(report, "rejected_experiments", None) or {}
    return {k: sorted(set(v), key=v.index) for k, v in found.items()}
