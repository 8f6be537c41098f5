"""Planted truth (e): an upsell shelf served with logged propensities, and a candidate policy
that serves later (what the off-policy estimates must predict)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dashboard.engine.demo.world import (
    BLOCKS, UPSELL, UPSELL_CANDIDATE, UPSELL_SLOTS, WEEK, _World, _item_ids,
)


UPSELL_SHELF = 12
UPSELL_LOG_WEEKS, UPSELL_CANDIDATE_WEEKS, UPSELL_CANDIDATE_SHARE = 8, 4, 0.4
UPSELL_APPEAL_SD = 0.6          # log-appeal of the shelf's items ~ N(0, 0.6)
UPSELL_SERVING = (1.0, 0.8)     # softmax sharpness, noise sd of the serving policy's scores
UPSELL_CANDIDATE_POLICY = (2.0, 0.3)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def _make_upsell_policies(w: _World) -> None:
    rng = w.rng(30)
    # shelf items: on sale over the whole period, so every slot can show each of them
    always = np.nonzero((w.item_created < 0) & (w.item_left > w.span))[0]
    if always.size < UPSELL_SHELF:
        always = np.argsort(w.item_created)[:UPSELL_SHELF]
    shelf = rng.choice(always, UPSELL_SHELF, replace=False)
    log_appeal = rng.normal(0.0, UPSELL_APPEAL_SD, UPSELL_SHELF)
    appeal = np.exp(log_appeal)
    serving = _softmax(UPSELL_SERVING[0] * (log_appeal + rng.normal(0, UPSELL_SERVING[1], UPSELL_SHELF)))
    candidate = _softmax(UPSELL_CANDIDATE_POLICY[0]
                         * (log_appeal + rng.normal(0, UPSELL_CANDIDATE_POLICY[1], UPSELL_SHELF)))
    mean_appeal = float(serving @ appeal)
    w.arrays.update(
        upsell_shelf=shelf, upsell_appeal=appeal / mean_appeal, upsell_serving=serving,
        upsell_candidate=candidate, upsell_true_lift=float(candidate @ appeal) / mean_appeal,
        upsell_log_start=max(w.span - UPSELL_LOG_WEEKS * WEEK, 0),
        upsell_candidate_start=max(w.span - UPSELL_CANDIDATE_WEEKS * WEEK, 0),
        upsell_candidate_user=rng.random(w.users) < UPSELL_CANDIDATE_SHARE,
        upsell_candidate_model=len(w.models),
    )


def _upsell_shelf(w: _World, sessions: np.ndarray, ts: np.ndarray, item: np.ndarray, model: np.ndarray,
                  rng: np.random.Generator):
    """(item, model shown, propensity, click factor) of upsell impressions (sessions: global indices)."""
    on_shelf = ts >= w.upsell_log_start
    candidate = on_shelf & (ts >= w.upsell_candidate_start) & w.upsell_candidate_user[w.sess_user[sessions]]
    u = rng.random(ts.size)
    last = UPSELL_SHELF - 1
    by_serving = np.minimum(np.searchsorted(np.cumsum(w.upsell_serving), u, side="right"), last)
    by_candidate = np.minimum(np.searchsorted(np.cumsum(w.upsell_candidate), u, side="right"), last)
    slot = np.where(candidate, by_candidate, by_serving)
    item = np.where(on_shelf, w.upsell_shelf[slot], item)
    shown_by = np.where(candidate, w.upsell_candidate_model, model)
    propensity = np.where(on_shelf & ~candidate, w.upsell_serving[slot], np.nan)
    appeal = np.where(on_shelf, w.upsell_appeal[slot], 1.0)
    return item, shown_by, propensity, appeal


def _target_policies_table(w: _World) -> pa.Table:
    """The candidate's probabilities: the same at every upsell position, for every user."""
    positions = np.repeat(np.arange(1, UPSELL_SLOTS + 1), UPSELL_SHELF)
    shelf = np.tile(np.arange(UPSELL_SHELF), UPSELL_SLOTS)
    return pa.table({
        "model_version": pa.array([UPSELL_CANDIDATE] * positions.size),
        "block": pa.array([BLOCKS[UPSELL]] * positions.size),
        "position": pa.array(positions.astype(np.int64)),
        "item_id": _item_ids(w).take(pa.array(w.upsell_shelf[shelf])),
        "probability": pa.array(w.upsell_candidate[shelf]),
        "user_id": pa.nulls(positions.size, pa.string()),
    })


def _with_candidate_offline_rows(w: _World, table: pa.Table) -> pa.Table:
    """The candidate was evaluated offline like every model: it gets the rows of the upsell model
    it builds on (the last one), under its own name."""
    import pyarrow.compute as pc

    base = max((m.name for m in w.models if m.block == UPSELL), default=None)
    rows = table.filter(pc.equal(table["model_version"], base))
    rows = rows.set_column(rows.schema.get_field_index("model_version"), "model_version",
                           pa.array([UPSELL_CANDIDATE] * rows.num_rows, type=table.schema.field("model_version").type))
    return pa.concat_tables([table, rows])
