"""Memoisation by content for the pure functions that draw a page.

A page rerun that changes nothing hands the same small frames to the chart builders and the CSV
writer again; building a Plotly figure (property validation) or a CSV each time was most of a
cached rerun. `memoised` keys results on the content of the arguments (frames by their values,
index, columns and dtypes), so equal data gives the very same result object: callers must treat
it as read-only.
"""
from __future__ import annotations

import collections
import functools
import hashlib
import pickle
import threading

import pandas as pd

KEPT = 256  # results kept per function, least recently used dropped first


def fingerprint(value, digest) -> None:
    """Feed `value` into `digest`; frames by content."""
    if isinstance(value, (pd.DataFrame, pd.Series)):
        # The pickle holds values, index, columns, dtypes and name: equal bytes mean equal frames
        # (equal frames pickled differently only miss the cache). 10x faster than
        # pd.util.hash_pandas_object on a weekly table (0.2 vs 2 ms).
        digest.update(pickle.dumps(value, protocol=5))
    elif isinstance(value, dict):
        for key in sorted(value, key=repr):
            digest.update(repr(key).encode())
            fingerprint(value[key], digest)
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__}{len(value)}".encode())
        for item in value:
            fingerprint(item, digest)
    else:
        digest.update(repr((type(value).__name__, value)).encode())


def memoised(function):
    """Keep the last KEPT results of `function`, keyed by the content of its arguments."""
    results: collections.OrderedDict = collections.OrderedDict()
    lock = threading.Lock()  # sessions run their pages in parallel threads

    @functools.wraps(function)
    def call(*args, **kwargs):
        digest = hashlib.blake2b(digest_size=20)
        try:
            fingerprint((args, kwargs), digest)
        except (TypeError, AttributeError, pickle.PicklingError):  # cannot be fingerprinted: no cache
            return function(*args, **kwargs)
        key = digest.hexdigest()
        with lock:
            if key in results:
                results.move_to_end(key)
                return results[key]
        result = function(*args, **kwargs)
        with lock:
            results[key] = result
            while len(results) > KEPT:
                results.popitem(last=False)
        return result

    call.cache_clear = results.clear
    return call
