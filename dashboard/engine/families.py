"""Which metric tables a source can feed, and why not when it cannot.

The rules mirror metrics.md "Absent optional inputs"; the metric functions enforce the same
rules by raising Unavailable, and a test keeps the two in agreement.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (validate --engine spark lists the families without DuckDB)
    from dashboard.engine.source import Source


@dataclass(frozen=True)
class Family:
    table: str
    available: bool
    note: str  # why unavailable, or what is missing from an available table


def _missing(source: Source, *tables: str) -> list[str]:
    return [t for t in tables if not source.has(t)]


def _needs(source: Source, table: str, *inputs: str) -> Family:
    missing = _missing(source, *inputs)
    if missing:
        return Family(table, False, "needs " + ", ".join(f"'{t}'" for t in missing))
    return Family(table, True, "")


def families(source: Source) -> list[Family]:
    no_orders = not source.has("orders")
    result = [
        Family("buyer_weekly", True, "purchase columns are empty: no 'orders' table" if no_orders else ""),
        _needs(source, "time_to_purchase_weekly", "orders"),
        _needs(source, "convenience_weekly", "orders"),
        _needs(source, "price_weekly", "orders"),
        Family(
            "retention",
            True,
            "visit basis only: no 'orders' table" if no_orders
            else ("no category rows: no 'items' table" if not source.has("items") else ""),
        ),
        _seller_family(source),
        Family("business_weekly", True, _business_note(source)),
        _needs(source, "offline_metrics", "recommendations", "holdout"),
        _experiments_family(source),
        _offline_online_family(source),
        _off_policy_family(source),
    ]
    return result


def _seller_family(source: Source) -> Family:
    family = _needs(source, "seller_weekly", "orders")
    if not family.available:
        return family
    if not (source.has("sellers") or source.has("items") or source.has_column("orders", "seller_id")):
        return Family("seller_weekly", False, "needs sellers: a 'sellers' or 'items' table, or orders.seller_id")
    notes = []
    if not source.has("reviews"):
        notes.append("no review columns: no 'reviews' table")
    if not source.has_column("items", "created_at"):
        notes.append("no new_assortment_share: no items.created_at")
    return Family("seller_weekly", True, "; ".join(notes))


def _business_note(source: Source) -> str:
    notes = []
    if not source.has("orders"):
        notes.append("order and money columns are empty: no 'orders' table")
    if not source.has("ad_spend"):
        notes.append("ad_revenue is empty: no 'ad_spend' table")
    return "; ".join(notes)


def _experiments_family(source: Source) -> Family:
    family = _needs(source, "experiments", "experiments", "experiment_variants", "assignments")
    if family.available and not source.has("orders"):
        return Family("experiments", True, "clicks_per_user only: no 'orders' table")
    return family


def _offline_online_family(source: Source) -> Family:
    experiments = _experiments_family(source)
    if not experiments.available:
        return Family("offline_online", False, experiments.note)
    if not (source.has("offline_metrics") or source.has("recommendations", "holdout")):
        return Family("offline_online", False, "needs offline metrics: an 'offline_metrics' table, or 'recommendations' and 'holdout'")
    return Family("offline_online", True, "")


def _off_policy_family(source: Source) -> Family:
    """interface.md v2: impressions with a propensity and a candidate (target_policies or recommendations)."""
    from dashboard.engine.metrics.off_policy import why_unavailable

    has_column = source.has_column("events", "propensity")
    logged = 0
    if has_column:
        cursor = source.cursor()
        try:
            logged = cursor.execute(
                "SELECT count(*) FROM events WHERE event_type = 'impression' AND propensity IS NOT NULL"
            ).fetchall()[0][0]
        finally:
            cursor.close()
    reason = why_unavailable(has_column, logged, source.has("target_policies") or source.has("recommendations"))
    return Family("off_policy", reason is None, _needs_note(reason) if reason else "")


def _needs_note(reason: str) -> str:
    """"off_policy needs X." -> "needs X", as the other families say it."""
    return reason.removeprefix("off_policy ").rstrip(".")
