"""Spark computes the same metric tables as DuckDB, from the same queries/ SQL.

Both engines run on the same loaded sources — a small generated marketplace and the tiny
hand-built sources of the metric tests (their constants, imported) — with default and
non-default parameters (Europe/Berlin across the October DST switch, blocks, platform, window,
dates, N and k). Every table must be equal: rows sorted by the table's key columns, integers,
text and booleans exactly, floating-point values within rtol 1e-9 (atol 1e-12: only the order
of floating-point sums differs between the engines), NULL equal to NULL, dates as dates.

One SparkSession for the module (local[2], 2 shuffle partitions, no UI, adaptive execution on as
in production, `session.SMALL_DATA_CONF`): starting the JVM costs ~15 s and every Spark query has
a fixed cost of a fraction of a second whatever its rows, so the sources are loaded once per
module and each parameter set combines every non-default parameter it can.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark", reason="the Spark engine needs pyspark (requirements-dev.txt)")
pytest.importorskip("sqlglot", reason="the Spark engine needs sqlglot (requirements-dev.txt)")

import test_business_weekly as business_case  # noqa: E402
import test_buyer_weekly as buyer_case  # noqa: E402
import test_experiments as experiments_case  # noqa: E402
import test_offline_metrics as offline_case  # noqa: E402
import test_offline_online as pairs_case  # noqa: E402
import test_off_policy as off_policy_case  # noqa: E402
from conftest import TEST_NOW, write_source  # noqa: E402
from dashboard.core.export import compute_all  # noqa: E402
from dashboard.core.metrics import METRIC_TABLES  # noqa: E402
from dashboard.core.params import Params  # noqa: E402
from dashboard.core.source import load_source  # noqa: E402
from dashboard.core.spark import context, engine, transpile  # noqa: E402
from dashboard.core.spark.session import SMALL_DATA_CONF, java_problem, spark_session  # noqa: E402
from dashboard.core.spark.source import from_duckdb  # noqa: E402

# pyspark 4.x warns on each pandas conversion that pandas 3 is "not yet fully supported"; the
# conversions here are compared value by value.
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")

KEYS = {
    "buyer_weekly": ["week_start", "block"],
    "time_to_purchase_weekly": ["week_start", "block", "measure"],
    "convenience_weekly": ["week_start", "feature"],
    "price_weekly": ["week_start"],
    "retention": ["basis", "category", "cohort_week", "weeks_since"],
    "seller_weekly": ["week_start"],
    "business_weekly": ["week_start"],
    "offline_metrics": ["model_version", "metric"],
    "experiments": ["experiment_id", "variant", "metric"],
    "offline_online": ["offline_metric", "online_metric"],
    "off_policy": ["model_version", "block", "estimator"],
}
RTOL, ATOL = 1e-9, 1e-12
# The generated marketplace: 8 weeks to 2026-11-02 (across the October DST switch), ~25k events,
# ~220 orders: every table has rows under both parameter sets, with few rows to wait for.
DEMO_USERS = 600

# The tiny sources: the metric tests' own tables.
TINY = {
    "buyer": {"events": buyer_case.EVENTS, "orders": buyer_case.ORDERS},
    "business": {"events": business_case.EVENTS, "orders": business_case.ORDERS, "ad_spend": business_case.AD_SPEND},
    "offline": {"events": offline_case.EVENTS, "items": offline_case.ITEMS, "holdout": offline_case.HOLDOUT,
                "recommendations": offline_case.RECOMMENDATIONS},
    "experiments": {"events": experiments_case.E1_EVENTS, "orders": experiments_case.E1_ORDERS,
                    "experiments": experiments_case.E1_EXPERIMENTS,
                    "experiment_variants": experiments_case.E1_VARIANTS,
                    "assignments": experiments_case.E1_ASSIGNMENTS},
    "experiments_pre": {"events": experiments_case._p1_events(), "orders": experiments_case.P1_ORDERS,
                        "experiments": experiments_case.P1_EXPERIMENTS,
                        "experiment_variants": experiments_case.P1_VARIANTS,
                        "assignments": experiments_case.P1_ASSIGNMENTS},
    "pairs": pairs_case.build_tables(),
    # user rows over null-user rows, a recommendations model, click matching (latest, ties, 24 h)
    "off_policy": {"events": off_policy_case.LOG + off_policy_case.MATCHING,
                   "target_policies": off_policy_case.CAND + [off_policy_case.tp(model="all_a")],
                   "recommendations": off_policy_case.RECS},
}
BERLIN_FILTERED = Params(
    tz="Europe/Berlin", window_days=3, n_sales=2, k=5, blocks=("home_feed", "search_recs"), platform="ios",
    start=dt.date(2026, 9, 21), end=dt.date(2026, 10, 28),
)
CASES = [
    pytest.param("demo", Params(), METRIC_TABLES, id="demo-defaults"),
    pytest.param("demo", BERLIN_FILTERED, METRIC_TABLES, id="demo-berlin-blocks-platform-window-dates"),
    # the 7-day window's edges (inclusive; 7 days + 1 s is out), last touch across blocks, ties
    pytest.param("buyer", Params(blocks=("home_feed",)), ("buyer_weekly", "time_to_purchase_weekly"),
                 id="buyer-window-edges-block"),
    pytest.param("business", Params(tz="Europe/Berlin"), ("business_weekly", "retention"), id="business-berlin"),
    pytest.param("offline", Params(k=3), ("offline_metrics",), id="offline-k3"),
    pytest.param("experiments", Params(platform="web"), ("experiments",), id="experiments-platform"),
    pytest.param("experiments_pre", Params(cap_quantile=0.8), ("experiments",), id="experiments-pre-period-capped"),
    pytest.param("experiments_pre", Params(pre_days=7), ("experiments",), id="experiments-pre-days-7"),
    pytest.param("pairs", Params(), ("offline_online",), id="offline-online-pairs"),
    pytest.param("off_policy", Params(), ("off_policy",), id="off-policy-matching-override"),
    pytest.param("off_policy", Params(tz="Europe/Berlin", start=dt.date(2026, 10, 5), end=dt.date(2026, 10, 11)),
                 ("off_policy",), id="off-policy-berlin-dates"),
]


@pytest.fixture(scope="module")
def spark():
    if java_problem():
        pytest.skip(f"the Spark engine needs a Java runtime (17 or newer): {java_problem()}")
    session = spark_session("local[2]", shuffle_partitions=2, conf=SMALL_DATA_CONF)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def sources(spark, tmp_path_factory):
    """name -> (DuckDB source, Spark source), loaded once per module on first use."""
    loaded: dict[str, tuple] = {}

    def get(name: str):
        if name not in loaded:
            folder = tmp_path_factory.mktemp(name)
            if name == "demo":
                from dashboard.core.demo import generate

                generate(folder, users=DEMO_USERS, weeks=8, seed=3)
            else:
                write_source(folder, TINY[name])
            duck = load_source(folder, now=TEST_NOW)
            loaded[name] = (duck, from_duckdb(duck, spark))
        return loaded[name]

    yield get
    for duck, on_spark in loaded.values():
        on_spark.close()
        duck.con.close()


@pytest.mark.parametrize("source_name, params, tables", CASES)
def test_spark_tables_equal_duckdb_tables(sources, source_name, params, tables):
    duck, on_spark = sources(source_name)
    expected, expected_unavailable = compute_all(duck, params, tables=tables)
    actual, actual_unavailable = engine.compute_all(on_spark, params, tables=tables)
    assert actual_unavailable == expected_unavailable
    assert list(actual) == list(expected)
    assert expected, "a case that compares no table tests nothing"
    for name in expected:
        assert_same_table(expected[name], actual[name], name)


def test_export_with_spark_writes_the_same_csv_files(spark, tmp_path):
    from dashboard.__main__ import main

    # events only: three tables (buyer_weekly, retention, business_weekly), the others "not written"
    folder = write_source(tmp_path / "source", {"events": buyer_case.EVENTS})
    duck_out, spark_out = tmp_path / "duckdb", tmp_path / "spark"
    assert main(["export", "--data", str(folder), "--out", str(duck_out)]) == 0
    assert main(["export", "--engine", "spark", "--spark-master", "local[2]", "--data", str(folder),
                 "--out", str(spark_out)]) == 0
    written = sorted(p.name for p in duck_out.glob("*.csv"))
    assert written == sorted(p.name for p in spark_out.glob("*.csv"))
    assert "buyer_weekly.csv" in written
    for file in written:
        expected = pd.read_csv(duck_out / file, keep_default_na=False, dtype=str)
        actual = pd.read_csv(spark_out / file, keep_default_na=False, dtype=str)
        assert list(actual.columns) == list(expected.columns), file
        assert_same_table(_numeric(expected), _numeric(actual), file.removesuffix(".csv"))


def test_spark_master_needs_the_spark_engine(tmp_path, capsys):
    from dashboard.__main__ import main

    folder = write_source(tmp_path / "source", TINY["buyer"])
    code = main(["export", "--spark-master", "local[2]", "--data", str(folder), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "--engine spark" in capsys.readouterr().err


# --- the translation itself (no Spark needed) ----------------------------------------------------

SCHEMA = {
    "t": {"d1": "date", "d2": "date", "ts": "timestamp_ntz", "m": "decimal(18,4)", "n": "bigint", "k": "string"},
    "c": {"ts": "timestamp_ntz", "k": "string", "x": "string"},
}


@pytest.mark.parametrize("duckdb_sql, spark_fragment", [
    ("select t.m / t.n as r from t", "CAST(`t`.`m` AS DOUBLE) / CAST(`t`.`n` AS DOUBLE)"),
    ("select t.d1 - t.d2 as days from t", "DATEDIFF(`t`.`d1`, `t`.`d2`)"),
    ("select timezone($tz, cast(t.ts as timestamptz)) as l from t", "FROM_UTC_TIMESTAMP(CAST(`t`.`ts` AS TIMESTAMP), :tz)"),
    ("select timezone($tz, cast(t.d1 as timestamp)) as u from t", "TO_UTC_TIMESTAMP(CAST(`t`.`d1` AS TIMESTAMP_NTZ), :tz)"),
    ("select quantile_cont(t.n, 0.9) as q from t", "PERCENTILE(`t`.`n`, 0.9)"),
    ("select avg(case when t.n > 0 then 1.0 else 0.0 end) as a from t", "AVG(CAST(CASE"),
    ("select arg_min(t.k, t.ts) as first_k from t", "MIN_BY(`t`.`k`, CASE WHEN NOT `t`.`k` IS NULL THEN `t`.`ts` END)"),
    ("select isodow(t.ts) as dow from t", "WEEKDAY(`t`.`ts`) + 1"),
    ("select r.k from range(3) as r(k)", "RANGE(0, 3) AS `r`(`k`)"),
    ("select t.k, count(*) as n from t group by all", "GROUP BY\n  `t`.`k`"),
])
def test_translation_keeps_duckdb_meaning(duckdb_sql, spark_fragment):
    assert spark_fragment in transpile.translate(duckdb_sql, SCHEMA)


def test_asof_join_becomes_one_sorted_window():
    text = transpile.translate(
        "select t.k, t.ts, c.x from t asof left join c on c.k = t.k and t.ts >= c.ts", SCHEMA)
    assert "ASOF LEFT JOIN" not in text.upper()
    assert "LAST(__r) IGNORE NULLS OVER" in text
    assert "`t`.`__asof_x` AS `x`" in text


# Rows for the ASOF JOIN on both engines: an exact tie in time, a strict-only miss, a key with
# no right rows, NULL keys and times on both sides, two right rows at one time (same x).
ASOF_LEFT = [("a", "2026-01-01 10:00"), ("a", "2026-01-01 12:00"), ("a", "2026-01-01 08:00"),
             ("b", "2026-01-01 10:00"), ("z", "2026-01-01 10:00"), (None, "2026-01-01 10:00"), ("a", None)]
ASOF_RIGHT = [("a", "2026-01-01 09:00", "x1"), ("a", "2026-01-01 10:00", "x2"), ("a", "2026-01-01 11:00", "x3"),
              ("b", "2026-01-01 10:00", "y1"), ("b", "2026-01-01 10:00", "y1"), (None, "2026-01-01 07:00", "n1"),
              ("a", None, "n2")]


@pytest.mark.parametrize("join", [
    "asof join c on c.k = t.k and t.ts >= c.ts",
    "asof left join c on c.k = t.k and t.ts >= c.ts",
    "asof left join c on t.k = c.k and c.ts < t.ts",
])
def test_asof_join_finds_the_same_rows_on_spark(spark, join):
    import duckdb

    query = f"select t.k, t.ts, c.x from t {join}"
    left = pd.DataFrame(ASOF_LEFT, columns=["k", "ts"]).astype({"ts": "datetime64[us]"})
    right = pd.DataFrame(ASOF_RIGHT, columns=["k", "ts", "x"]).astype({"ts": "datetime64[us]"})
    with duckdb.connect() as con:
        con.register("left_rows", left)
        con.register("right_rows", right)
        con.execute("create table t as select k::varchar as k, ts::timestamp as ts from left_rows")
        con.execute("create table c as select k::varchar as k, ts::timestamp as ts, x::varchar as x from right_rows")
        expected = con.sql(query).df()
    session = spark.newSession()
    session.createDataFrame(left, "k string, ts timestamp_ntz").createOrReplaceTempView("t")
    session.createDataFrame(right, "k string, ts timestamp_ntz, x string").createOrReplaceTempView("c")
    schema = {"t": {"k": "string", "ts": "timestamp_ntz"}, "c": {"k": "string", "ts": "timestamp_ntz", "x": "string"}}
    actual = context.to_pandas(session.sql(transpile.translate(query, schema)))
    key = ["k", "ts", "x"]
    expected, actual = (f.sort_values(key, na_position="last").reset_index(drop=True) for f in (expected, actual))
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False)


def test_untranslatable_sql_fails_loudly():
    with pytest.raises(transpile.TranslationError):
        transpile.translate("select list(t.k order by t.ts) as ks from t", SCHEMA)


# --- comparison -------------------------------------------------------------------------------

def assert_same_table(expected: pd.DataFrame, actual: pd.DataFrame, name: str) -> None:
    assert list(actual.columns) == list(expected.columns), name
    assert len(actual) == len(expected), f"{name}: {len(actual)} rows on Spark, {len(expected)} on DuckDB"
    keys = KEYS[name]
    expected, actual = _sorted(expected, keys), _sorted(actual, keys)
    for column in expected.columns:
        where = f"{name}.{column}"
        left, right = expected[column], actual[column]
        assert _family(left) == _family(right), f"{where}: {left.dtype} on DuckDB, {right.dtype} on Spark"
        nulls = left.isna().to_numpy()
        assert (nulls == right.isna().to_numpy()).all(), f"{where}: NULLs differ\n{left}\n{right}"
        if _family(left) == "float":
            a = left.astype("float64").to_numpy()[~nulls]
            b = right.astype("float64").to_numpy()[~nulls]
            close = np.isclose(b, a, rtol=RTOL, atol=ATOL)
            assert close.all(), f"{where}: differs beyond rtol {RTOL}: DuckDB {a[~close][:5]}, Spark {b[~close][:5]}"
        else:
            a, b = left[~nulls].tolist(), right[~nulls].tolist()
            assert a == b, f"{where}: DuckDB {a[:8]}, Spark {b[:8]}"


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, na_position="last", kind="stable").reset_index(drop=True)


def _family(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "date"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_numeric_dtype(series):
        return "float"
    return "text"


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """CSV text as numbers where every cell is one (the key columns stay text)."""
    out = frame.copy()
    for column in out.columns:
        values = pd.to_numeric(out[column].replace("", np.nan), errors="coerce")
        if values.notna().sum() == (out[column] != "").sum() and (out[column] != "").any():
            out[column] = values.astype("float64")
        else:
            out[column] = out[column].replace("", None)
    return out
