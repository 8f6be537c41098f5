"""Offline evaluation: recommendations scored on a holdout, offline metrics per model and date,
and freshness@10 that only shares a trend with the online metric (planted truth d)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dashboard.engine.demo.buyers import _expand
from dashboard.engine.demo.world import (
    DAY, HOME, HOUR, OFFLINE_NOISE, WEEK, _World, _item_ids, _ts, _user_ids,
)


OFFLINE_METRICS = ("ndcg@10", "map@10", "recall@10", "precision@10", "coverage@10", "novelty@10")
# --- Planted truth (d): an offline metric that only shares a trend ----------------------------
# freshness@10 (share of a model's top 10 listed recently) grows with the model's training date,
# FRESHNESS_BASE + FRESHNESS_PER_WEEK × weeks since the start + N(0, FRESHNESS_NOISE), and has
# nothing to do with what users like: it rises over time as the shipped quality does, so the two
# correlate in levels, but held out it predicts no experiment's winner. Its own random stream.
FRESHNESS_METRIC = "freshness@10"
FRESHNESS_BASE, FRESHNESS_PER_WEEK, FRESHNESS_NOISE = 0.20, 0.012, 0.004
FRESHNESS_STREAM = 21

# recommendations / holdout: hit probability per holdout item = HIT_SCALE * q (calibrated so the
# ndcg@10 computed from the tables comes out close to q)
HOLDOUT_USERS = 1500
HIT_SCALE = 1.80
HIT_RANK_P = 0.16


# --- offline evaluation -----------------------------------------------------------------------
def _recommendations(w: _World) -> tuple[pa.Table, pa.Table, dict]:
    """Top-20 lists of three home_feed models for holdout users, and what they score."""
    rng = w.rng(10)
    chosen = [i for i, m in enumerate(w.models) if m.block == HOME][:3]   # = the first home_feed test
    active = np.unique(w.sess_user)
    n_h = min(HOLDOUT_USERS, active.size)
    hold_users = np.sort(rng.choice(active, n_h, replace=False))
    n_items = w.n_items
    pop = w.item_weight / w.item_weight.sum()
    # holdout: 1..5 items per user, popular items more often, relevance 1..3
    k = 1 + rng.binomial(4, 0.4, n_h)
    hu, _ = _expand(k)
    hi = rng.choice(n_items, hu.size, p=pop)
    key = hu * n_items + hi
    _, first = np.unique(key, return_index=True)
    first.sort()
    hu, hi = hu[first], hi[first]
    rel = rng.choice(3, hu.size, p=[0.55, 0.30, 0.15]) + 1
    hkey = hu * n_items + hi                                  # sorted: hu ascending, unique keys
    order = np.argsort(hkey)
    hkey_sorted, rel_sorted = hkey[order], rel[order]

    rec_parts, computed = [], {}
    for m in chosen:
        q = w.models[m].q
        hit = rng.random(hu.size) < np.clip(HIT_SCALE * q * (0.85 + 0.1 * rel), 0, 0.97)
        hit_rank = np.minimum(rng.geometric(HIT_RANK_P, hu.size), 20)
        alpha = rng.uniform(0.4, 1.2)             # popularity bias: novelty/coverage, not quality
        fw = w.item_weight ** alpha
        n_fill = 40
        fu, fpos = _expand(np.full(n_h, n_fill))
        fitem = np.where(fpos <= 25, rng.choice(n_items, fu.size, p=fw / fw.sum()),
                         rng.integers(0, n_items, fu.size))
        users = np.concatenate([hu[hit], fu])
        items = np.concatenate([hi[hit], fitem])
        score = np.concatenate([hit_rank[hit] - 0.5, fpos.astype(float)])
        is_hold = np.zeros(users.size, bool)
        is_hold[np.flatnonzero(hit).size:] = np.isin(fu * n_items + fitem, hkey_sorted)
        o = np.lexsort((score, users))
        users, items, is_hold = users[o], items[o], is_hold[o]
        keep = ~is_hold
        _, first = np.unique(users[keep] * n_items + items[keep], return_index=True)
        sel = np.flatnonzero(keep)[np.sort(first)]
        users, items = users[sel], items[sel]
        starts = np.searchsorted(users, users, side="left")
        rank = np.arange(users.size) - starts + 1
        top = rank <= 20
        users, items, rank = users[top], items[top], rank[top]
        rec_parts.append((m, users, items, rank))
        computed[m] = _score(users, items, rank, hu, hi, rel, hkey_sorted, rel_sorted, n_h, n_items)

    model_names = pa.array([w.models[m].name for m, *_ in rec_parts]).take(
        pa.array(np.repeat(np.arange(len(rec_parts)), [p[1].size for p in rec_parts])))
    user_ids, item_ids = _user_ids(w), _item_ids(w)
    recs = pa.table({
        "model_version": model_names,
        "user_id": user_ids.take(pa.array(hold_users[np.concatenate([p[1] for p in rec_parts])])),
        "item_id": item_ids.take(pa.array(np.concatenate([p[2] for p in rec_parts]))),
        "rank": pa.array(np.concatenate([p[3] for p in rec_parts]).astype(np.int64)),
    })
    holdout = pa.table({
        "user_id": user_ids.take(pa.array(hold_users[hu])),
        "item_id": item_ids.take(pa.array(hi)),
        "relevance": pa.array(rel.astype(np.int64)),
    })
    return recs, holdout, computed


def _score(users, items, rank, hu, hi, rel, hkey_sorted, rel_sorted, n_users, n_items, k=10) -> dict:
    """metrics.md's offline metrics at k (trec_eval conventions), for one model's lists."""
    top = rank <= k
    users, items, rank = users[top], items[top], rank[top]
    key = users * n_items + items
    pos = np.minimum(np.searchsorted(hkey_sorted, key), hkey_sorted.size - 1)
    hit = hkey_sorted[pos] == key
    gain = np.where(hit, rel_sorted[pos], 0)
    n_rel = np.bincount(hu, minlength=n_users)
    hits = np.bincount(users, weights=hit, minlength=n_users)
    dcg = np.bincount(users, weights=gain / np.log2(rank + 1), minlength=n_users)
    # ideal DCG: each user's relevances in descending order, cut at k
    o = np.lexsort((-rel, hu))
    r_u, r_rel = hu[o], rel[o]
    r_pos = np.arange(r_u.size) - np.searchsorted(r_u, r_u, side="left") + 1
    ideal = np.bincount(r_u, weights=np.where(r_pos <= k, r_rel / np.log2(r_pos + 1), 0), minlength=n_users)
    # average precision: precision at every hit rank (lists are sorted by user, then rank)
    o = np.lexsort((rank, users))
    hu_sorted, hit_sorted, rank_sorted = users[o], hit[o], rank[o]
    cum = np.cumsum(hit_sorted)
    before = np.concatenate([[0], cum])[np.searchsorted(hu_sorted, hu_sorted, side="left")]
    prec_at = (cum - before) / rank_sorted
    ap = np.bincount(hu_sorted, weights=np.where(hit_sorted, prec_at, 0), minlength=n_users)
    holders = np.bincount(hi, minlength=n_items)
    p = np.where(holders > 0, holders / n_users, 1.0 / (n_users + 1))
    return {
        "ndcg@10": float(np.mean(np.where(ideal > 0, dcg / np.where(ideal > 0, ideal, 1), 0))),
        "map@10": float(np.mean(ap / np.maximum(n_rel, 1))),
        "recall@10": float(np.mean(hits / np.maximum(n_rel, 1))),
        "precision@10": float(np.mean(hits / k)),
        "coverage@10": float(np.unique(items).size / n_items),
        "novelty@10": float(np.mean(-np.log2(p[items]))),
    }


def _offline_metrics_table(w: _World, computed: dict) -> pa.Table:
    """Every model's offline evaluation; a few were evaluated twice (the later one is right)."""
    rng = w.rng(11)
    ref = next(iter(computed.values())) if computed else {"coverage@10": 0.5, "novelty@10": 10.0}
    values = []
    for i, m in enumerate(w.models):
        q = m.q
        values.append(computed.get(i) or {
            "ndcg@10": q + rng.normal(0, OFFLINE_NOISE),
            "map@10": 0.67 * q + rng.normal(0, OFFLINE_NOISE),
            "recall@10": 1.45 * q + rng.normal(0, 0.02),
            "precision@10": 0.37 * q + rng.normal(0, 0.01),
            # beyond-accuracy metrics have nothing to do with the latent quality
            "coverage@10": ref["coverage@10"] * rng.uniform(0.7, 1.3),
            "novelty@10": ref["novelty@10"] + rng.normal(0, 0.8),
        })
    _decorrelate(w, values, [i not in computed for i in range(len(w.models))])
    rows = []         # (model, metric, value, evaluated_at or None)
    evaluations = []  # each model's evaluation time, for the trend-only metric below
    for m, v in zip(w.models, values):
        evaluated = m.created + int(rng.uniform(2, 20) * HOUR)
        evaluations.append(evaluated)
        for metric in OFFLINE_METRICS:
            value = round(float(v[metric]), 6)
            if rng.random() < 0.08:     # first run had a bug; a re-run a day or two later fixed it
                wrong = value * rng.uniform(0.7, 1.3)
                rows.append((m.name, metric, round(wrong, 6), evaluated))
                rows.append((m.name, metric, value, evaluated + int(rng.uniform(1, 3) * DAY)))
            else:
                rows.append((m.name, metric, value, evaluated))
    rows += _freshness_rows(w, evaluations)
    # two legacy rows without evaluated_at: the oldest by rule, so they never win
    for j in rng.choice(len(w.models), min(2, len(w.models)), replace=False):
        rows.append((w.models[j].name, "ndcg@10", round(float(rng.uniform(0.05, 0.6)), 6), None))
    model, metric, value, at = zip(*rows)
    at_arr = np.array([0 if a is None else a for a in at], np.int64)
    return pa.table({
        "model_version": pa.array(model, pa.string()),
        "metric": pa.array(metric, pa.string()),
        "value": pa.array(value, pa.float64()),
        "evaluated_at": _ts(w, at_arr, null=np.array([a is None for a in at])),
    })


