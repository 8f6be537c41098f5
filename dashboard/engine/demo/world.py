"""The simulated world: its clock (µs from its start), size, seeded random streams and what is
simulated so far; constants shared by several steps; helpers that turn arrays into Arrow columns."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


# --- Time: int64 microseconds relative to the world's start (naive UTC when written).
US = 1_000_000
MINUTE = 60 * US
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY

# The world ends on Monday 2026-11-02 00:00 UTC and lasts `weeks` whole ISO weeks before it
# (default: from Monday 2026-05-04). Fixed, so that no run depends on the clock.
END = np.datetime64("2026-11-02T00:00:00", "us")

BLOCKS = ("home_feed", "similar_items", "cart_upsell", "search_recs")
HOME, SIMILAR, UPSELL, SEARCH = range(4)
UPSELL_P, UPSELL_SLOTS = 0.85, 6
ONLINE_NOISE, OFFLINE_NOISE = 0.006, 0.004


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
