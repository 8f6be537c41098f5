"""Exported metric tables read back (dashboard/review/exported.py): what the pages would show
from a folder written by `export` is what they show when computing the tables themselves."""
import pandas as pd
import pytest

from conftest import TEST_NOW, write_source
from dashboard.engine.export import compute_all, export_tables
from dashboard.engine.metrics import METRIC_TABLES
from dashboard.engine.params import Params
from dashboard.engine.source import load_source
from dashboard.review.exported import ExportedError, is_exported_folder, load_exported

EVENTS = [
    {"event_id": "e1", "ts": "2026-03-02 09:00:00", "user_id": "u1", "session_id": "s1",
     "event_type": "impression", "item_id": "007", "block": "=home", "model_version": "-v1"},
    {"event_id": "e2", "ts": "2026-03-02 09:01:00", "user_id": "u1", "session_id": "s1",
     "event_type": "click", "item_id": "007", "block": "=home"},
    {"event_id": "e3", "ts": "2026-03-10 10:00:00", "user_id": "u2", "session_id": "s2",
     "event_type": "app_open"},
]
ORDERS = [
    {"order_id": "o1", "item_id": "007", "ts": "2026-03-02 10:00:00", "user_id": "u1",
     "session_id": "s1", "quantity": "2", "price": "10.5", "market_price": "12"},
]
EXPERIMENTS = [{"experiment_id": "001", "name": "first", "block": "=home",
                "start_ts": "2026-03-01 00:00:00", "end_ts": "2026-03-15 00:00:00"}]
VARIANTS = [
    {"experiment_id": "001", "variant": "0", "model_version": "-v1", "is_control": "true", "traffic_share": "0.5"},
    {"experiment_id": "001", "variant": "1", "model_version": "v2", "is_control": "false", "traffic_share": "0.5"},
]
ASSIGNMENTS = [
    {"experiment_id": "001", "user_id": "u1", "variant": "0"},
    {"experiment_id": "001", "user_id": "u2", "variant": "1"},
]


def assert_same_values(back: pd.DataFrame, frame: pd.DataFrame, name: str) -> None:
    """Equal cell by cell; a NULL is a NULL whatever its dtype (a column of only NULLs has no type in CSV)."""
    assert list(back.columns) == list(frame.columns), name
    assert len(back) == len(frame), name
    for column in frame.columns:
        left, right = back[column].astype(object), frame[column].astype(object)
        assert (left.isna() == right.isna()).all(), (name, column)
        known = right.notna()
        for a, b in zip(left[known], right[known]):
            if isinstance(b, float):
                assert a == pytest.approx(b, rel=1e-12), (name, column)
            else:
                assert a == b, (name, column)


@pytest.fixture
def computed(tmp_path):
    """(source folder, export folder, the tables as computed) for a small source."""
    folder = write_source(tmp_path / "source", {
        "events": EVENTS, "orders": ORDERS, "experiments": EXPERIMENTS,
        "experiment_variants": VARIANTS, "assignments": ASSIGNMENTS,
    })
    source = load_source(folder, now=TEST_NOW)
    out = tmp_path / "export"
    export_tables(source, Params(), out)
    tables, _ = compute_all(source, Params())
    return folder, out, tables


def test_an_export_folder_is_recognised_and_a_source_is_not(computed, tmp_path):
    source_folder, out, _ = computed
    assert is_exported_folder(out)
    assert not is_exported_folder(source_folder)  # it has events.csv
    assert not is_exported_folder(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not is_exported_folder(empty)
    assert not is_exported_folder(out / "business_weekly.csv")  # a file, not a folder


def test_csv_round_trip_restores_values_and_types(computed):
    _, out, tables = computed
    loaded = load_exported(out)
    assert list(loaded) == [t for t in METRIC_TABLES if t in tables]
    for name, frame in tables.items():
        assert_same_values(loaded[name], frame, name)
    business = loaded["business_weekly"]
    assert business["week_start"].dtype == "datetime64[us]"
    assert business["is_complete"].dtype == bool
    assert pd.api.types.is_integer_dtype(business["wau"])
    assert business["gmv"].dtype == "float64"


def test_text_that_looks_like_numbers_or_formulas_comes_back_as_written(computed):
    _, out, _ = computed
    loaded = load_exported(out)
    assert set(loaded["buyer_weekly"]["block"]) == {"=home", "ALL"}  # written as '=home
    experiments = loaded["experiments"]
    assert set(experiments["experiment_id"]) == {"001"}  # not the number 1
    assert set(experiments["variant"]) == {"0", "1"}


def test_integer_column_with_an_empty_cell_is_nullable(computed):
    _, out, tables = computed
    frame = load_exported(out)["time_to_purchase_weekly"]
    assert frame["n"].dtype == "int64"
    assert frame["median_min"].isna().any() and frame["median_min"].dtype == "float64"


def test_parquet_files_keep_their_types(computed, tmp_path):
    _, _, tables = computed
    folder = tmp_path / "parquet"
    folder.mkdir()
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    assert is_exported_folder(folder)
    loaded = load_exported(folder)
    for name, frame in tables.items():
        assert_same_values(loaded[name], frame, name)
    assert loaded["business_weekly"]["week_start"].dtype == "datetime64[us]"


def test_a_table_given_twice_is_an_error(computed):
    _, out, tables = computed
    tables["price_weekly"].to_parquet(out / "price_weekly.parquet", index=False)
    with pytest.raises(ExportedError, match="several files"):
        load_exported(out)


def test_date_filter_narrows_exported_weekly_tables_as_the_computation_does(computed, tmp_path):
    from dashboard.engine.params import week_start
    from dashboard.review.exported import select_weeks

    folder, out, _ = computed
    loaded = load_exported(out)
    day = pd.Timestamp("2026-03-10").date()
    narrowed, _ = compute_all(load_source(folder, now=TEST_NOW), Params(start=day, end=day))
    for name in ("buyer_weekly", "business_weekly", "retention"):
        selected = select_weeks(name, loaded[name], week_start(day), week_start(day))
        assert_same_values(selected, narrowed[name].reset_index(drop=True), name)
    with pytest.raises(ValueError, match="not narrowed by weeks"):
        select_weeks("experiments", loaded["experiments"], week_start(day), None)