def _freshness_rows(w: _World, evaluations: list[int]) -> list[tuple]:
    """Planted truth (d): freshness@10 of every model, from the model's training date only."""
    rng = w.rng(FRESHNESS_STREAM)
    return [(m.name, FRESHNESS_METRIC,
             round(FRESHNESS_BASE + FRESHNESS_PER_WEEK * m.created / WEEK + float(rng.normal(0, FRESHNESS_NOISE)), 6),
             evaluated)
            for m, evaluated in zip(w.models, evaluations)]


def _decorrelate(w: _World, values: list[dict], free: list[bool]) -> None:
    """Make the experiment pairs' coverage and novelty deltas exactly uncorrelated with their
    online-quality deltas, so that a chance correlation of a few dozen random draws cannot pass
    for a finding. Only `free` models are moved, each by β·(o − its block's mean o): small."""
    pairs = [(m, e.models[0]) for e in w.experiments for m in e.models[1:]]
    if len(pairs) < 3:
        return
    o = np.array([m.o for m in w.models])
    block = np.array([m.block for m in w.models])
    block_mean = np.array([o[block == b].mean() for b in block])
    x = np.where(free, o - block_mean, 0.0)
    t, c = np.array(pairs).T
    do = o[t] - o[c]
    dx = x[t] - x[c]
    denominator = np.cov(dx, do)[0, 1]
    if abs(denominator) < 1e-12:
        return
    for metric in ("coverage@10", "novelty@10"):
        v = np.array([val[metric] for val in values])
        beta = np.cov(v[t] - v[c], do)[0, 1] / denominator
        for i, val in enumerate(values):
            if free[i]:
                val[metric] = float(v[i] - beta * x[i])
