"""offline_metrics: hand-computed example, trec_eval agreement, the k parameter and edge cases."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import pytrec_eval

from dashboard.engine.context import Unavailable
from tests.conftest import compute

L = math.log2(3)  # the DCG discount of position 2 is 1 / log2(3)
EVENTS = [{"event_id": "e1", "ts": "2026-01-05 10:00:00", "user_id": "u1", "event_type": "app_open"}]

ITEMS = [
    {"item_id": "A", "seller_id": "s1", "category": "x"},
    {"item_id": "B", "seller_id": "s1", "category": "y"},
    {"item_id": "C", "seller_id": "s1", "category": "x"},
    {"item_id": "D", "seller_id": "s1", "category": None},
    {"item_id": "E", "seller_id": "s1", "category": "y"},
    {"item_id": "F", "seller_id": "s1", "category": "x"},
    {"item_id": "G", "seller_id": "s1", "category": "y"},
    {"item_id": "H", "seller_id": "s1", "category": "x"},
    {"item_id": "I", "seller_id": "s1", "category": "y"},
    {"item_id": "J", "seller_id": "s1", "category": "x"},
]
# u1 relevant: A (duplicate rows 2 and 1 -> max 2), B (null -> 1). u2 relevant: C, A, H (all 1).
HOLDOUT = [
    {"user_id": "u1", "item_id": "A", "relevance": 2},
    {"user_id": "u1", "item_id": "A", "relevance": 1},
    {"user_id": "u1", "item_id": "B", "relevance": None},
    {"user_id": "u2", "item_id": "C", "relevance": 1},
    {"user_id": "u2", "item_id": "A", "relevance": 1},
    {"user_id": "u2", "item_id": "H", "relevance": 1},
]
RECOMMENDATIONS = [
    # m1/u1 has a rank gap: the top 3 are E, A, B (ranks 1, 2, 5); C (rank 7) is 4th.
    {"model_version": "m1", "user_id": "u1", "item_id": "E", "rank": 1},
    {"model_version": "m1", "user_id": "u1", "item_id": "A", "rank": 2},
    {"model_version": "m1", "user_id": "u1", "item_id": "B", "rank": 5},
    {"model_version": "m1", "user_id": "u1", "item_id": "C", "rank": 7},
    # m1/u2 starts at rank 2: top 3 = D, C, A.
    {"model_version": "m1", "user_id": "u2", "item_id": "D", "rank": 2},
    {"model_version": "m1", "user_id": "u2", "item_id": "C", "rank": 3},
    {"model_version": "m1", "user_id": "u2", "item_id": "A", "rank": 4},
    # u3 is not a holdout user: its list counts nowhere (not even for coverage).
    {"model_version": "m1", "user_id": "u3", "item_id": "G", "rank": 1},
    # m2 has a list for u1 only; u2 scores 0 on every accuracy metric.
    {"model_version": "m2", "user_id": "u1", "item_id": "B", "rank": 1},
    {"model_version": "m2", "user_id": "u1", "item_id": "F", "rank": 2},
]

# Holdout popularity (2 holdout users): A has 2 users (p = 1, -log2 p = 0); B, C, H 1 each
# (p = 1/2, 1 bit); every other item none (p = 1/(2 + 1), log2 3 = L bits).
EXPECTED_K3 = {
    "m1": {
        # u1: hits A@2, B@3 -> 2/3; u2: hits C@2, A@3 -> 2/3. mean 2/3
        "precision@3": 2 / 3,
        # u1: 2/2 = 1; u2: 2/3. mean (1 + 2/3) / 2 = 5/6
        "recall@3": 5 / 6,
        # u1: DCG = 2/log2 3 + 1/log2 4 = 2/L + 1/2; ideal [2, 1] = 2/1 + 1/L
        # u2: DCG = 1/L + 1/2; ideal [1, 1, 1] = 1 + 1/L + 1/2
        "ndcg@3": ((2 / L + 1 / 2) / (2 + 1 / L) + (1 / L + 1 / 2) / (3 / 2 + 1 / L)) / 2,
        # u1: (P@2 + P@3) / 2 = (1/2 + 2/3) / 2 = 7/12; u2: (1/2 + 2/3) / 3 = 7/18
        # mean (7/12 + 7/18) / 2 = (21/36 + 14/36) / 2 = 35/72
        "map@3": 35 / 72,
        # first hit at position 2 for both users
        "mrr@3": 1 / 2,
        "hit_rate@3": 1.0,
        # top 3 of holdout users: {E, A, B} ∪ {D, C, A} = 5 items of 10 in `items`
        "coverage@3": 5 / 10,
        # pairs E, A, B, D, C, A: (L + 0 + 1 + L + 1 + 0) / 6 = (L + 1) / 3
        "novelty@3": (L + 1) / 3,
        # (0 + 2 + 1 + 0 + 1 + 2) / 6 = 1
        "avg_popularity@3": 1.0,
        # u1: E y, A x, B y -> pairs EA differ, EB same, AB differ = 2/3
        # u2: D has no category, C x, A x -> one pair, same = 0. mean (2/3 + 0) / 2 = 1/3
        "ild@3": 1 / 3,
    },
    "m2": {
        # u1: top = B (hit, rel 1), F. u2: no list -> 0 everywhere.
        "precision@3": (1 / 3 + 0) / 2,  # 1/6
        "recall@3": (1 / 2 + 0) / 2,  # 1/4
        # u1: DCG = 1/log2 2 = 1; ideal 2 + 1/L
        "ndcg@3": (1 / (2 + 1 / L) + 0) / 2,
        # u1: P@1 / 2 relevant = 1/2
        "map@3": (1 / 2 + 0) / 2,
        "mrr@3": (1 + 0) / 2,
        "hit_rate@3": (1 + 0) / 2,
        # {B, F} of 10
        "coverage@3": 2 / 10,
        # B: 1 bit, F: L bits
        "novelty@3": (1 + L) / 2,
        "avg_popularity@3": (1 + 0) / 2,
        # u1: B y, F x differ = 1; u2 has no list and does not qualify
        "ild@3": 1.0,
    },
}
METRIC_ORDER = [
    "avg_popularity", "coverage", "hit_rate", "ild", "map", "mrr", "ndcg", "novelty", "precision", "recall",
]


def as_dict(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {}
    for row in frame.itertuples(index=False):
        result.setdefault(row.model_version, {})[row.metric] = row.value
    return result


def assert_metrics(frame: pd.DataFrame, expected: dict[str, dict[str, float | None]]) -> None:
    got = as_dict(frame)
    assert got.keys() == expected.keys()
    for model, metrics in expected.items():
        assert got[model].keys() == metrics.keys(), model
        for metric, value in metrics.items():
            if value is None:
                assert pd.isna(got[model][metric]), (model, metric, got[model][metric])
            else:
                assert got[model][metric] == pytest.approx(value, abs=1e-12), (model, metric)


@pytest.fixture
def example(make_source):
    return make_source({"events": EVENTS, "items": ITEMS, "holdout": HOLDOUT, "recommendations": RECOMMENDATIONS})


def test_offline_metrics_hand_example(example):
    frame = compute(example, "offline_metrics", k=3)
    assert list(frame.columns) == ["model_version", "metric", "value"]
    assert_metrics(frame, EXPECTED_K3)
    # sorted by model_version, then metric name
    assert list(frame["model_version"]) == ["m1"] * 10 + ["m2"] * 10
    assert list(frame["metric"]) == [f"{m}@3" for m in METRIC_ORDER] * 2


def test_offline_metrics_k_changes_names_and_values(example):
    frame = compute(example, "offline_metrics", k=1)
    assert_metrics(frame, {
        "m1": {
            # top 1: u1 E, u2 D: both misses
            "precision@1": 0.0, "recall@1": 0.0, "ndcg@1": 0.0, "map@1": 0.0, "mrr@1": 0.0, "hit_rate@1": 0.0,
            "coverage@1": 2 / 10,  # {E, D}
            "novelty@1": (L + L) / 2,  # neither is in any holdout
            "avg_popularity@1": 0.0,
            "ild@1": None,  # one item per list: no user qualifies
        },
        "m2": {
            # u1: B hit; u2 no list
            "precision@1": (1 + 0) / 2,
            "recall@1": (1 / 2 + 0) / 2,
            # u1: DCG 1; ideal DCG cut at 1 = A's gain 2 -> 1/2
            "ndcg@1": (1 / 2 + 0) / 2,
            "map@1": (1 / 2 + 0) / 2,
            "mrr@1": (1 + 0) / 2,
            "hit_rate@1": (1 + 0) / 2,
            "coverage@1": 1 / 10,
            "novelty@1": 1.0,
            "avg_popularity@1": 1.0,
            "ild@1": None,
        },
    })
    # the default k is 10: every list is whole (m1/u1's C now counts for coverage, nothing else changes)
    default = as_dict(compute(example, "offline_metrics"))
    assert set(default["m1"]) == {f"{m}@10" for m in METRIC_ORDER}
    assert default["m1"]["precision@10"] == pytest.approx((2 / 10 + 2 / 10) / 2)


def test_offline_metrics_without_items(make_source):
    source = make_source({"events": EVENTS, "holdout": HOLDOUT, "recommendations": RECOMMENDATIONS})
    got = as_dict(compute(source, "offline_metrics", k=3))
    # catalogue = holdout ∪ recommendations = {A, B, C, H} ∪ {E, A, B, C, D, G, F} = 8 items
    assert got["m1"]["coverage@3"] == pytest.approx(5 / 8)
    assert got["m2"]["coverage@3"] == pytest.approx(2 / 8)
    # no categories: ild is unknown, not 0; the row stays so every model has the same metrics
    assert pd.isna(got["m1"]["ild@3"]) and pd.isna(got["m2"]["ild@3"])
    for model in ("m1", "m2"):
        for metric in ("precision@3", "ndcg@3", "map@3", "novelty@3", "avg_popularity@3"):
            assert got[model][metric] == pytest.approx(EXPECTED_K3[model][metric])


def test_offline_metrics_ild_leaves_out_uncategorised(make_source):
    source = make_source({
        "events": EVENTS,
        "items": [
            {"item_id": "A", "seller_id": "s", "category": "x"},
            {"item_id": "B", "seller_id": "s", "category": None},
            {"item_id": "D", "seller_id": "s", "category": "x"},
            {"item_id": "E", "seller_id": "s", "category": "y"},
        ],
        "holdout": [{"user_id": "u1", "item_id": "A"}, {"user_id": "u2", "item_id": "D"}],
        "recommendations": [
            # m: u1 has A (x), B (no category), Z (not in items) -> 1 categorised item: left out.
            # u2 has D (x), E (y) -> 1 differing pair of 1. ild = 1 (a mean with u1 as 0 would be 1/2).
            {"model_version": "m", "user_id": "u1", "item_id": "A", "rank": 1},
            {"model_version": "m", "user_id": "u1", "item_id": "B", "rank": 2},
            {"model_version": "m", "user_id": "u1", "item_id": "Z", "rank": 3},
            {"model_version": "m", "user_id": "u2", "item_id": "D", "rank": 1},
            {"model_version": "m", "user_id": "u2", "item_id": "E", "rank": 2},
            # n: only u1, with one categorised item -> nobody qualifies -> NULL
            {"model_version": "n", "user_id": "u1", "item_id": "A", "rank": 1},
            {"model_version": "n", "user_id": "u1", "item_id": "B", "rank": 2},
        ],
    })
    got = as_dict(compute(source, "offline_metrics", k=3))
    assert got["m"]["ild@3"] == pytest.approx(1.0)
    assert pd.isna(got["n"]["ild@3"])
    # The spec's ratio as written: recommended items / items in `items`. Z is recommended but not
    # in `items`, so it counts above the line only: m's top 3 {A, B, Z} ∪ {D, E} = 5 / 4 items.
    assert got["m"]["coverage@3"] == pytest.approx(5 / 4)


def test_offline_metrics_item_listed_twice_counts_once(make_source):
    source = make_source({
        "events": EVENTS,
        "holdout": [{"user_id": "u1", "item_id": "A"}],
        "recommendations": [
            # A at ranks 1 and 3 is one entry, at its best rank: the top 3 are A, B, C.
            {"model_version": "m", "user_id": "u1", "item_id": "A", "rank": 1},
            {"model_version": "m", "user_id": "u1", "item_id": "B", "rank": 2},
            {"model_version": "m", "user_id": "u1", "item_id": "A", "rank": 3},
            {"model_version": "m", "user_id": "u1", "item_id": "C", "rank": 4},
        ],
    })
    got = as_dict(compute(source, "offline_metrics", k=3))["m"]
    # one hit (A) in 3: counting A twice would give 2/3 and a recall of 2
    assert got["precision@3"] == pytest.approx(1 / 3)
    assert got["recall@3"] == pytest.approx(1.0)
    # A keeps rank 1 (its last rank would put B first and give 1/2)
    assert got["mrr@3"] == pytest.approx(1.0)
    # pairs A (1 holdout user), B, C (none): (1 + 0 + 0) / 3
    assert got["avg_popularity@3"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("missing", ["holdout", "recommendations"])
def test_offline_metrics_unavailable_without_inputs(make_source, missing):
    tables = {"events": EVENTS, "holdout": HOLDOUT, "recommendations": RECOMMENDATIONS}
    del tables[missing]
    with pytest.raises(Unavailable, match=missing):
        compute(make_source(tables), "offline_metrics")


# --- agreement with trec_eval -----------------------------------------------------------------

def random_offline_data(seed: int = 7):
    """50 holdout users, 30 items, 2 models with 20 recommendations per user and rank gaps."""
    rng = np.random.default_rng(seed)
    items = [f"i{n:02d}" for n in range(30)]
    holdout_users = [f"u{n:02d}" for n in range(50)]
    holdout = []
    for user in holdout_users:
        for item in rng.choice(items, size=int(rng.integers(1, 9)), replace=False):
            holdout.append({"user_id": user, "item_id": str(item), "relevance": int(rng.integers(1, 4))})
    # duplicate judgements with another relevance: the max must win
    for row in list(holdout[::7]):
        holdout.append({**row, "relevance": int(rng.integers(1, 4))})
    recommendations = []
    for model in ("mA", "mB"):
        # mB has no list for the first 10 holdout users; both models list 5 users outside the holdout
        users = holdout_users[10 if model == "mB" else 0:] + [f"x{n}" for n in range(5)]
        for user in users:
            listed = rng.choice(items, size=20, replace=False)
            ranks = np.sort(rng.choice(np.arange(1, 41), size=20, replace=False))  # gaps
            for item, rank in zip(listed, ranks):
                recommendations.append({"model_version": model, "user_id": user, "item_id": str(item), "rank": int(rank)})
    return holdout, recommendations


def trec_eval_means(holdout, recommendations, model: str, k: int) -> dict[str, float]:
    qrels: dict[str, dict[str, int]] = {}
    for row in holdout:
        judged = qrels.setdefault(row["user_id"], {})
        judged[row["item_id"]] = max(judged.get(row["item_id"], 0), row["relevance"])
    run: dict[str, dict[str, float]] = {}
    for row in recommendations:
        if row["model_version"] == model:
            # trec_eval ranks by score descending
            run.setdefault(row["user_id"], {})[row["item_id"]] = -float(row["rank"])
    cut_run = {user: dict(sorted(docs.items(), key=lambda d: -d[1])[:k]) for user, docs in run.items()}
    measures = {f"P.{k}", f"recall.{k}", f"ndcg_cut.{k}", f"map_cut.{k}", f"success.{k}"}
    full = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    cut = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut_run)
    n_users = len(qrels)  # users without a list are skipped by trec_eval: they count as 0 here
    means = {
        f"precision@{k}": sum(r[f"P_{k}"] for r in full.values()) / n_users,
        f"recall@{k}": sum(r[f"recall_{k}"] for r in full.values()) / n_users,
        f"ndcg@{k}": sum(r[f"ndcg_cut_{k}"] for r in full.values()) / n_users,
        f"map@{k}": sum(r[f"map_cut_{k}"] for r in full.values()) / n_users,
        f"hit_rate@{k}": sum(r[f"success_{k}"] for r in full.values()) / n_users,
        f"mrr@{k}": sum(r["recip_rank"] for r in cut.values()) / n_users,
    }
    return means


def test_offline_metrics_agree_with_trec_eval(make_source):
    holdout, recommendations = random_offline_data()
    source = make_source({"events": EVENTS, "holdout": holdout, "recommendations": recommendations})
    for k in (5, 10):
        got = as_dict(compute(source, "offline_metrics", k=k))
        assert set(got) == {"mA", "mB"}
        for model in ("mA", "mB"):
            expected = trec_eval_means(holdout, recommendations, model, k)
            for metric, value in expected.items():
                assert abs(got[model][metric] - value) < 1e-9, (model, metric, got[model][metric], value)
