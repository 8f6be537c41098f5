"""The demo marketplace generator (dashboard/engine/demo/): contract shape, determinism, planted SRM.

One small world (3 000 users, 8 weeks) is generated once per module and read back as DataFrames;
the planted truths at full size are measured in docs/demo-data.md.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from dashboard.engine.demo import END, TABLES, generate

SIZE = dict(users=3000, weeks=8)

# Exactly the data contract's columns (docs: /work/shared/spec/data-contract.md), in its order.
CONTRACT_COLUMNS = {
    "events": ["event_id", "ts", "user_id", "session_id", "event_type", "item_id", "block",
               "position", "model_version", "platform", "propensity"],
    "orders": ["order_id", "item_id", "ts", "user_id", "session_id", "seller_id", "quantity", "price",
               "market_price", "commission", "delivery_cost", "discount", "returned"],
    "items": ["item_id", "seller_id", "category", "market_price", "created_at"],
    "sellers": ["seller_id", "joined_at", "left_at"],
    "users": ["user_id", "signup_ts", "platform", "city"],
    "reviews": ["review_id", "item_id", "seller_id", "user_id", "ts", "rating", "replied_at"],
    "ad_spend": ["date", "seller_id", "amount"],
    "experiments": ["experiment_id", "name", "block", "start_ts", "end_ts"],
    "experiment_variants": ["experiment_id", "variant", "model_version", "is_control", "traffic_share"],
    "assignments": ["experiment_id", "user_id", "variant", "assigned_ts"],
    "offline_metrics": ["model_version", "metric", "value", "evaluated_at"],
    "recommendations": ["model_version", "user_id", "item_id", "rank"],
    "holdout": ["user_id", "item_id", "relevance"],
    "target_policies": ["model_version", "block", "position", "item_id", "probability", "user_id"],
}
ID_COLUMNS = {"event_id", "user_id", "session_id", "item_id", "order_id", "seller_id", "review_id",
              "experiment_id", "variant", "model_version"}
MONEY_COLUMNS = {"price", "market_price", "commission", "delivery_cost", "discount", "amount"}
TIME_COLUMNS = {"ts", "created_at", "joined_at", "left_at", "signup_ts", "replied_at", "start_ts",
                "end_ts", "assigned_ts", "evaluated_at"}
EVENTS_NOW = dt.datetime(2026, 11, 29)   # the day the demo was designed for: nothing may lie after it


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("demo") / "seed7"
    messages: list[str] = []
    rows = generate(out, seed=7, progress=messages.append, **SIZE)
    assert messages, "progress is reported"
    return out, rows


@pytest.fixture(scope="module")
def tables(world) -> dict[str, pd.DataFrame]:
    out, _ = world
    return {t: pq.read_table(out / f"{t}.parquet").to_pandas() for t in TABLES}


def test_every_contract_table_with_exactly_its_columns(world, tables):
    out, rows = world
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.parquet" for t in CONTRACT_COLUMNS)
    assert set(rows) == set(CONTRACT_COLUMNS)
    for table, columns in CONTRACT_COLUMNS.items():
        assert list(tables[table].columns) == columns, table
        assert rows[table] == len(tables[table]) > 0, table


def test_column_types(world):
    out, _ = world
    for table in CONTRACT_COLUMNS:
        schema = pq.read_schema(out / f"{table}.parquet")
        for f in schema:
            if f.name in ID_COLUMNS or f.name in {"event_type", "block", "platform", "city", "category",
                                                  "metric", "name"}:
                assert f.type == pa.string(), (table, f.name, f.type)
            elif f.name in MONEY_COLUMNS:
                assert f.type == pa.decimal128(18, 2), (table, f.name, f.type)
            elif f.name in TIME_COLUMNS:
                assert f.type == pa.timestamp("us"), (table, f.name, f.type)   # naive UTC
            elif f.name in {"position", "quantity", "rating", "rank", "relevance"}:
                assert f.type == pa.int64(), (table, f.name, f.type)
            elif f.name in {"returned", "is_control"}:
                assert f.type == pa.bool_(), (table, f.name, f.type)
    assert pq.read_schema(out / "ad_spend.parquet").field("date").type == pa.date32()


def test_same_seed_same_bytes_other_seed_other_data(world, tmp_path):
    out, rows = world
    again = generate(tmp_path / "again", seed=7, **SIZE)
    other = generate(tmp_path / "other", seed=8, **SIZE)
    assert again == rows
    for table in CONTRACT_COLUMNS:
        name = f"{table}.parquet"
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), table
    assert (tmp_path / "other" / "events.parquet").read_bytes() != (out / "events.parquet").read_bytes()
    assert (tmp_path / "other" / "orders.parquet").read_bytes() != (out / "orders.parquet").read_bytes()


def test_ids_are_strings(tables):
    events = tables["events"]
    assert events["user_id"].map(type).eq(str).all()
    assert events["event_id"].str.fullmatch(r"e\d{9}").all()
    assert tables["users"]["user_id"].str.fullmatch(r"u\d{7}").all()
    assert tables["orders"]["order_id"].map(type).eq(str).all()


def test_uniqueness_rules(tables):
    ev, orders, recs, asg = tables["events"], tables["orders"], tables["recommendations"], tables["assignments"]
    assert ev["event_id"].is_unique
    assert not orders.duplicated(["order_id", "item_id"]).any()
    assert not recs.duplicated(["model_version", "user_id", "rank"]).any()
    assert recs["rank"].between(1, 20).all()
    assert not asg.duplicated(["experiment_id", "user_id"]).any()
    assert set(asg["user_id"]) <= set(tables["users"]["user_id"])
    controls = tables["experiment_variants"].groupby("experiment_id")["is_control"].sum()
    assert (controls == 1).all() and len(controls) == len(tables["experiments"])


def test_event_rules(tables):
    ev = tables["events"]
    assert set(ev["event_type"]) == {"app_open", "impression", "click", "add_to_cart", "filter_use",
                                     "suggest_use"}
    shown = ev[ev["event_type"].isin(["impression", "click"])]
    assert shown["block"].notna().all() and shown["item_id"].notna().all()
    assert (shown["position"] >= 1).all() and shown["model_version"].notna().all()
    assert ev.loc[ev["event_type"] == "add_to_cart", "item_id"].notna().all()
    assert set(ev["block"].dropna()) == {"home_feed", "similar_items", "cart_upsell", "search_recs"}
    # every session starts with its app_open
    first = ev.sort_values(["ts", "event_id"]).groupby("session_id")["event_type"].first()
    assert (first == "app_open").all()
    # order lines carry a session of their buyer that exists in events
    orders = tables["orders"]
    sessions = ev.drop_duplicates("session_id").set_index("session_id")["user_id"]
    assert orders["session_id"].isin(sessions.index).all()
    assert (sessions.loc[orders["session_id"]].to_numpy() == orders["user_id"].to_numpy()).all()


def test_clicks_precede_the_purchases_they_lead_to(tables):
    ev, orders = tables["events"], tables["orders"]
    clicks = ev.loc[ev["event_type"] == "click", ["user_id", "item_id", "ts"]]
    pairs = orders[["order_id", "user_id", "item_id", "ts"]].merge(clicks, on=["user_id", "item_id"],
                                                                   suffixes=("", "_click"))
    window = pairs[(pairs["ts_click"] <= pairs["ts"]) & (pairs["ts"] - pairs["ts_click"] <= pd.Timedelta(days=7))]
    attributed = window.drop_duplicates(["order_id", "item_id"])
    share = len(attributed) / len(orders)
    assert 0.3 < share < 0.8, share   # recommendations sell a good part, organic purchases the rest


def test_no_future_and_inside_the_world(tables):
    end = pd.Timestamp(END)
    for table, column in [("events", "ts"), ("orders", "ts"), ("reviews", "ts"), ("reviews", "replied_at"),
                          ("assignments", "assigned_ts"), ("experiments", "end_ts"),
                          ("items", "created_at"), ("offline_metrics", "evaluated_at")]:
        values = tables[table][column].dropna()
        assert len(values) and values.max() < end <= pd.Timestamp(EVENTS_NOW), (table, column)
    assert (tables["sellers"]["left_at"].dropna() < end).all()   # sellers who left, left before the end
    start = end - pd.Timedelta(weeks=SIZE["weeks"])
    assert tables["events"]["ts"].min() >= start
    assert tables["orders"]["ts"].min() >= start


def test_exactly_one_experiment_has_a_broken_split(tables):
    variants, asg = tables["experiment_variants"], tables["assignments"]
    counts = asg.groupby(["experiment_id", "variant"]).size().rename("n").reset_index()
    merged = variants.merge(counts, on=["experiment_id", "variant"], how="left").fillna({"n": 0})
    p_values = {}
    for eid, g in merged.groupby("experiment_id"):
        expected = g["n"].sum() * g["traffic_share"] / g["traffic_share"].sum()
        p_values[eid] = stats.chisquare(g["n"], expected).pvalue
    broken = [eid for eid, p in p_values.items() if p < 0.001]
    assert len(broken) == 1, p_values
    g = merged[merged["experiment_id"] == broken[0]]
    assert g["traffic_share"].tolist() == [0.5, 0.5]
    control_share = g.loc[g["is_control"], "n"].iloc[0] / g["n"].sum()
    assert 0.53 < control_share < 0.59, control_share


def test_offline_metrics_cover_every_model_and_later_evaluations_exist(tables):
    om = tables["offline_metrics"]
    models = set(tables["events"]["model_version"].dropna()) | set(tables["experiment_variants"]["model_version"])
    required = {"ndcg@10", "recall@10", "precision@10", "coverage@10", "novelty@10", "map@10"}
    have = om.groupby("model_version")["metric"].apply(set)
    assert set(have.index) >= models
    assert all(required <= metrics for metrics in have)
    repeated = om.dropna(subset=["evaluated_at"]).groupby(["model_version", "metric"]).size()
    assert (repeated > 1).any()
    assert set(tables["recommendations"]["model_version"]) <= set(have.index)
    assert tables["recommendations"]["model_version"].nunique() == 3
    assert tables["holdout"]["relevance"].between(1, 3).all()
    assert tables["holdout"].groupby("user_id").size().between(1, 5).all()


def test_offline_metrics_of_the_evaluated_models_agree_with_trec_eval(tables):
    """For the three models with recommendations + holdout, offline_metrics holds exactly what
    trec_eval computes from those tables (so the SQL's computed values should land on them too)."""
    pytrec_eval = pytest.importorskip("pytrec_eval")
    recs, hold, om = tables["recommendations"], tables["holdout"], tables["offline_metrics"]
    latest = (om.sort_values("evaluated_at", na_position="first")
                .groupby(["model_version", "metric"])["value"].last())
    qrel: dict[str, dict[str, int]] = {}
    for user, item, relevance in hold.itertuples(index=False):
        qrel.setdefault(user, {})[item] = int(relevance)
    measures = {"ndcg_cut_10": "ndcg@10", "map_cut_10": "map@10", "P_10": "precision@10", "recall_10": "recall@10"}
    for model, lists in recs.groupby("model_version"):
        run: dict[str, dict[str, float]] = {}
        for user, item, rank in lists[["user_id", "item_id", "rank"]].itertuples(index=False):
            run.setdefault(user, {})[item] = float(100 - rank)
        result = pytrec_eval.RelevanceEvaluator(qrel, set(measures)).evaluate(run)
        for measure, metric in measures.items():
            expected = sum(result.get(u, {}).get(measure, 0.0) for u in qrel) / len(qrel)
            assert latest[(model, metric)] == pytest.approx(expected, abs=1e-6), (model, metric)


def test_the_demo_version_hashes_every_file_of_the_generator_package(tmp_path, monkeypatch):
    # The demo's cache folder is named by this hash: a change in any step of the generator (or a
    # step added) must make a new demo, never serve one made by other code.
    import shutil

    import dashboard.engine.demo as demo
    from dashboard.ui.source import demo_dir

    package = Path(demo.__file__).resolve().parent
    assert demo_dir().name.endswith(f"-{demo.code_version()}")
    copy = tmp_path / "demo"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(demo, "__file__", str(copy / "__init__.py"))
    first = demo.code_version()
    assert first == demo.code_version()
    for name in sorted(p.name for p in package.glob("*.py")):  # every file counts, not only __init__
        text = (copy / name).read_text(encoding="utf-8")
        (copy / name).write_text(text + "\n# changed\n", encoding="utf-8")
        assert demo.code_version() != first, name
        (copy / name).write_text(text, encoding="utf-8")
    assert demo.code_version() == first
    (copy / "new_step.py").write_text("STEP = 1\n", encoding="utf-8")
    assert demo.code_version() != first
