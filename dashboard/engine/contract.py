"""The data contract (shared spec `data-contract.md`) as data: tables, columns, types, rules.

Everything the loader checks is declared here, so that the checks, the validation report and
the docs cannot drift apart. Column and table names in this module are the only identifiers
that ever reach SQL text; values never do.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# DuckDB types the contract's logical types become after loading.
SQL_TYPES = {
    "id": "VARCHAR",
    "string": "VARCHAR",
    "timestamp": "TIMESTAMP",  # UTC instant, stored naive
    "money": "DECIMAL(18,4)",  # exact sums; four decimals is enough for unit prices
    "int": "BIGINT",
    "bool": "BOOLEAN",
    "number": "DOUBLE",
    "date": "DATE",
}

# Plausible ranges (checked on every row, in SQL): outside them a value is a rejected row, so
# that no later query can overflow or build an absurd calendar. Money and quantities are
# bounded so that quantity × price (≤ 10^18, 4 decimals) and sums of it stay far inside
# DECIMAL(38); timestamps are instants from 1970 on, event-like ones no later than the load
# time + 1 day (`Table.no_future`), planned ones (end_ts, left_at) before LATEST_TIMESTAMP.
MAX_MONEY = 10**12
MAX_QUANTITY = 10**6
EARLIEST_TIMESTAMP = "1970-01-01"
LATEST_TIMESTAMP = "2200-01-01"

EVENT_TYPES = ("app_open", "impression", "click", "add_to_cart", "filter_use", "suggest_use")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    required: bool = False
    # Extra row rule as a SQL predicate over the typed column `{c}` that must hold when the
    # value is not null, with the reason reported when it does not.
    rule: str | None = None
    rule_reason: str | None = None
    default: str | None = None  # SQL literal used for a null or absent value


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    # Columns that identify a row. Exact duplicate rows count once; rows that share a key
    # but differ elsewhere are all rejected ("conflicting").
    key: tuple[str, ...] = ()
    # Rows with one of these event types need the listed columns (events only).
    required_when: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Timestamps of these columns may not lie more than a day after the load time.
    no_future: tuple[str, ...] = ()
    # Rules over a whole row: (column reported, SQL condition over typed columns that is true when
    # the row breaks it, reason).
    row_rules: tuple[tuple[str, str, str], ...] = ()

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


NON_NEGATIVE = ("{c} >= 0", "negative amount")

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "events",
            (
                Column("event_id", "id", True),
                Column("ts", "timestamp", True),
                Column("user_id", "id", True),
                Column("session_id", "id"),
                Column(
                    "event_type",
                    "string",
                    True,
                    rule="{c} IN (" + ", ".join(f"'{t}'" for t in EVENT_TYPES) + ")",
                    rule_reason="unknown event_type (allowed: " + ", ".join(EVENT_TYPES) + ")",
                ),
                Column("item_id", "id"),
                Column("block", "string"),
                Column("position", "int", rule="{c} >= 1", rule_reason="position below 1"),
                Column("model_version", "string"),
                Column("platform", "string"),
                # v2: the logging policy's probability of this impression (off-policy estimates).
                Column(
                    "propensity",
                    "number",
                    rule="{c} > 0 AND {c} <= 1",
                    rule_reason="propensity outside (0, 1]",
                ),
            ),
            key=("event_id",),
            required_when={
                "impression": ("item_id", "block"),
                "click": ("item_id", "block"),
                "add_to_cart": ("item_id",),
            },
            no_future=("ts",),
        ),
        Table(
            "orders",
            (
                Column("order_id", "id", True),
                Column("item_id", "id", True),
                Column("ts", "timestamp", True),
                Column("user_id", "id", True),
                Column("session_id", "id"),
                Column("seller_id", "id"),
                Column("quantity", "int", True, rule="{c} >= 1", rule_reason="quantity below 1"),
                Column("price", "money", True, *NON_NEGATIVE),
                Column("market_price", "money", False, *NON_NEGATIVE),
                Column("commission", "money", False, *NON_NEGATIVE, default="0"),
                Column("delivery_cost", "money", False, *NON_NEGATIVE, default="0"),
                Column("discount", "money", False, *NON_NEGATIVE, default="0"),
                Column("returned", "bool", default="false"),
            ),
            key=("order_id", "item_id"),
            no_future=("ts",),
            row_rules=(("quantity", f"quantity > {MAX_QUANTITY}", f"quantity above {MAX_QUANTITY:,}"),),
        ),
        Table(
            "items",
            (
                Column("item_id", "id", True),
                Column("seller_id", "id", True),
                Column("category", "string"),
                Column("market_price", "money", False, *NON_NEGATIVE),
                Column("created_at", "timestamp"),
            ),
            key=("item_id",),
        ),
        Table(
            "sellers",
            (
                Column("seller_id", "id", True),
                Column("joined_at", "timestamp", True),
                Column("left_at", "timestamp"),
            ),
            key=("seller_id",),
        ),
        Table(
            "users",
            (
                Column("user_id", "id", True),
                Column("signup_ts", "timestamp"),
                Column("platform", "string"),
                Column("city", "string"),
            ),
            key=("user_id",),
        ),
        Table(
            "reviews",
            (
                Column("review_id", "id", True),
                Column("item_id", "id", True),
                Column("seller_id", "id"),
                Column("user_id", "id"),
                Column("ts", "timestamp", True),
                Column("rating", "int", rule="{c} BETWEEN 1 AND 5", rule_reason="rating outside 1..5"),
                Column("replied_at", "timestamp"),
            ),
            key=("review_id",),
            no_future=("ts",),
        ),
        Table(
            "ad_spend",
            (
                Column("date", "date", True),
                Column("seller_id", "id", True),
                Column("amount", "money", True, *NON_NEGATIVE),
            ),
            # No key: two payments of one seller on one day are both real.
        ),
        Table(
            "experiments",
            (
                Column("experiment_id", "id", True),
                Column("name", "string"),
                Column("block", "string"),
                Column("start_ts", "timestamp", True),
                Column("end_ts", "timestamp", True),
            ),
            key=("experiment_id",),
            row_rules=(("end_ts", "start_ts > end_ts", "end_ts before start_ts"),),
        ),
        Table(
            "experiment_variants",
            (
                Column("experiment_id", "id", True),
                Column("variant", "id", True),
                Column("model_version", "string", True),
                Column("is_control", "bool", True),
                Column(
                    "traffic_share",
                    "number",
                    rule="{c} > 0 AND {c} <= 1",
                    rule_reason="traffic_share outside (0, 1]",
                ),
            ),
            key=("experiment_id", "variant"),
        ),
        Table(
            "assignments",
            (
                Column("experiment_id", "id", True),
                Column("user_id", "id", True),
                Column("variant", "id", True),
                Column("assigned_ts", "timestamp"),
            ),
            key=("experiment_id", "user_id"),
        ),
        Table(
            "offline_metrics",
            (
                Column("model_version", "string", True),
                Column("metric", "string", True),
                Column("value", "number", True),
                Column("evaluated_at", "timestamp"),
            ),
            # Several rows per (model_version, metric) are allowed: the latest evaluated_at wins.
        ),
        Table(
            "recommendations",
            (
                Column("model_version", "string", True),
                Column("user_id", "id", True),
                Column("item_id", "id", True),
                Column("rank", "int", True, rule="{c} >= 1", rule_reason="rank below 1"),
            ),
            key=("model_version", "user_id", "rank"),
        ),
        Table(
            "holdout",
            (
                Column("user_id", "id", True),
                Column("item_id", "id", True),
                Column("relevance", "int", rule="{c} >= 1", rule_reason="relevance below 1", default="1"),
            ),
            # Duplicate (user_id, item_id) rows are merged by the offline metrics (max relevance).
        ),
        Table(
            "target_policies",
            (
                Column("model_version", "string", True),
                Column("block", "string", True),
                Column("position", "int", True, rule="{c} >= 1", rule_reason="position below 1"),
                Column("item_id", "id", True),
                Column(
                    "probability",
                    "number",
                    True,
                    rule="{c} >= 0 AND {c} <= 1",
                    rule_reason="probability outside [0, 1]",
                ),
                Column("user_id", "id"),  # null: the same for every user
            ),
            # No key: two rows for one item at one slot add up (source/across.py rejects a slot whose
            # probabilities sum above 1).
        ),
    )
}

TABLE_NAMES = tuple(TABLES)
