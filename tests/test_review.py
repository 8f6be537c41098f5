"""The weekly review: what moved, incomplete weeks, the zip bundle and safe CSV cells."""
import csv
import io
import zipfile

import pandas as pd
import pytest

from dashboard.core import review
from dashboard.core.export import bundle, csv_text, describe_params, neutralise
from dashboard.core.metrics import METRIC_TABLES
from dashboard.core.params import Params

# Ten Mondays from 2026-01-05; one buyer a week, the same app opens, a steady order value
# wobbling by a few units, then one planted jump of the order value in the tenth week.
WEEKS = pd.date_range("2026-01-05", periods=10, freq="7D")
VALUES = [100, 102, 99, 101, 100, 98, 101, 100, 100, 200]


def planted_jump_source(make_source):
    events, orders = [], []
    for i, (monday, value) in enumerate(zip(WEEKS, VALUES)):
        for day in range(7):  # one app open a day keeps every audience metric flat
            ts = monday + pd.Timedelta(days=day, hours=9)
            events.append({"event_id": f"e{i}-{day}", "ts": f"{ts:%Y-%m-%d %H:%M:%S}", "user_id": "u1",
                           "event_type": "app_open"})
        orders.append({"order_id": f"o{i}", "item_id": "i1", "ts": f"{monday + pd.Timedelta(hours=10):%Y-%m-%d %H:%M:%S}",
                       "user_id": "u1", "quantity": 1, "price": value})
    return make_source({"events": events, "orders": orders})


def test_the_planted_jump_is_listed_first_and_alone(make_source):
    source = planted_jump_source(make_source)
    weekly = review.build(source, Params())
    assert weekly.week == pd.Timestamp("2026-03-09")  # the last week is complete (its Sunday has an event)
    moved = [m.headline.label for m in weekly.what_moved]
    # GMV jumped by 100 against changes of sd ≈ 2 in the 8 weeks before; contribution, margin and
    # audience stayed exactly flat; nothing else moved.
    assert moved == ["GMV"]
    gmv = weekly.what_moved[0]
    assert (gmv.value, gmv.previous, gmv.change) == (200, 100, 100)
    assert gmv.avg4 == pytest.approx((98 + 101 + 100 + 100) / 4)  # weeks 6 to 9


def test_an_incomplete_week_is_not_compared(make_source):
    source = planted_jump_source(make_source)
    # an event on Tuesday of an eleventh week makes that week the last, incomplete one
    weekly = review.build(source, Params(), week=pd.Timestamp("2026-03-09"))
    assert weekly.is_complete
    extra = make_source({
        "events": [{"event_id": "late", "ts": "2026-03-17 09:00:00", "user_id": "u1", "event_type": "app_open"}],
        "orders": [{"order_id": "o-late", "item_id": "i1", "ts": "2026-03-17 10:00:00", "user_id": "u1",
                    "quantity": 1, "price": 500}],
    })
    weekly = review.build(extra, Params())  # a single, incomplete week: nothing to compare with
    assert not weekly.is_complete
    assert any("not complete" in note for note in weekly.notes)
    assert all(m.change is None and not m.unusual for m in weekly.movements)
    assert weekly.what_moved == []


def test_week_outside_the_range_is_an_error(make_source):
    with pytest.raises(ValueError, match="not in the data's range"):
        review.build(planted_jump_source(make_source), Params(), week=pd.Timestamp("2027-01-04"))


def test_zip_bundle_holds_every_table_and_a_readme(demo_source):
    from dashboard.core.export import compute_all

    tables, unavailable = compute_all(demo_source, Params())
    assert unavailable == {}
    data = bundle(tables, describe_params("demo", Params(tz="Europe/Berlin")), unavailable)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = sorted(archive.namelist())
        assert names == sorted(["README.txt", *(f"{t}.csv" for t in METRIC_TABLES)])
        readme = archive.read("README.txt").decode()
        assert "source: demo" in readme and "time zone: Europe/Berlin" in readme and "made at:" in readme
        assert archive.read("price_weekly.csv").decode() == csv_text(tables["price_weekly"])


@pytest.mark.parametrize("hostile, safe", [
    ("=1+1", "'=1+1"),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\n'=1"),  # a CR is written as LF (a quoted cell), and each line is neutralised
    ("-12.5", "-12.5"),  # a real negative number stays a number
    ("+3e5", "+3e5"),
    ("home_feed", "home_feed"),
])
def test_formula_cells_are_neutralised(hostile, safe):
    assert neutralise(hostile) == safe


def test_csv_neutralises_text_cells_and_headers_but_not_numbers():
    frame = pd.DataFrame({"block": ["=HYPERLINK(\"http://x\")", "ok"], "=bad header": [1, 2],
                          "delta": [-0.5, 1.25]})
    rows = list(csv.reader(io.StringIO(csv_text(frame))))
    assert rows[0] == ["block", "'=bad header", "delta"]
    assert rows[1] == ["'=HYPERLINK(\"http://x\")", "1", "-0.5"]
    assert rows[2] == ["ok", "2", "1.25"]
