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
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# ---------------------------------------------------------------------------------------------
# Time: int64 microseconds relative to the world's start (naive UTC when written).
US = 1_000_000
MINUTE = 60 * US
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY

# The world ends on Monday 2026-11-02 00:00 UTC and lasts `weeks` whole ISO weeks before it
# (default: from Monday 2026-05-04). Fixed, so that no run depends on the clock.
END = np.datetime64("2026-11-02T00:00:00", "us")

TABLES = (
    "events", "orders", "items", "sellers", "users", "reviews", "ad_spend", "experiments",
    "experiment_variants", "assignments", "offline_metrics", "recommendations", "holdout",
    "target_policies",
)

BLOCKS = ("home_feed", "similar_items", "cart_upsell", "search_recs")
HOME, SIMILAR, UPSELL, SEARCH = range(4)
PLATFORMS = ("ios", "android", "web")
PLATFORM_SHARE = (0.42, 0.40, 0.18)
CITIES = ("Metropolis", "Riverton", "Lakeside", "Hillview", "Portsmouth", "Oakridge", "Fairbay",
          "Springfield", "Northgate", "Eastwick")
CATEGORIES = ("electronics", "fashion", "home", "beauty", "kids", "sports", "books", "auto",
              "garden", "pets", "grocery", "toys")
CATEGORY_MEDIAN_PRICE = (180.0, 35.0, 45.0, 18.0, 25.0, 40.0, 12.0, 60.0, 30.0, 20.0, 9.0, 22.0)
CATEGORY_COMMISSION = (0.05, 0.12, 0.10, 0.15, 0.11, 0.09, 0.08, 0.07, 0.10, 0.12, 0.06, 0.13)
CATEGORY_RETURN = (0.06, 0.10, 0.05, 0.04, 0.06, 0.07, 0.03, 0.06, 0.05, 0.04, 0.03, 0.06)

EVENT_TYPES = ("app_open", "impression", "click", "add_to_cart", "filter_use", "suggest_use")
APP_OPEN, IMPRESSION, CLICK, ADD_TO_CART, FILTER_USE, SUGGEST_USE = range(6)

SELLER_STAY_DAYS = 800       # mean time a seller stays (from joining or from the start)

# --- Users and sessions -----------------------------------------------------------------------
ACTIVITY_SIGMA = 1.1          # activity ~ lognormal with mean 1: a few heavy users, many light ones
SESSION_RATE = 0.09           # sessions per day of a user with activity 1 (times weekday factor)
GROWTH = 0.30                 # the per-user session rate grows by this much over the period
BURN_IN_WEEKS = 4            # simulated before the start, not written: users arrive with a history
DOW_FACTOR = np.array([0.90, 0.88, 0.92, 0.97, 1.05, 1.18, 1.10])  # Mon..Sun, weekends busier
DOW_FACTOR = DOW_FACTOR / DOW_FACTOR.mean()
HOUR_WEIGHT = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.15, 0.3, 0.6, 0.8, 0.9, 1.0, 1.0,
                        1.1, 1.0, 1.0, 1.0, 1.1, 1.3, 1.6, 1.9, 2.0, 1.8, 1.2, 0.6])
HOUR_P = HOUR_WEIGHT / HOUR_WEIGHT.sum()


def _saturation(activity: np.ndarray) -> np.ndarray:
    """0..1: how 'heavy' a user is by nature (saturates: beyond a few sessions a week, all alike)."""
    return 1.0 - np.exp(-activity / 1.2)


# --- Planted truth (a): filter use vs conversion, confounded by activity -----------------------
# habit h = HABIT_LATENT * sat + (1 - HABIT_LATENT) * (1 - exp(-recent / HABIT_SCALE)), where
#   recent = the user's sessions in the 28 days before the session's week (what the strata see)
# P(session uses filters)     = FILTER_PLATFORM[p] * (0.02 + 0.40 * h**2)
# conversion propensity g     = CONV_PLATFORM[p] * (0.30 + 1.40 * h**1.5)
# P(organic purchase)         = 0.045 * g + FILTER_TRUE_EFFECT * uses_filter
FILTER_PLATFORM = np.array([1.15, 0.90, 1.05])
CONV_PLATFORM = np.array([1.10, 0.92, 1.00])
FILTER_TRUE_EFFECT = 0.012
HABIT_LATENT, HABIT_SCALE = 0.35, 2.0
ORGANIC_BASE = 0.045
SUGGEST_BASE, SUGGEST_SLOPE = 0.10, 0.12   # suggest_use: no true effect at all

