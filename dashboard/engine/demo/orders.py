"""Orders: the order lines of the simulated purchases, orders, reviews and ad spend."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dashboard.engine.demo.world import (
    DAY, HOUR, _World, _ids, _item_ids, _money, _seller_ids, _session_ids, _ts, _user_ids,
)


CATEGORY_COMMISSION = (0.05, 0.12, 0.10, 0.15, 0.11, 0.09, 0.08, 0.07, 0.10, 0.12, 0.06, 0.13)
CATEGORY_RETURN = (0.06, 0.10, 0.05, 0.04, 0.06, 0.07, 0.03, 0.06, 0.05, 0.04, 0.03, 0.06)


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
