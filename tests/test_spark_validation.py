"""Spark validates a source like DuckDB: the same report and the same clean rows, from the files.

Each case is a small source, clean or broken in the ways of tests/test_hostile_input*.py (bad
timestamps, blank ids, NUL bytes, bad integers and booleans, money bounds and a fifth decimal,
rules on rows and across tables, duplicates and conflicting keys, malformed CSV rows, Latin-1,
typed Parquet). Both loaders read it; the reports must be equal field by field (rows read,
loaded, duplicates merged, columns given, every problem with its column, reason, count and
example rows, every warning), and so must the loaded tables, row by row with their row numbers.
Where the Spark engine refuses what DuckDB reads, or the reverse, a test says so
(docs/scale-out.md, "Not at parity").

One SparkSession for the module (local[2], 2 shuffle partitions, `SMALL_DATA_CONF`).
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("pyspark", reason="the Spark engine needs pyspark (requirements-dev.txt)")

from conftest import TEST_NOW  # noqa: E402
from dashboard.engine.loading import SourceError  # noqa: E402
from dashboard.engine.source import load_source  # noqa: E402
from dashboard.engine.spark import validate  # noqa: E402
from dashboard.engine.spark.context import to_pandas  # noqa: E402
from dashboard.engine.spark.session import SMALL_DATA_CONF, java_problem, spark_session  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
ROOT = Path(__file__).resolve().parents[1]

EVENTS_HEADER = "event_id,ts,user_id,event_type,item_id,block,position,propensity,extra\n"
CASES = {
    # rows 1..17: one rule broken per row (row numbers in the comments are data rows)
    "events-row-rules": {
        "events.csv": EVENTS_HEADER
        + "e1,2026-03-02 09:00:00,u1,app_open,,,,,x\n"  # 1 ok
        "e2,not a time,u1,app_open,,,,,\n"  # 2 not a timestamp
        "e3,2026-03-02 09:00:00, ,app_open,,,,,\n"  # 3 blank user_id
        "e4,2026-03-02 09:00:00,u1,impression,i1,home,2.5,0.5,\n"  # 4 position not an integer
        "e5,2030-03-02 09:00:00,u1,click,,,,,\n"  # 5 future; click without item_id, block
        "e1,2026-03-02 09:00:00,u1,app_open,,,,,x\n"  # 6 exact duplicate of row 1
        "e6,1960-01-01,u2,app_open,,,,,\n"  # 7 before 1970
        "e7,2026-03-02 09:00:00,u2,bogus,,,0,1.5,\n"  # 8 event_type, position, propensity
        "e8,2026-03-02 09:00:00,u2\n"  # 9 fewer fields
        "e9,2026-03-02 09:00:00,u2,app_open,,,1,0.2,a,b\n"  # 10 more fields
        'e10,"2026-03-02 09:00:00"x,u2,app_open,,,,,\n'  # 11 bad quoting
        "e11,infinity,u3,app_open,,,,,\n"  # 12 infinite timestamp
        "e12,2026-03-02T09:00:00Z,u3,app_open,,,+3,1e-1,\n"  # 13 ok (+3 is 3)
        "e13,2026-03-02 09:00:00,u3,app_open,,,,,\n"  # 14 conflicts with 15
        "e13,2026-03-02 09:00:01,u3,app_open,,,,,\n"  # 15
        "e14,2026-03-02 09:00:00,u\x003,app_open,,,,,\n"  # 16 NUL byte
        ",2026-03-02 09:00:00,u3,app_open,,,,,\n"  # 17 missing event_id
        "\n"  # an empty line: skipped, not a row
        "e15,-infinity,u3,app_open,,,,,\n",  # 18 infinite timestamp
    },
    "orders-money-and-integers": {
        "events.csv": EVENTS_HEADER + "e1,2026-03-02 09:00:00,u1,app_open,,,,,\n",
        "orders.csv": "order_id,item_id,ts,user_id,quantity,price,commission,returned,discount\n"
        "o1,i1,2026-03-02 09:00:00,u1,1,10.5,,yes,\n"  # ok, defaults filled in
        "o2,i1,2026-03-02 09:00:00,u1,0,10.12345,1,t,\n"  # quantity < 1, fifth decimal
        "o3,i1,2026-03-02 09:00:00,u1,2000000,-1,1e13,maybe,\n"  # quantity bound, negative, amount bound, bool
        "o4,i1,2026-03-02 09:00:00,u1,1.0,10000000000000,0,0,\n"  # 1.0 is 1; price above bound
        "o5,i2,2026-03-02 09:00:00,u1,1e2,3,0, true ,\n"  # 1e2 not an integer; ' true ' not a boolean
        "o5,i2,2026-03-02 09:00:00,u1,1e2,3,0, true ,\n"  # its exact duplicate (both rejected rows)
        "o6,i1,2026-03-02 09:00:00,u1,2,4.0001,,N,0.00001\n"  # ok price; discount fifth decimal
        "o6,i2,2026-03-02 09:00:00,u1,2,4,,n,\n"  # ok (key is order_id, item_id)
        "o7,i1,2026-03-02 09:00:00,u1,3,5,,f,\n"  # duplicated exactly below: merged
        "o7,i1,2026-03-02 09:00:00,u1,3,5,,f,\n",
    },
    "experiments-across-tables": {
        "events.csv": EVENTS_HEADER + "e1,2026-03-02 09:00:00,u1,app_open,,,,,\n",
        "experiments.csv": "experiment_id,start_ts,end_ts,name\nx1,2026-03-01,2026-03-10,a\nx2,2026-03-10,2026-03-01,b\n"
        "x3,2026-03-01,2026-03-10,c\nx4,2026-03-01,2026-03-10,d\n",
        "experiment_variants.csv": "experiment_id,variant,model_version,is_control,traffic_share\n"
        "x1,a,m1,true,0.5\nx1,b,m2,false,0.3\nx9,a,m1,true,1\nx1,c,m3,true,0.2\n"  # two controls; unknown experiment
        "x3,a,m1,false,0.5\nx3,b,m2,false,0.5\n"  # no control
        "x4,a,m1,true,0.6\nx4,b,m2,false,0.6\n"  # shares sum to 1.2: a warning
        "x4,c,m2,false,0\n",  # share outside (0, 1]
        "assignments.csv": "experiment_id,user_id,variant,assigned_ts\nx1,u1,a,\nx1,u2,z,\nx4,u1,a,2026-03-02\n"
        "x4,u2,b,2026-03-02\nx4,u2,a,2026-03-02\n",  # conflicting key (x4, u2)
    },
    "target-policies-and-offline": {
        "events.csv": EVENTS_HEADER + "e1,2026-03-02 09:00:00,u1,app_open,,,,,\n",
        "target_policies.csv": "model_version,block,position,item_id,probability,user_id\n"
        "m1,home,1,i1,0.6,\nm1,home,1,i2,0.6,\n"  # one slot sums to 1.2 (null user): both rows go
        "m1,home,1,i1,0.6,u1\nm1,home,1,i2,0.4,u1\n"  # user u1's own slot: sums to 1
        "m1,home,2,i1,1.5,\nm1,home,0,i1,0.5,\n",  # probability, position
        "recommendations.csv": "model_version,user_id,item_id,rank\nm1,u1,i1,1\nm1,u1,i2,1\nm1,u1,i3,0\nm1,u2,i1,x\n",
        "holdout.csv": "user_id,item_id,relevance\nu1,i1,\nu1,i1,2\nu2,i3,0\n",
        "sellers.csv": "seller_id,joined_at,left_at\ns1,2026-01-01,\ns2,2026-01-01,2300-01-01\n\t,2026-01-01,\n",
        "ad_spend.csv": "date,seller_id,amount\n2026-03-02,s1,5\n2026-03-02,s1,5\ninfinity,s1,1\n1969-12-31,s1,1\n2026-13-01,s1,1\n",
        "reviews.csv": "review_id,item_id,ts,rating\nr1,i1,2026-03-02,5\nr2,i1,2026-03-02,6\nr3,i1,2026-03-02,\n",
    },
    "semicolons-and-excel-sep-line": {
        "events.csv": "sep=;\nevent_id;ts;user_id;event_type\ne1;2026-03-02 09:00:00;u1;app_open\n"
        'e2;"2026-03-02 09:00:00";"u;2";app_open\ne3;2026-03-02 09:00:00;u3\n',
    },
    "latin-1": {
        "events.csv": (EVENTS_HEADER + "e1,2026-03-02 09:00:00,Jos\xe9,app_open,,,,,\n"
                       "e2,2026-03-02 09:00:00,u2,app_open,,,,,\n").encode("latin-1"),
    },
    "utf-8-with-a-bad-row": {
        "events.csv": (EVENTS_HEADER + "e1,2026-03-02 09:00:00,Jos\xe9,app_open,,,,,\n").encode("utf-8")
        + b"e2,2026-03-02 09:00:00,Jos\xe9,app_open,,,,,\ne3,2026-03-02 09:00:00,u3,app_open,,,,,\n",
    },
    "gzip-crlf": {
        "events.csv.gz": __import__("gzip").compress(
            (EVENTS_HEADER + "e1,2026-03-02 09:00:00,u1,app_open,,,,,\ne2,2026-03-02,u2,impression,i1,home,1,0.5,\n"
             ).replace("\n", "\r\n").encode()),
    },
}


def _parquet_events() -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "event_id": pa.array([1, 2, 3, 3, 4]),  # numbers as ids: a warning
        "ts": pa.array(["2026-03-02 09:00:00"] * 4 + ["1969-01-01"]).cast(pa.timestamp("us")),
        "user_id": ["u1", "u2", " ", "u3", "u4"],
        "event_type": ["app_open", "impression", "app_open", "app_open", "app_open"],
        "position": pa.array([1.0, 2.5, None, None, None]),
        "propensity": pa.array([0.5, float("nan"), None, None, None]),
        "Extra": [1, 2, 3, 4, 5],
    })
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=2)  # several row groups: row numbers across them
    return out.getvalue()


CASES["parquet-typed"] = {"events.parquet": _parquet_events()}


@pytest.fixture(scope="module")
def spark():
    if java_problem():
        pytest.skip(f"the Spark engine needs a Java runtime (17 or newer): {java_problem()}")
    session = spark_session("local[2]", shuffle_partitions=2, conf=SMALL_DATA_CONF)
    yield session
    session.stop()


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return folder


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Values as Python objects, every missing value None (an all-NULL text column is object dtype
    on DuckDB and string dtype from Arrow; the values are what is compared)."""
    return frame.astype(object).where(frame.notna(), None)


