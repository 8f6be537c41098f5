"""Simulation benchmark: do the off_policy intervals cover a candidate's true click rate?

Each replication is a simulated bandit log with a known truth, and runs through the product
itself: the logs of all replications are written as one data source (one block per replication:
the estimators never mix blocks), loaded by `load_source` and computed by
`compute_table("off_policy")` — the SQL click matching, weights and sums, and the Python
estimators. Per replication (block):

- users of two kinds; K items; positions 1..P; each impression is a (user, position) drawn
  uniformly, its item drawn by the logging policy: ε-greedy over a softmax of the logging model's
  scores for the user's kind (its probability is the logged propensity);
- a click happens with probability ctr(kind, item, position), a minute after the impression
  (the next impression of anyone comes two minutes later, so each click matches its impression);
- the candidate (target_policies): per position a softmax of other scores for every user
  (null-user rows), and its own rows for a few users (which replace those for them);
- truth = mean over users and positions of Σ_a π(a | u, p)·ctr(kind(u), a, p): the candidate's
  expected CTR on the logged contexts.

Printed: per estimator, the share of replications whose 95 % interval covers the truth, with a
Wilson 95 % interval of that share, mean bias, mean interval width and mean ESS.

    python -m bench.sim_off_policy [--reps 240] [--sizes 500,1000,2000,4000] [--seed 1]

Every size runs the same number of replications (≥ 200, and at most ~1M simulated impressions per
size). Smaller logs have fewer impressions in the rarely shown (item, position) cells that carry
the largest weights; there the doubly robust interval, whose q is fitted on the same log, is too
narrow (see docs/off-policy.md).
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dashboard.engine.context import MetricContext
from dashboard.engine.metrics import compute_table
from dashboard.engine.params import Params
from dashboard.engine.source import load_source

START = np.datetime64("2026-09-01T00:00:00", "us")
MINUTE = 60_000_000
USERS, OWN_ROW_USERS, ITEMS, POSITIONS = 200, 5, 8, 2
EPSILON = 0.1  # the logging policy's exploration share
LOAD_NOW = dt.datetime(2026, 12, 31)


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def replication(rep: int, n: int, seed: int) -> tuple[dict, list[dict], float]:
    """(event columns, target_policies rows, truth) of one replication, in block f"b{rep:04d}"."""
    rng = np.random.default_rng([seed, rep])
    block = f"b{rep:04d}"
    kind = rng.integers(0, 2, USERS)
    # ctr(kind, item, position): item appeal per kind, position 2 seen less
    appeal = rng.uniform(0.02, 0.25, (2, ITEMS))
    position_factor = np.array([1.0, 0.6])
    ctr = appeal[:, :, None] * position_factor[None, None, :]  # (kind, item, position)
    logging = (1 - EPSILON) * softmax(2.0 * rng.normal(0, 1, (2, ITEMS)) + 8 * appeal) + EPSILON / ITEMS  # (kind, item)
    # candidate: per position, for every user; a few users have their own rows
    shared = softmax(12 * appeal.mean(axis=0)[None, :] + rng.normal(0, 0.5, (POSITIONS, ITEMS)))  # (position, item)
    own_users = rng.choice(USERS, OWN_ROW_USERS, replace=False)
    own = softmax(rng.normal(0, 1.5, (OWN_ROW_USERS, POSITIONS, ITEMS)))  # (own user, position, item)
    policy = np.repeat(shared[None], USERS, axis=0)  # (user, position, item)
    policy[own_users] = own
    truth = float(np.mean([[policy[u, p] @ ctr[kind[u], :, p] for p in range(POSITIONS)] for u in range(USERS)]))

    user = rng.integers(0, USERS, n)
    position = rng.integers(0, POSITIONS, n)
    cdf = np.cumsum(logging[kind[user]], axis=1)
    item = np.minimum((cdf < rng.random(n)[:, None]).sum(axis=1), ITEMS - 1)
    propensity = logging[kind[user], item]
    clicked = rng.random(n) < ctr[kind[user], item, position]
    ts = START + np.arange(n) * 2 * MINUTE
    events = {
        "event_id": np.char.add(f"{block}-i", np.arange(n).astype(str)),
        "ts": ts, "user_id": np.char.add("u", user.astype(str)), "event_type": np.full(n, "impression"),
        "item_id": np.char.add("a", item.astype(str)), "block": np.full(n, block),
        "position": position + 1, "propensity": propensity,
    }
    c = np.nonzero(clicked)[0]
    clicks = {
        "event_id": np.char.add(f"{block}-c", c.astype(str)), "ts": ts[c] + MINUTE,
        "user_id": events["user_id"][c], "event_type": np.full(c.size, "click"), "item_id": events["item_id"][c],
        "block": np.full(c.size, block), "position": position[c] + 1, "propensity": np.full(c.size, np.nan),
    }
    both = {k: np.concatenate([events[k], clicks[k]]) for k in events}
    rows = [{"model_version": "candidate", "block": block, "user_id": None, "position": p + 1,
             "item_id": f"a{a}", "probability": float(shared[p, a])} for p in range(POSITIONS) for a in range(ITEMS)]
    rows += [{"model_version": "candidate", "block": block, "user_id": f"u{u}", "position": p + 1,
              "item_id": f"a{a}", "probability": float(own[j, p, a])}
             for j, u in enumerate(own_users) for p in range(POSITIONS) for a in range(ITEMS)]
    return both, rows, truth


def write_source(folder: Path, reps: int, n: int, seed: int, say) -> dict[str, float]:
    truths, parts, policy_rows = {}, [], []
    for rep in range(reps):
        events, rows, truth = replication(rep, n, seed)
        parts.append(events)
        policy_rows += rows
        truths[f"b{rep:04d}"] = truth
        if (rep + 1) % 50 == 0 or rep + 1 == reps:
            say(f"  simulated {rep + 1}/{reps} logs")
    columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    prop = columns.pop("propensity")
    table = pa.table({**{k: pa.array(v) for k, v in columns.items()},
                      "propensity": pa.array(prop, mask=np.isnan(prop))})
    pq.write_table(table, folder / "events.parquet")
    pq.write_table(pa.Table.from_pylist(policy_rows), folder / "target_policies.parquet")
    return truths


def run(reps: int = 200, n: int = 2000, seed: int = 1, say=print) -> dict[str, dict]:
    started = time.perf_counter()
    say(f"off_policy coverage: {reps} simulated logs of {n:,} impressions each "
        f"({USERS} users of 2 kinds, {ITEMS} items, {POSITIONS} positions, ε = {EPSILON}), seed {seed}")
    with tempfile.TemporaryDirectory(prefix="sim-off-policy-") as tmp:
        folder = Path(tmp)
        truths = write_source(folder, reps, n, seed, say)
        say("  loading the logs as a data source and computing off_policy (SQL + estimators)")
        source = load_source(folder, now=LOAD_NOW)
        ctx = MetricContext(source, Params())
        try:
            table = compute_table("off_policy", ctx)
        finally:
            ctx.close()
            source.con.close()
    results = {}
    for estimator in ("ips", "snips", "dr"):
        part = table[table.estimator == estimator]
        truth = part.block.map(truths).astype(float)
        low, high = part.ci_low.astype(float), part.ci_high.astype(float)
        covered = int(((low <= truth) & (truth <= high)).sum())
        lo, hi = wilson(covered, len(part))
        results[estimator] = {
            "coverage": covered / len(part), "wilson_low": lo, "wilson_high": hi, "covered": covered, "reps": len(part),
            "bias": float((part.estimate.astype(float) - truth).mean()), "width": float((high - low).mean()),
            "ess": float(part.ess.astype(float).mean()), "truth": float(truth.mean()),
        }
    say(f"  mean truth {results['ips']['truth']:.4f}; mean logged CTR {float(table.logged_ctr.astype(float).mean()):.4f}")
    say(f"{'estimator':<10}{'coverage':>10}{'95% Wilson':>20}{'bias':>11}{'width':>9}{'ESS':>9}")
    for estimator, r in results.items():
        say(f"{estimator:<10}{r['coverage']:>10.1%}   [{r['wilson_low']:.1%}, {r['wilson_high']:.1%}]"
            f"{r['bias']:>+11.5f}{r['width']:>9.4f}{r['ess']:>9.0f}")
    say(f"done in {time.perf_counter() - started:.1f} s")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=240)
    parser.add_argument("--sizes", default="500,1000,2000,4000", help="logged impressions per replication")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    for size in (int(x) for x in args.sizes.split(",")):
        run(args.reps, size, args.seed, say=lambda m: print(m, flush=True))
        print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
