"""Sellers and their items: categories, prices, commissions, how long a seller stays."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dashboard.engine.demo.world import DAY, _World, _item_ids, _money, _seller_ids, _ts


CATEGORIES = ("electronics", "fashion", "home", "beauty", "kids", "sports", "books", "auto",
              "garden", "pets", "grocery", "toys")
CATEGORY_MEDIAN_PRICE = (180.0, 35.0, 45.0, 18.0, 25.0, 40.0, 12.0, 60.0, 30.0, 20.0, 9.0, 22.0)

SELLER_STAY_DAYS = 800       # mean time a seller stays (from joining or from the start)


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
