"""Buyers: users with a lognormal activity, their sessions, and the events of each week
(impressions by block and position, clicks, carts, purchases; filter use, planted truth a)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dashboard.engine.demo.upsell import _upsell_shelf
from dashboard.engine.demo.world import (
    BLOCKS, DAY, HOME, HOUR, MINUTE, SEARCH, SIMILAR, UPSELL, UPSELL_CANDIDATE, UPSELL_P, UPSELL_SLOTS,
    US, WEEK, _World, _ids, _item_ids, _session_ids, _ts, _user_ids,
)


PLATFORMS = ("ios", "android", "web")
PLATFORM_SHARE = (0.42, 0.40, 0.18)
CITIES = ("Metropolis", "Riverton", "Lakeside", "Hillview", "Portsmouth", "Oakridge", "Fairbay",
          "Springfield", "Northgate", "Eastwick")

EVENT_TYPES = ("app_open", "impression", "click", "add_to_cart", "filter_use", "suggest_use")
APP_OPEN, IMPRESSION, CLICK, ADD_TO_CART, FILTER_USE, SUGGEST_USE = range(6)

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
SEARCH_P, SEARCH_SLOTS = 0.45, 6

# --- Planted truth (f): buyers who bought before buy again (CUPED) ----------------------------
# Each user's conversion propensity g is multiplied by a lasting loyalty L ~ lognormal with mean 1
# and σ = LOYALTY_SIGMA (its own random stream): what a user bought in the 28 days before an
# experiment predicts what they buy during it, so CUPED narrows the intervals.
LOYALTY_SIGMA = 1.5
LOYALTY_STREAM = 31


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


def _users_table(w: _World) -> pa.Table:
    return pa.table({
        "user_id": _user_ids(w),
        "signup_ts": _ts(w, w.user_signup),
        "platform": pa.array(PLATFORMS).take(pa.array(w.user_platform)),
        "city": pa.array(CITIES).take(pa.array(w.user_city)),
    })