# --- Recommendation blocks ---------------------------------------------------------------------
BASE_CTR = np.array([0.080, 0.075, 0.100, 0.090])   # at position 1, per block
POSITION_DECAY = 0.6                                 # ctr ∝ position ** -0.6
CART_P = 0.16              # P(add_to_cart | click) = CART_P * g * quality factor
BUY_P = 0.55               # P(purchase | rec cart)
DELAYED_SHARE = 0.22       # of rec purchases made in a later session (1 h .. 4 days later)
HOME_SLOTS_MIN, HOME_SLOTS_EXTRA = 3, 3.0   # home feed depth: 3 + Poisson(3) items
SIMILAR_P, SIMILAR_SLOTS = 0.70, 5
UPSELL_P, UPSELL_SLOTS = 0.85, 6
SEARCH_P, SEARCH_SLOTS = 0.45, 6

# --- Planted truth (b): latent model quality --------------------------------------------------
# o = q + N(0, ONLINE_NOISE) drives behaviour: CTR × exp(KAPPA_CTR (o − QREF)),
# P(cart | click) × exp(KAPPA_CONV (o − QREF)). Offline ndcg@10 = q + N(0, OFFLINE_NOISE).
QREF = np.array([0.30, 0.34, 0.22, 0.38])
KAPPA_CTR, KAPPA_CONV = 4.0, 3.0
CANDIDATE_DQ_MEAN, CANDIDATE_DQ_SD = -0.005, 0.035
ONLINE_NOISE, OFFLINE_NOISE = 0.006, 0.004
# per block: experiment length, days from one start to the next, first start (days from start)
EXPERIMENT_PLAN = {HOME: (21, 24, 7), SIMILAR: (21, 24, 12), UPSELL: (28, 31, 14), SEARCH: (21, 24, 10)}
THREE_VARIANTS_P = 0.45      # share of experiments with two candidates against the control
OFFLINE_METRICS = ("ndcg@10", "map@10", "recall@10", "precision@10", "coverage@10", "novelty@10")
# --- Planted truth (d): an offline metric that only shares a trend ----------------------------
# freshness@10 (share of a model's top 10 listed recently) grows with the model's training date,
# FRESHNESS_BASE + FRESHNESS_PER_WEEK × weeks since the start + N(0, FRESHNESS_NOISE), and has
# nothing to do with what users like: it rises over time as the shipped quality does, so the two
# correlate in levels, but held out it predicts no experiment's winner. Its own random stream.
FRESHNESS_METRIC = "freshness@10"
FRESHNESS_BASE, FRESHNESS_PER_WEEK, FRESHNESS_NOISE = 0.20, 0.012, 0.004
FRESHNESS_STREAM = 21

# --- Planted truth (f): buyers who bought before buy again (CUPED) ----------------------------
# Each user's conversion propensity g is multiplied by a lasting loyalty L ~ lognormal with mean 1
# and σ = LOYALTY_SIGMA (its own random stream): what a user bought in the 28 days before an
# experiment predicts what they buy during it, so CUPED narrows the intervals.
LOYALTY_SIGMA = 1.5
LOYALTY_STREAM = 31

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

# recommendations / holdout: hit probability per holdout item = HIT_SCALE * q (calibrated so the
# ndcg@10 computed from the tables comes out close to q)
HOLDOUT_USERS = 1500
HIT_SCALE = 1.80
HIT_RANK_P = 0.16


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


@dataclass
class _World:
    """The size, the seed and everything simulated so far; `w.name` reads `w.arrays["name"]`."""

    users: int
    weeks: int
    seed: int
    span: int = 0                                  # µs from start to END
    start: np.datetime64 = END
    arrays: dict = field(default_factory=dict)     # filled step by step (see the _make_* functions)
    models: list = field(default_factory=list)
    experiments: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.span = self.weeks * WEEK
        self.start = END - np.timedelta64(self.span, "us")

    def rng(self, stream: int) -> np.random.Generator:
        """An independent random stream per step: changing one step leaves the others alone."""
        return np.random.default_rng([self.seed, stream])

    def __getattr__(self, name):
        try:
            return self.__dict__["arrays"][name]
        except KeyError:
            raise AttributeError(name) from None