def report(source) -> dict:
    return {
        name: (r.origin, r.rows_read, r.rows_loaded, r.duplicates_merged, r.columns_present,
               [(p.column, p.reason, p.rows, p.examples) for p in r.problems], r.notes, r.rejected_experiments)
        for name, r in source.tables.items()
    }


@pytest.mark.parametrize("case", list(CASES))
def test_spark_report_and_rows_equal_duckdb(spark, tmp_path, case):
    folder = write(tmp_path / case, CASES[case])
    duck = load_source(folder, now=TEST_NOW)
    on_spark = validate.load_source(folder, spark, TEST_NOW)
    try:
        assert report(on_spark) == report(duck)
        assert any(r.problems or r.notes or r.duplicates_merged for r in duck.tables.values()) or case == "gzip-crlf"
        session = spark.newSession()
        for table in duck.tables:
            expected = duck.readable_cursor().sql(f"SELECT * FROM {table} ORDER BY _row").df()
            actual = to_pandas(on_spark.frame(session, table).orderBy("_row"))
            pd.testing.assert_frame_equal(_plain(actual), _plain(expected), check_dtype=False, obj=table)
    finally:
        on_spark.close()
        duck.con.close()


def test_spark_row_numbers_and_reasons_by_hand(spark, tmp_path):
    """The first case's report, worked out by hand (row numbers are data rows of the file)."""
    source = validate.load_source(write(tmp_path / "s", CASES["events-row-rules"]), spark, TEST_NOW)
    try:
        events = source.tables["events"]
        problems = {(p.column, p.reason): (p.rows, p.examples) for p in events.problems}
        # 18 data rows (the empty line is none); 3 malformed; 13 parsed, of which rows 1, 13 load,
        # row 6 is row 1's duplicate and rows 14, 15 conflict; the other 9 break rules.
        assert (events.rows_read, events.rows_loaded, events.duplicates_merged) == (18, 2, 1)
        assert problems[("ts", "infinite timestamp")] == (2, [12, 18])
        assert problems[("ts", "not a timestamp")] == (1, [2])
        assert problems[("event_id", "missing value")] == (1, [17])
        assert problems[("user_id", "contains a NUL byte (binary data, not text)")] == (1, [16])
        assert problems[("event_id", "different rows share the same event_id")] == (2, [14, 15])
        assert problems[("(row)", "malformed CSV row: fewer fields than the 9 of the header")] == (1, [9])
    finally:
        source.close()


