"""Serving models and experiments: latent model quality (planted truth b), a broken split
(truth c), a running experiment with a real effect (truth g); variants and assignments."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dashboard.engine.demo.world import (
    BLOCKS, DAY, HOME, HOUR, ONLINE_NOISE, SEARCH, SIMILAR, UPSELL, _World, _ts, _user_ids,
)


# --- Planted truth (b): latent model quality --------------------------------------------------
# o = q + N(0, ONLINE_NOISE) drives behaviour: CTR × exp(KAPPA_CTR (o − QREF)),
# P(cart | click) × exp(KAPPA_CONV (o − QREF)). Offline ndcg@10 = q + N(0, OFFLINE_NOISE).
QREF = np.array([0.30, 0.34, 0.22, 0.38])
KAPPA_CTR, KAPPA_CONV = 4.0, 3.0
CANDIDATE_DQ_MEAN, CANDIDATE_DQ_SD = -0.005, 0.035
# per block: experiment length, days from one start to the next, first start (days from start)
EXPERIMENT_PLAN = {HOME: (21, 24, 7), SIMILAR: (21, 24, 12), UPSELL: (28, 31, 14), SEARCH: (21, 24, 10)}
THREE_VARIANTS_P = 0.45      # share of experiments with two candidates against the control

# --- Planted truth (g): a running experiment with a real effect ---------------------------------
# One more home_feed test starts RUNNING_GAP_DAYS after the block's last planned test ends and
# runs RUNNING_LENGTH_DAYS, past END: still running in the data. Its candidate is better than
# production by RUNNING_DQ of online quality (clicks × exp(4 × 0.08) ≈ +38 % at the same
# impressions), which its always-valid interval detects.
RUNNING_BLOCK = 0  # home_feed
RUNNING_GAP_DAYS, RUNNING_LENGTH_DAYS, RUNNING_DQ = 1, 21, 0.08
RUNNING_STREAM = 32

# --- Planted truth (c): one experiment with a broken split ------------------------------------
SRM_DECLARED = (0.5, 0.5)
SRM_ACTUAL = (0.56, 0.44)


# --- models and experiments -------------------------------------------------------------------
@dataclass
class _Model:
    name: str
    block: int
    q: float            # latent quality: what offline ndcg@10 measures
    o: float            # online quality: what users react to (q plus a little noise)
    created: int        # µs; offline evaluation time


@dataclass
class _Experiment:
    block: int
    start: int
    end: int
    models: list        # model indices, control first
    declared: tuple     # traffic shares written to experiment_variants
    actual: tuple       # probabilities used to assign users
    users: np.ndarray = None
    variant: np.ndarray = None
    assigned: np.ndarray = None
    experiment_id: str = ""


def _make_models_and_experiments(w: _World) -> None:
    rng = w.rng(4)
    n_days = w.span // DAY
    models: list[_Model] = []

    def new_model(block: int, q: float, created: int) -> int:
        k = sum(m.block == block for m in models) + 1
        models.append(_Model(f"{BLOCKS[block]}-v{k:02d}", block, q, q + rng.normal(0, ONLINE_NOISE), created))
        return len(models) - 1

    plans = []
    for b in range(len(BLOCKS)):
        length, cycle, first = EXPERIMENT_PLAN[b]
        starts = np.arange(first, n_days - length, cycle)          # ends before END
        plans.append(starts)
    n_home = len(plans[HOME])
    srm_index = min(1, n_home - 1)                  # the broken one: an early home_feed test

    experiments: list[_Experiment] = []
    prod_changes = []          # per block: (time, model) list
    for b in range(len(BLOCKS)):
        length = EXPERIMENT_PLAN[b][0]
        prod = new_model(b, QREF[b] + rng.normal(0, 0.01), -30 * DAY)
        changes = [(np.iinfo(np.int64).min, prod)]
        for j, day in enumerate(plans[b]):
            start = int(day) * DAY + 10 * HOUR
            end = start + length * DAY
            srm = b == HOME and j == srm_index
            n_var = 2 if srm else (3 if (b == HOME and j == 0) or rng.random() < THREE_VARIANTS_P else 2)
            cands = [new_model(b, models[prod].q + rng.normal(CANDIDATE_DQ_MEAN, CANDIDATE_DQ_SD),
                               start - int((2 + 4 * rng.random()) * DAY)) for _ in range(n_var - 1)]
            if n_var == 3:
                shares = (0.34, 0.33, 0.33) if rng.random() < 0.5 else (0.5, 0.25, 0.25)
            elif srm:
                shares = SRM_DECLARED
            else:
                shares = (0.5, 0.5) if rng.random() < 0.75 else (0.6, 0.4)
            exp = _Experiment(b, start, end, [prod] + cands, shares, SRM_ACTUAL if srm else shares)
            experiments.append(exp)
            if not srm:           # the team ships the variant users liked best (a broken test ships nothing)
                prod = exp.models[int(np.argmax([models[m].o for m in exp.models]))]
                changes.append((end, prod))
        prod_changes.append(changes)
        if b == RUNNING_BLOCK:
            running_after, running_prod = (experiments[-1].end if plans[b].size else 0), prod

    # planted truth (g): a test that is still running at END, with a clearly better candidate
    rrng = w.rng(RUNNING_STREAM)
    start = running_after + RUNNING_GAP_DAYS * DAY
    if start < w.span - 3 * DAY:
        better = new_model(RUNNING_BLOCK, models[running_prod].q + RUNNING_DQ, start - int((2 + 4 * rrng.random()) * DAY))
        models[better].o = models[better].q + rrng.normal(0, ONLINE_NOISE)
        experiments.append(_Experiment(RUNNING_BLOCK, start, start + RUNNING_LENGTH_DAYS * DAY,
                                       [running_prod, better], (0.5, 0.5), (0.5, 0.5)))

    experiments.sort(key=lambda e: (e.start, e.block))
    for i, exp in enumerate(experiments, start=1):
        exp.experiment_id = f"exp-{i:02d}"

    # which model served each session in each block: production, unless the user is in a test
    start = w.sess_start
    sess_model = np.empty((w.n_sessions, len(BLOCKS)), dtype=np.int32)
    for b, changes in enumerate(prod_changes):
        times = np.array([t for t, _ in changes])
        ids = np.array([m for _, m in changes])
        sess_model[:, b] = ids[np.searchsorted(times, start, side="right") - 1]
    arng = w.rng(5)
    for exp in experiments:
        lo, hi = np.searchsorted(start, [exp.start, exp.end], side="left")
        users = w.sess_user[lo:hi]
        uniq, first = np.unique(users, return_index=True)      # earliest session in the window
        if exp.actual == exp.declared:
            variant = arng.choice(len(exp.models), uniq.size, p=np.array(exp.declared) / sum(exp.declared))
        else:   # the broken bucketing puts a fixed 56 % of the users into the control
            variant = (arng.permutation(uniq.size) >= round(exp.actual[0] * uniq.size)).astype(np.int64)
        exp.users, exp.variant, exp.assigned = uniq, variant, start[lo + first]
        of_user = np.full(w.users, -1, dtype=np.int64)
        of_user[uniq] = variant
        sess_model[lo:hi, exp.block] = np.array(exp.models)[of_user[users]]
    w.models = models
    w.experiments = experiments
    o = np.array([m.o for m in models])
    ref = QREF[[m.block for m in models]]
    w.arrays.update(sess_model=sess_model, model_ctr=np.exp(KAPPA_CTR * (o - ref)),
                    model_conv=np.exp(KAPPA_CONV * (o - ref)))


# --- experiments ------------------------------------------------------------------------------
def _experiments_table(w: _World) -> pa.Table:
    exps = w.experiments
    names = [f"{BLOCKS[e.block]}: " + " vs ".join(w.models[m].name for m in e.models) for e in exps]
    return pa.table({
        "experiment_id": pa.array([e.experiment_id for e in exps], pa.string()),
        "name": pa.array(names, pa.string()),
        "block": pa.array([BLOCKS[e.block] for e in exps], pa.string()),
        "start_ts": _ts(w, np.array([e.start for e in exps], np.int64)),
        "end_ts": _ts(w, np.array([e.end for e in exps], np.int64)),
    })


def _variants_table(w: _World) -> pa.Table:
    rows = [(e.experiment_id, "ABC"[j], w.models[m].name, j == 0, float(e.declared[j]))
            for e in w.experiments for j, m in enumerate(e.models)]
    eid, variant, model, control, share = zip(*rows) if rows else ([],) * 5
    return pa.table({
        "experiment_id": pa.array(eid, pa.string()),
        "variant": pa.array(variant, pa.string()),
        "model_version": pa.array(model, pa.string()),
        "is_control": pa.array(control, pa.bool_()),
        "traffic_share": pa.array(share, pa.float64()),
    })


def _assignments_table(w: _World) -> pa.Table:
    exps = w.experiments
    sizes = [e.users.size for e in exps]
    eid = pa.array([e.experiment_id for e in exps], pa.string()).take(
        pa.array(np.repeat(np.arange(len(exps)), sizes)))
    users = np.concatenate([e.users for e in exps]) if exps else np.zeros(0, np.int64)
    variant = np.concatenate([e.variant for e in exps]) if exps else np.zeros(0, np.int64)
    assigned = np.concatenate([e.assigned for e in exps]) if exps else np.zeros(0, np.int64)
    return pa.table({
        "experiment_id": eid,
        "user_id": _user_ids(w).take(pa.array(users)),
        "variant": pa.array(list("ABC")).take(pa.array(variant)),
        "assigned_ts": _ts(w, assigned),
    })