# --- sellers, items, users --------------------------------------------------------------------
def _make_sellers_items(w: _World) -> None:
    rng = w.rng(1)
    n_s = max(20, w.users // 40)
    n_i = max(300, w.users // 2)
    size = rng.lognormal(0.0, 1.2, n_s)                       # heavy-tailed seller sizes
    old = rng.random(n_s) < 0.6
    joined = np.where(old, -(rng.random(n_s) * 730 * DAY), rng.random(n_s) ** 0.8 * (w.span - 7 * DAY))
    joined = joined.astype(np.int64)
    joined = joined[np.argsort(joined, kind="stable")]        # seller ids follow joining order
    base = np.maximum(joined, 0)
    leave_at = base + 14 * DAY + (rng.exponential(SELLER_STAY_DAYS, n_s) * DAY).astype(np.int64)
    leaves = leave_at < w.span                                # a seller's stay lasts 800 days on average
    left = np.where(leaves, leave_at, np.iinfo(np.int64).max)
    main_cat = rng.integers(0, len(CATEGORIES), n_s)

    seller = np.concatenate([np.arange(n_s), rng.choice(n_s, n_i - n_s, p=size / size.sum())])
    cat = np.where(rng.random(n_i) < 0.8, main_cat[seller], rng.integers(0, len(CATEGORIES), n_i))
    lo = joined[seller]
    hi = np.minimum(left[seller], w.span) - DAY
    created = lo + (rng.random(n_i) * np.maximum(hi - lo, DAY)).astype(np.int64)
    order = np.argsort(created, kind="stable")                # item ids follow listing order
    seller, cat, created = seller[order], cat[order], created[order]
    price = np.array(CATEGORY_MEDIAN_PRICE)[cat] * rng.lognormal(0.0, 0.6, n_i)
    mp_cents = np.maximum(np.round(price * 100), 100).astype(np.int64)
    # Zipf-like popularity: weight ∝ rank^-0.8 over a random ranking of the items
    weight = (rng.permutation(n_i) + 1.0) ** -0.8
    ad_seller = rng.random(n_s) < 0.08 + 0.35 * (1 - np.exp(-size / 2))
    w.arrays.update(
        n_sellers=n_s, n_items=n_i, seller_size=size, seller_joined=joined, seller_left=left,
        seller_ads=ad_seller, item_seller=seller, item_cat=cat, item_created=created,
        item_mp_cents=mp_cents, item_weight=weight, item_left=left[seller],
        seller_reply=np.where(rng.random(n_s) < 0.2, 0.0, rng.beta(2.0, 1.0, n_s)),
    )


def _make_users(w: _World) -> None:
    rng = w.rng(2)
    n = w.users
    activity = rng.lognormal(-ACTIVITY_SIGMA ** 2 / 2, ACTIVITY_SIGMA, n)
    pre = rng.random(n) < 0.35
    # signups during the period have density ∝ 1 + 2 t/T: more later
    x = (np.sqrt(1 + 8 * rng.random(n)) - 1) / 2
    signup = np.where(pre, -(rng.random(n) * 180 * DAY), x * (w.span - 2 * HOUR)).astype(np.int64)
    sat = _saturation(activity)
    lifetime = rng.exponential(1.0, n) * (40 + 160 * sat) * DAY
    churn = signup + lifetime.astype(np.int64)
    order = np.argsort(signup, kind="stable")                 # user ids follow signup order
    platform = rng.choice(3, n, p=PLATFORM_SHARE)
    city_w = 1.0 / np.arange(1, len(CITIES) + 1)
    city = rng.choice(len(CITIES), n, p=city_w / city_w.sum())
    w.arrays.update(
        user_activity=activity[order], user_sat=sat[order], user_signup=signup[order],
        user_churn=churn[order], user_platform=platform, user_city=city,
    )


def _make_sessions(w: _World) -> None:
    """All app sessions of the period (about 1 per 14 events), chronological.

    Sessions are simulated from BURN_IN_WEEKS before the start, so that users already have a
    history (habit) in week 1; only sessions from the start on are kept.
    """
    rng = w.rng(3)
    su, st = [], []
    for week in range(-BURN_IN_WEEKS, w.weeks):
        ws = week * WEEK
        live = np.nonzero((w.user_signup < ws + WEEK) & (w.user_churn > ws))[0]
        mid = ws + DAY * np.arange(7) + DAY // 2
        alive = (w.user_signup[live, None] <= mid) & (w.user_churn[live, None] > mid)
        lam = (SESSION_RATE * (1 + GROWTH * max(week, 0) / w.weeks)) * w.user_activity[live, None] * DOW_FACTOR * alive
        count = rng.poisson(lam)
        r, d = np.nonzero(count)
        c = count[r, d]
        r, d = np.repeat(r, c), np.repeat(d, c)
        hour = rng.choice(24, r.size, p=HOUR_P)
        t = ws + d * DAY + hour * HOUR + (rng.random(r.size) * HOUR).astype(np.int64)
        su.append(live[r])
        st.append(t)
    # a signup during the period is itself a session (install, first look around)
    new = np.nonzero(w.user_signup >= 0)[0]
    su.append(new)
    st.append(w.user_signup[new] + (rng.random(new.size) * 2 * MINUTE).astype(np.int64))
    user = np.concatenate(su).astype(np.int64)
    start = np.concatenate(st)
    start = np.maximum(start, w.user_signup[user] + MINUTE)
    late = start > w.span - HOUR                              # every session ends before END
    start[late] = np.maximum(w.span - HOUR - (rng.random(late.sum()) * 3 * HOUR).astype(np.int64),
                             w.user_signup[user[late]] + MINUTE)
    order = np.lexsort((user, start))
    user, start = user[order], start[order]
    n = user.size
    # keys (user, time in s) in user order: the user's next session and recent sessions
    by_user = np.lexsort((start, user))
    shift = (BURN_IN_WEEKS * 7 + 29) * 86400                  # keeps every query key >= user * stride
    stride = np.int64(w.span // US + shift + 10 * 86400)
    key = user[by_user] * stride + start[by_user] // US + shift
    base = user * stride + shift
    pos = np.minimum(np.searchsorted(key, base + (start + HOUR) // US, side="left"), n - 1)
    nxt = by_user[pos]
    ok = (user[nxt] == user) & (start[nxt] >= start + HOUR) & (start[nxt] <= start + 4 * DAY)
    # sessions of the user in the 28 days before the session's week: habit (planted truth (a))
    week_start = start // WEEK * WEEK
    recent = (np.searchsorted(key, base + week_start // US, side="left")
              - np.searchsorted(key, base + (week_start - 28 * DAY) // US, side="left"))
    habit = HABIT_LATENT * w.user_sat[user] + (1 - HABIT_LATENT) * (1 - np.exp(-recent / HABIT_SCALE))
    plat = w.user_platform[user]
    g = CONV_PLATFORM[plat] * (0.30 + 1.40 * habit ** 1.5)
    # planted truth (f): a lasting loyalty per user (mean 1) makes past buyers buy again
    loyalty = w.rng(LOYALTY_STREAM).lognormal(-LOYALTY_SIGMA ** 2 / 2, LOYALTY_SIGMA, w.users)
    g = g * loyalty[user]
    uses_filter = rng.random(n) < FILTER_PLATFORM[plat] * (0.02 + 0.40 * habit ** 2)
    uses_suggest = rng.random(n) < SUGGEST_BASE + SUGGEST_SLOPE * habit
    k = np.searchsorted(start, 0)                             # drop the burn-in
    w.arrays.update(
        n_sessions=n - k, sess_user=user[k:], sess_start=start[k:], sess_platform=plat[k:],
        sess_g=g[k:], sess_filter=uses_filter[k:], sess_suggest=uses_suggest[k:],
        sess_next=np.where(ok, nxt - k, -1)[k:],
    )


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


# --- events, week by week ---------------------------------------------------------------------
EVENT_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("ts", pa.timestamp("us")), ("user_id", pa.string()),
    ("session_id", pa.string()), ("event_type", pa.string()), ("item_id", pa.string()),
    ("block", pa.string()), ("position", pa.int64()), ("model_version", pa.string()),
    ("platform", pa.string()), ("propensity", pa.float64()),
])


def _write_events(out: Path, w: _World, say: Callable[[str], None]) -> int:
    rng = w.rng(6)
    w.arrays.update(line_parts=[])
    n_rows = 0
    user_ids, item_ids, session_ids = _user_ids(w), _item_ids(w), _session_ids(w)
    model_names = pa.array([m.name for m in w.models] + [UPSELL_CANDIDATE])  # the candidate last
    path = out / "events.parquet"
    # unique ids compress badly in a dictionary; the other text columns repeat a lot
    dictionary = ["user_id", "event_type", "item_id", "block", "model_version", "platform"]
    with pq.ParquetWriter(path, EVENT_SCHEMA, compression="zstd", use_dictionary=dictionary) as writer:
        for week in range(w.weeks):
            say(f"events: week {week + 1}/{w.weeks}")
            lo, hi = np.searchsorted(w.sess_start, [week * WEEK, (week + 1) * WEEK], side="left")
            ev = _simulate_sessions(w, np.arange(lo, hi), week, rng)
            order = np.argsort(ev["ts"], kind="stable")
            ev = {k: v[order] for k, v in ev.items()}
            n = ev["ts"].size
            item, block, model, position = ev["item"], ev["block"], ev["model"], ev["position"]
            table = pa.table({
                "event_id": _ids("e", np.arange(n_rows, n_rows + n) + 1, 9),
                "ts": _ts(w, ev["ts"]),
                "user_id": user_ids.take(pa.array(w.sess_user[ev["session"]])),
                "session_id": session_ids.take(pa.array(ev["session"])),
                "event_type": pa.array(EVENT_TYPES).take(pa.array(ev["type"])),
                "item_id": item_ids.take(pa.array(item, mask=item < 0)),
                "block": pa.array(BLOCKS).take(pa.array(block, mask=block < 0)),
                "position": pa.array(position.astype(np.int64), mask=position <= 0),
                "model_version": model_names.take(pa.array(model, mask=model < 0)),
                "platform": pa.array(PLATFORMS).take(pa.array(w.sess_platform[ev["session"]])),
                "propensity": pa.array(ev["propensity"], mask=np.isnan(ev["propensity"])),
            }, schema=EVENT_SCHEMA)
            writer.write_table(table)
            n_rows += n
    return n_rows


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For k_i slots per parent i: the parent of every slot and its position 1..k_i."""
    parent = np.repeat(np.arange(counts.size), counts)
    first = np.cumsum(counts) - counts
    return parent, np.arange(parent.size) - first[parent] + 1


def _simulate_sessions(w: _World, sid: np.ndarray, week: int, rng: np.random.Generator) -> dict:
    """Events of the sessions `sid` (global indices); purchase lines go to w.line_parts."""
    n = sid.size
    t0 = w.sess_start[sid]
    g = w.sess_g[sid]
    uclick = 0.8 + 0.4 * w.user_sat[w.sess_user[sid]]
    ws, we = week * WEEK, (week + 1) * WEEK
    # items on sale all week: listed before it started, seller not gone before it ends
    avail = (w.item_created < ws) & (w.item_left > we)
    cdf = np.cumsum(w.item_weight * avail)

    def sample_items(k: int) -> np.ndarray:
        return np.minimum(np.searchsorted(cdf, rng.random(k) * cdf[-1], side="right"), cdf.size - 1)

    def expo(mean_s: float, cap_s: float, k: int) -> np.ndarray:
        return (np.minimum(rng.exponential(mean_s, k), cap_s) * US).astype(np.int64)

    parts = []
    orng = np.random.default_rng([w.seed, 31, week])  # the upsell policies' own stream

    def emit(kind, s, ts, item=None, block=-1, position=None, model=None, propensity=None):
        k = s.size
        parts.append((np.full(k, kind, np.int8), s, ts,
                      np.full(k, -1, np.int64) if item is None else item,
                      np.full(k, block, np.int8),
                      np.zeros(k, np.int64) if position is None else position,
                      np.full(k, -1, np.int64) if model is None else model,
                      np.full(k, np.nan) if propensity is None else propensity))

    def visit(s, t, block, slots):
        """Show `slots` items of `block` in sessions s at time t; return the clicks."""
        v, position = _expand(np.full(s.size, slots) if np.isscalar(slots) else slots)
        ss = s[v]
        ts = t[v] + 2 * US + (position - 1) * 300_000
        model = w.sess_model[sid[ss], block]
        item = sample_items(v.size)
        shown_by, propensity, appeal = model, None, 1.0
        if block == UPSELL:  # the upsell shelf: logged propensities, a candidate later (docs/demo-data.md)
            item, shown_by, propensity, appeal = _upsell_shelf(w, sid[ss], ts, item, model, orng)
        emit(IMPRESSION, ss, ts, item, block, position, shown_by, propensity)
        p = BASE_CTR[block] * position ** -POSITION_DECAY * w.model_ctr[model] * uclick[ss] * appeal
        c = rng.random(v.size) < p
        cts = ts[c] + US + expo(10, 60, c.sum())
        emit(CLICK, ss[c], cts, item[c], block, position[c], shown_by[c] if propensity is not None else model[c])
        return ss[c], cts, item[c], model[c]

    def carts(s, cts, item, model, delay_mean_s):
        c = rng.random(s.size) < CART_P * g[s] * w.model_conv[model]
        ts = cts[c] + 10 * US + expo(delay_mean_s, 600, c.sum())
        emit(ADD_TO_CART, s[c], ts, item[c])
        return s[c], ts, item[c]

    s_all = np.arange(n)
    emit(APP_OPEN, s_all, t0)
    f = np.nonzero(w.sess_filter[sid])[0]
    emit(FILTER_USE, f, t0[f] + (rng.uniform(20, 200, f.size) * US).astype(np.int64))
    sg = np.nonzero(w.sess_suggest[sid])[0]
    emit(SUGGEST_USE, sg, t0[sg] + (rng.uniform(3, 40, sg.size) * US).astype(np.int64))

    home = visit(s_all, t0, HOME, np.minimum(HOME_SLOTS_MIN + rng.poisson(HOME_SLOTS_EXTRA, n), 20))
    srch = np.nonzero(rng.random(n) < SEARCH_P)[0]
    search = visit(srch, t0[srch] + (rng.uniform(30, 240, srch.size) * US).astype(np.int64),
                   SEARCH, SEARCH_SLOTS)
    cs = np.concatenate([home[0], search[0]])
    cts = np.concatenate([home[1], search[1]])
    page = rng.random(cs.size) < SIMILAR_P                   # the item page shows similar items
    similar = visit(cs[page], cts[page] + US, SIMILAR, SIMILAR_SLOTS)
    first_carts = carts(*[np.concatenate(x) for x in zip(home, search, similar)], delay_mean_s=45)
    up = rng.random(first_carts[0].size) < UPSELL_P          # the cart page shows an upsell block
    upsell = visit(first_carts[0][up], first_carts[1][up], UPSELL, UPSELL_SLOTS)
    upsell_carts = carts(*upsell, delay_mean_s=30)
    cart_s = np.concatenate([first_carts[0], upsell_carts[0]])
    cart_ts = np.concatenate([first_carts[1], upsell_carts[1]])
    cart_item = np.concatenate([first_carts[2], upsell_carts[2]])
    buy = rng.random(cart_s.size) < BUY_P
    later = buy & (rng.random(cart_s.size) < DELAYED_SHARE)
    now = buy & ~later

    # organic purchases: no recommendation involved, planted truth (a) lives here
    p_org = ORGANIC_BASE * g + FILTER_TRUE_EFFECT * w.sess_filter[sid]
    org = np.nonzero(rng.random(n) < p_org)[0]
    o_s, _ = _expand(rng.geometric(0.75, org.size))
    o_s = org[o_s]
    o_ts = t0[o_s] + (rng.uniform(60, 1200, o_s.size) * US).astype(np.int64)
    o_item = sample_items(o_s.size)
    emit(ADD_TO_CART, o_s, o_ts, o_item)

    # immediate orders: one per session, placed a few minutes after its last purchased cart
    b_s = np.concatenate([cart_s[now], o_s])
    b_item = np.concatenate([cart_item[now], o_item])
    last = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last, b_s, np.concatenate([cart_ts[now], o_ts]))
    placed = last + (rng.uniform(60, 480, n) * US).astype(np.int64)
    _add_lines(w, order_key=sid[b_s] * 2, session=sid[b_s], item=b_item, ts=placed[b_s])
    # later orders: in the user's next session (1 h .. 4 days later); no next session, no order
    d_s = cart_s[later]
    target = w.sess_next[sid[d_s]]
    keep = target >= 0
    d_s, target = d_s[keep], target[keep]
    d_ts = w.sess_start[target] + (rng.uniform(60, 900, n)[d_s] * US).astype(np.int64)
    d_item = cart_item[later][keep]
    alive = w.item_left[d_item] > d_ts
    _add_lines(w, order_key=sid[d_s][alive] * 2 + 1, session=target[alive], item=d_item[alive],
               ts=d_ts[alive])

    cols = list(zip(*parts))
    kind, s, ts, item, block, position, model, propensity = (np.concatenate(c) for c in cols)
    return {"type": kind, "session": sid[s], "ts": ts, "item": item, "block": block,
            "position": position, "model": model, "propensity": propensity}


def _add_lines(w: _World, **columns: np.ndarray) -> None:
    w.line_parts.append(columns)


# --- orders -----------------------------------------------------------------------------------
def _order_lines(w: _World) -> dict[str, np.ndarray]:
    """Purchase lines with money columns; one order per order_key, (order, item) unique."""
    rng = w.rng(7)
    parts = w.line_parts
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    # an item bought twice within one order is one line
    _, first = np.unique(np.stack([cols["order_key"], cols["item"]]), axis=1, return_index=True)
    first.sort()
    cols = {k: v[first] for k, v in cols.items()}
    # order ids follow the time orders were placed
    order = np.lexsort((cols["item"], cols["order_key"], cols["ts"]))
    cols = {k: v[order] for k, v in cols.items()}
    _, first_line, inverse = np.unique(cols["order_key"], return_index=True, return_inverse=True)
    rank = np.empty(first_line.size, np.int64)
    rank[np.argsort(first_line, kind="stable")] = np.arange(first_line.size)
    cols["order_no"] = rank[inverse]
    n = cols["item"].size
    item = cols["item"]
    cat = w.item_cat[item]
    mp = w.item_mp_cents[item] / 100.0
    qty = np.where(rng.random(n) < 0.17, 1 + rng.geometric(0.6, n), 1)
    market = np.maximum(np.round(mp * rng.lognormal(0.0, 0.03, n) * 100), 1).astype(np.int64)
    price = np.maximum(np.round(mp * rng.lognormal(-0.015, 0.07, n) * 100), 1).astype(np.int64)
    value = price * qty
    commission = np.round(value * np.array(CATEGORY_COMMISSION)[cat] * rng.uniform(0.9, 1.1, n)).astype(np.int64)
    delivery = np.round(rng.uniform(150, 450, n) + 0.015 * value).astype(np.int64)
    discounted = rng.random(n) < 0.12
    discount = np.where(discounted, np.round(value * rng.uniform(0.05, 0.25, n)), 0).astype(np.int64)
    returned = rng.random(n) < np.array(CATEGORY_RETURN)[cat]
    cols.update(user=w.sess_user[cols["session"]], seller=w.item_seller[item], quantity=qty,
                market=market, price=price, commission=commission, delivery=delivery,
                discount=discount, returned=returned)
    return cols


def _orders_table(w: _World, lines: dict) -> pa.Table:
    item_ids, user_ids, seller_ids = _item_ids(w), _user_ids(w), _seller_ids(w)
    return pa.table({
        "order_id": _ids("o", lines["order_no"] + 1, 8),
        "item_id": item_ids.take(pa.array(lines["item"])),
        "ts": _ts(w, lines["ts"]),
        "user_id": user_ids.take(pa.array(lines["user"])),
        "session_id": _session_ids(w).take(pa.array(lines["session"])),
        "seller_id": seller_ids.take(pa.array(lines["seller"])),
        "quantity": pa.array(lines["quantity"], pa.int64()),
        "price": _money(lines["price"]),
        "market_price": _money(lines["market"]),
        "commission": _money(lines["commission"]),
        "delivery_cost": _money(lines["delivery"]),
        "discount": _money(lines["discount"]),
        "returned": pa.array(lines["returned"], pa.bool_()),
    })


def _reviews_table(w: _World, lines: dict) -> pa.Table:
    rng = w.rng(8)
    n = lines["item"].size
    returned = lines["returned"]
    reviewed = rng.random(n) < np.where(returned, 0.35, 0.17)
    ts = lines["ts"] + ((0.5 + rng.exponential(4.0, n)) * DAY).astype(np.int64)
    keep = np.nonzero(reviewed & (ts < w.span))[0]
    keep = keep[np.argsort(ts[keep], kind="stable")]
    k = keep.size
    good = rng.choice(5, k, p=[0.03, 0.04, 0.10, 0.28, 0.55]) + 1
    bad = rng.choice(5, k, p=[0.35, 0.25, 0.20, 0.12, 0.08]) + 1
    rating = np.where(returned[keep], bad, good)
    seller = lines["seller"][keep]
    # sellers differ in how often they answer; replies take hours, sometimes more than a week
    replied = rng.random(k) < w.seller_reply[seller]
    delay = (rng.lognormal(np.log(20.0), 1.5, k) * HOUR).astype(np.int64)
    reply_ts = ts[keep] + delay
    no_reply = ~replied | (reply_ts >= w.span)
    return pa.table({
        "review_id": _ids("r", np.arange(1, k + 1), 7),
        "item_id": _item_ids(w).take(pa.array(lines["item"][keep])),
        "seller_id": _seller_ids(w).take(pa.array(seller)),
        "user_id": _user_ids(w).take(pa.array(lines["user"][keep])),
        "ts": _ts(w, ts[keep]),
        "rating": pa.array(rating.astype(np.int64)),
        "replied_at": _ts(w, reply_ts, null=no_reply),
    })


def _ad_spend_table(w: _World) -> pa.Table:
    rng = w.rng(9)
    days = w.span // DAY
    sellers = np.nonzero(w.seller_ads)[0]
    day_start = np.arange(days) * DAY
    active = (w.seller_joined[sellers, None] < day_start) & (w.seller_left[sellers, None] > day_start + DAY)
    on = active & (rng.random((sellers.size, days)) < 0.65)
    s, d = np.nonzero(on)
    median = 8.0 * np.sqrt(w.seller_size[sellers[s]])
    cents = np.maximum(np.round(median * rng.lognormal(0.0, 0.6, s.size) * 100), 100).astype(np.int64)
    order = np.lexsort((s, d))
    dates = (w.start.astype("datetime64[D]") + d[order]).astype("datetime64[D]")
    return pa.table({
        "date": pa.array(dates, pa.date32()),
        "seller_id": _seller_ids(w).take(pa.array(sellers[s[order]])),
        "amount": _money(cents[order]),
    })


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


# --- sellers, items and users as tables -------------------------------------------------------
def _sellers_table(w: _World) -> pa.Table:
    left = w.seller_left
    gone = left < w.span
    return pa.table({
        "seller_id": _seller_ids(w),
        "joined_at": _ts(w, w.seller_joined),
        "left_at": _ts(w, np.where(gone, left, 0), null=~gone),
    })


def _items_table(w: _World) -> pa.Table:
    return pa.table({
        "item_id": _item_ids(w),
        "seller_id": _seller_ids(w).take(pa.array(w.item_seller)),
        "category": pa.array(CATEGORIES).take(pa.array(w.item_cat)),
        "market_price": _money(w.item_mp_cents),
        "created_at": _ts(w, w.item_created),
    })


def _users_table(w: _World) -> pa.Table:
    return pa.table({
        "user_id": _user_ids(w),
        "signup_ts": _ts(w, w.user_signup),
        "platform": pa.array(PLATFORMS).take(pa.array(w.user_platform)),
        "city": pa.array(CITIES).take(pa.array(w.user_city)),
    })


# --- Arrow helpers ----------------------------------------------------------------------------
def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """'u0000123'-style string ids, written straight into an Arrow buffer (no Python string per row)."""
    numbers = np.asarray(numbers, np.int64)
    if numbers.size:
        width = max(width, len(str(int(numbers.max()))))
    head = np.frombuffer(prefix.encode("ascii"), np.uint8)
    size = head.size + width
    chars = np.empty((numbers.size, size), np.uint8)
    chars[:, :head.size] = head
    rest = numbers.astype(np.uint32 if width <= 9 else np.uint64)   # 32-bit division is faster
    for k in range(size - 1, head.size - 1, -1):
        chars[:, k] = 48 + rest % 10
        rest //= 10
    big = numbers.size * size >= 2 ** 31
    offsets = np.arange(numbers.size + 1, dtype=np.int64 if big else np.int32) * size
    return pa.Array.from_buffers(pa.large_string() if big else pa.string(), numbers.size,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(chars)])


def _user_ids(w: _World) -> pa.Array:
    if "user_ids" not in w.arrays:
        w.arrays["user_ids"] = _ids("u", np.arange(1, w.users + 1), 7)
    return w.arrays["user_ids"]


def _item_ids(w: _World) -> pa.Array:
    if "item_ids" not in w.arrays:
        w.arrays["item_ids"] = _ids("i", np.arange(1, w.n_items + 1), 6)
    return w.arrays["item_ids"]


def _seller_ids(w: _World) -> pa.Array:
    if "seller_ids" not in w.arrays:
        w.arrays["seller_ids"] = _ids("sl", np.arange(1, w.n_sellers + 1), 5)
    return w.arrays["seller_ids"]


def _session_ids(w: _World) -> pa.Array:
    if "session_ids" not in w.arrays:
        w.arrays["session_ids"] = _ids("s", np.arange(1, w.n_sessions + 1), 8)
    return w.arrays["session_ids"]


def _ts(w: _World, rel_us: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Naive UTC timestamp[us] from µs relative to the world's start."""
    absolute = np.asarray(rel_us, np.int64) + w.start.astype(np.int64)
    return pa.array(absolute, pa.timestamp("us"), mask=null)


def _money(cents: np.ndarray) -> pa.Array:
    """Exact decimal128(18, 2) from integer cents (the 128-bit value is the cent count)."""
    cents = np.ascontiguousarray(cents, np.int64)
    words = np.empty(2 * cents.size, np.int64)
    words[0::2] = cents
    words[1::2] = cents >> 63          # sign extension of the high 64 bits
    return pa.Array.from_buffers(pa.decimal128(18, 2), cents.size, [None, pa.py_buffer(words)])


def _write(out: Path, name: str, table: pa.Table) -> int:
    pq.write_table(table, out / f"{name}.parquet", compression="zstd")
    return table.num_rows


# --- Planted truth (e): an upsell shelf with logged propensities, and a candidate that serves later
# In cart_upsell, from UPSELL_LOG_WEEKS before the end, every slot is filled from a shelf of
# UPSELL_SHELF items by the serving policy, which samples each slot from a softmax (it explores)
# and logs the probability of what it showed (events.propensity). Items differ in appeal: the
# click probability is multiplied by appeal / (the serving policy's mean appeal), so the block's
# CTR is unchanged on average. The candidate UPSELL_CANDIDATE (in target_policies: the same
# probabilities at every position, for every user) samples from a sharper softmax of better
# scores; in the last UPSELL_CANDIDATE_WEEKS it serves UPSELL_CANDIDATE_SHARE of the users (its
# impressions carry its model_version and no propensity). Its true CTR relative to the serving
# policy's is E_candidate[appeal] / E_serving[appeal] (UPSELL_TRUE_LIFT, written by the generator
# into w.arrays["upsell_true_lift"]).
UPSELL_CANDIDATE = "cart_upsell-shelf-v2"
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