@pytest.mark.parametrize("files, words", [
    # a required column missing: the same sentence on both engines
    ({"events.csv": "event_id,ts,user_id\ne1,2026-03-02,u1\n"}, "missing required column 'event_type'"),
    # not one value of a column parses: the column is refused, naming its first row
    ({"events.csv": "event_id,ts,user_id,event_type\ne1,x,u1,app_open\ne2,y,u1,app_open\n"}, "is not a timestamp in any"),
    # no events table
    ({"orders.csv": "order_id\n"}, "the required table 'events' is missing"),
    # the rows do not use the header's delimiter
    ({"events.csv": "event_id,ts,user_id,event_type\ne1;2026-03-02;u1;app_open\n"}, "none of its 1 rows has the 4 fields"),
])
def test_spark_refuses_a_source_as_duckdb_does(spark, tmp_path, files, words):
    folder = write(tmp_path / "s", files)
    with pytest.raises(SourceError) as duck:
        load_source(folder, now=TEST_NOW)
    with pytest.raises(SourceError) as on_spark:
        validate.load_source(folder, spark, TEST_NOW)
    assert on_spark.value.problems == duck.value.problems
    assert any(words in p for p in on_spark.value.problems)


def test_not_at_parity_a_line_break_inside_quotes_is_refused_on_spark(spark, tmp_path):
    """DuckDB reads a quoted value with a line break; Spark reads one row per line and says so."""
    folder = write(tmp_path / "s", {"events.csv": 'event_id,ts,user_id,event_type\ne1,2026-03-02,"u\n1",app_open\n'})
    assert load_source(folder, now=TEST_NOW).tables["events"].rows_loaded == 1
    with pytest.raises(SourceError) as err:
        validate.load_source(folder, spark, TEST_NOW)
    assert err.value.problems[0].startswith("events.csv: row 1 opens a quoted value")


