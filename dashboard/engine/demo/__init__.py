"""Demo marketplace generator: a synthetic world that follows the data contract.

`generate(out_dir)` writes one Parquet file per contract table. The world is simulated, not
sampled row by row: users open app sessions, recommendation blocks show items, position bias and
the serving model's latent quality decide clicks, clicks lead to carts and purchases, and so on.
Three truths are planted on purpose so that the dashboard has something real to find; they and
every number used are described in docs/demo-data.md (keep the two in step).

Everything is vectorised numpy; the only Python loops run per week, per block or per experiment.
Events are written week by week as Parquet row groups so that memory stays bounded at large sizes.
The world ends at a fixed instant (`END`), never at the wall clock, and every random draw comes
from a stream seeded by (seed, stream number): the same seed gives byte-identical files.

The package, by what it simulates (`generate` below calls them in a fixed order, so the random
streams and the files stay the same):
- `world.py`       the world's clock, sizes and seeded streams; shared constants; Arrow helpers;
- `sellers.py`     sellers and their items;
- `buyers.py`      users, their sessions and the events of each week (clicks, carts, purchases);
- `orders.py`      order lines, orders, reviews, ad spend;
- `experiments.py` serving models, experiments, variants and assignments (planted truths b, c, g);
- `offline.py`     offline evaluation: recommendations, holdout and offline metrics (truth d);
- `upsell.py`      the upsell shelf's logged propensities and its candidate policy (truth e).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

from dashboard.engine.demo.buyers import _make_sessions, _make_users, _users_table, _write_events
from dashboard.engine.demo.experiments import (
    _assignments_table, _experiments_table, _make_models_and_experiments, _variants_table,
)
from dashboard.engine.demo.offline import _offline_metrics_table, _recommendations
from dashboard.engine.demo.orders import _ad_spend_table, _order_lines, _orders_table, _reviews_table
from dashboard.engine.demo.sellers import _items_table, _make_sellers_items, _sellers_table
from dashboard.engine.demo.upsell import (
    _make_upsell_policies, _target_policies_table, _with_candidate_offline_rows,
)
from dashboard.engine.demo.world import END, UPSELL_CANDIDATE, _World, _write

__all__ = ["END", "TABLES", "UPSELL_CANDIDATE", "code_version", "generate"]

TABLES = (
    "events", "orders", "items", "sellers", "users", "reviews", "ad_spend", "experiments",
    "experiment_variants", "assignments", "offline_metrics", "recommendations", "holdout",
    "target_policies",
)


# ---------------------------------------------------------------------------------------------
def generate(out_dir: str | Path, users: int = 20_000, weeks: int = 26, seed: int = 7,
             progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Write a demo marketplace as Parquet files `<table>.parquet` into out_dir; return rows per table."""
    if users < 50:
        raise ValueError("users must be at least 50")
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda message: None)
    world = _World(users=users, weeks=weeks, seed=seed)
    rows: dict[str, int] = {}

    say("sellers and items")
    _make_sellers_items(world)
    rows["sellers"] = _write(out, "sellers", _sellers_table(world))
    rows["items"] = _write(out, "items", _items_table(world))
    say("users")
    _make_users(world)
    rows["users"] = _write(out, "users", _users_table(world))
    say("sessions")
    _make_sessions(world)
    say("models and experiments")
    _make_models_and_experiments(world)
    _make_upsell_policies(world)
    rows["experiments"] = _write(out, "experiments", _experiments_table(world))
    rows["experiment_variants"] = _write(out, "experiment_variants", _variants_table(world))
    rows["assignments"] = _write(out, "assignments", _assignments_table(world))
    rows["events"] = _write_events(out, world, say)
    say("orders")
    lines = _order_lines(world)
    rows["orders"] = _write(out, "orders", _orders_table(world, lines))
    say("reviews")
    rows["reviews"] = _write(out, "reviews", _reviews_table(world, lines))
    say("ad spend")
    rows["ad_spend"] = _write(out, "ad_spend", _ad_spend_table(world))
    say("recommendations, holdout and offline metrics")
    recs, holdout, computed = _recommendations(world)
    rows["recommendations"] = _write(out, "recommendations", recs)
    rows["holdout"] = _write(out, "holdout", holdout)
    rows["offline_metrics"] = _write(out, "offline_metrics",
                                     _with_candidate_offline_rows(world, _offline_metrics_table(world, computed)))
    rows["target_policies"] = _write(out, "target_policies", _target_policies_table(world))
    say(f"done: {rows['events']:,} events, {rows['orders']:,} order lines")
    return {table: rows[table] for table in TABLES}


def code_version() -> str:
    """A hash of every file of this package: a cached demo made by other code is made again.

    (The demo's cache folder and the benchmark's sources are named by it.)
    """
    digest = hashlib.sha1()
    for file in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:8]