def test_a_duckdb_file_is_duckdb_only(tmp_path):
    (tmp_path / "shop.duckdb").write_bytes(b"")
    with pytest.raises(SourceError) as err:
        validate.check_path(tmp_path / "shop.duckdb")
    assert "read by the DuckDB engine only" in err.value.problems[0]


def test_arrow_conversion_gives_duckdbs_dtypes():
    """to_pandas (Arrow only) and DuckDB's .df() give the same dtypes and values."""
    import datetime as dt

    import duckdb
    import pyarrow as pa

    from dashboard.engine.spark.context import arrow_to_pandas

    table = pa.table({
        "i": pa.array([1, None]), "j": pa.array([1, 2]), "i32": pa.array([1, None], pa.int32()),
        "b": pa.array([True, None]), "b2": pa.array([True, False]),
        "d": pa.array([dt.date(2026, 1, 2), None]), "ts": pa.array([dt.datetime(2026, 1, 2, 3), None]),
        "dec": pa.array([1, None], pa.decimal128(18, 4)), "s": pa.array(["a", None]), "f": pa.array([1.5, None]),
    })
    for t in (table, table.slice(0, 1)):
        with duckdb.connect() as con:
            expected = con.from_arrow(t).df()
        pd.testing.assert_frame_equal(arrow_to_pandas(t), expected)


def test_spark_export_and_validate_never_import_duckdb(tmp_path):
    """`validate`/`export --engine spark` run with DuckDB unimportable and never load source.py."""
    folder = write(tmp_path / "s", {"events.csv": EVENTS_HEADER + "e1,2026-03-02 09:00:00,u1,app_open,,,,,\n"
                                    "e2,2026-03-03 09:00:00,u1,impression,i1,home,1,0.5,\n"})
    script = textwrap.dedent(f"""
        import sys
        sys.modules["duckdb"] = None  # any `import duckdb` now raises ImportError
        from dashboard.__main__ import main
        codes = [main(["validate", "--engine", "spark", "--spark-master", "local[2]", {str(folder)!r}]),
                 main(["export", "--engine", "spark", "--spark-master", "local[2]", "--data", {str(folder)!r},
                       "--out", {str(tmp_path / 'out')!r}])]
        print("codes", codes)
        print("loaded", sorted(m for m in sys.modules if m in ("dashboard.engine.source", "dashboard.engine.cache",
                                                               "dashboard.engine.guard")))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=600)
    assert "codes [0, 0]" in done.stdout, done.stdout + done.stderr
    assert "loaded []" in done.stdout
    assert "events               events.csv" in done.stdout and "read          2  loaded          2" in done.stdout
    assert (tmp_path / "out" / "buyer_weekly.csv").is_file()


def test_bench_prints_how_time_grows_between_sizes(capsys):
    """bench/spark_vs_duckdb.py's growth table: medians per size and the ratio to the size before."""
    sys.path.insert(0, str(ROOT))
    from bench.spark_vs_duckdb import LOAD, print_growth

    duck_1m, duck_10m = [{LOAD: 2.0, "buyer_weekly": 1.0}], [{LOAD: 8.0, "buyer_weekly": 4.0}]
    spark_1m = [{LOAD: 20.0, "buyer_weekly": 40.0}, {LOAD: 30.0, "buyer_weekly": 60.0}]  # medians 25, 50
    spark_10m = [{LOAD: 100.0, "buyer_weekly": 150.0}]
    print_growth([(1_000_000, duck_1m, spark_1m), (10_000_000, duck_10m, spark_10m)])
    out = capsys.readouterr().out
    assert "| load + validate | DuckDB | 2.0 | 8.0 (4.0x) |" in out
    assert "| load + validate | Spark | 25.0 | 100.0 (4.0x) |" in out  # 100 / 25
    assert "| whole export | Spark | 75.0 | 250.0 (3.3x) |" in out  # (25 + 50) -> (100 + 150)


def test_validate_with_spark_exits_1_with_duckdbs_sentences(spark, tmp_path, capsys):
    from dashboard.__main__ import main

    folder = write(tmp_path / "s", {"events.csv": "event_id,ts,user_id\ne1,2026-03-02,u1\n"})
    assert main(["validate", str(folder)]) == 1
    expected = capsys.readouterr().out
    assert main(["validate", "--engine", "spark", "--spark-master", "local[2]", str(folder)]) == 1
    assert capsys.readouterr().out == expected
    assert "error: events.csv: missing required column 'event_type'" in expected
    (tmp_path / "shop.duckdb").write_bytes(b"")
    assert main(["validate", "--engine", "spark", str(tmp_path / "shop.duckdb")]) == 1
    assert "read by the DuckDB engine only" in capsys.readouterr().out


def test_not_at_parity_a_parquet_column_repeated_exactly(spark, tmp_path):
    """Both refuse; Spark's reader cannot name the column, DuckDB does. In another case: same sentence."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for name, other in (("exact", "event_type"), ("case", "USER_ID")):
        folder = tmp_path / name
        folder.mkdir()
        values = [pa.array(["e1"]), pa.array(["2026-03-02"]), pa.array(["u1"]), pa.array(["app_open"]), pa.array(["x"])]
        pq.write_table(pa.Table.from_arrays(values, names=["event_id", "ts", "user_id", "event_type", other]),
                       folder / "events.parquet")
        with pytest.raises(SourceError) as duck:
            load_source(folder, now=TEST_NOW)
        with pytest.raises(SourceError) as on_spark:
            validate.load_source(folder, spark, TEST_NOW)
        if name == "case":
            assert on_spark.value.problems == duck.value.problems
        else:
            assert duck.value.problems == ["events.parquet: column 'event_type' is given 2 times (event_type, event_type); keep one"]
            assert on_spark.value.problems == [
                "events.parquet: a column name is given more than once (Spark cannot read the file); keep one"]


def test_not_at_parity_mixed_line_endings_are_read_on_spark(spark, tmp_path):
    """DuckDB refuses a file whose lines end in CRLF and LF; Spark's line reader takes both."""
    folder = write(tmp_path / "s", {"events.csv": b"event_id,ts,user_id,event_type\r\ne1,2026-03-02,u1,app_open\n"
                                                  b"e2,2026-03-02,u2,app_open\r\n"})
    with pytest.raises(SourceError) as duck:
        load_source(folder, now=TEST_NOW)
    assert "its lines end in different ways" in duck.value.problems[0]
    source = validate.load_source(folder, spark, TEST_NOW)
    try:
        assert (source.tables["events"].rows_read, source.tables["events"].rows_loaded) == (2, 2)
    finally:
        source.close()
