"""The weekly review: what moved, incomplete weeks, the zip bundle and safe CSV cells."""
import csv
import io
import zipfile

import pandas as pd
import pytest

from dashboard.engine.export import bundle, csv_text, describe_params, neutralise
from dashboard.engine.metrics import METRIC_TABLES
from dashboard.engine.params import Params
from dashboard.review import review

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
    from dashboard.engine.export import compute_all

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


# --- the "best proxy" sentence: out of sample, not only correlated ----------------------------
def _oo_row(offline, **values):
    row = dict(offline_metric=offline, online_metric="rec_conversion", n_pairs=12, n_experiments=8, pearson_r=0.8,
               r_experiments=0.8, p_value=0.001, r_ci_low=0.2, r_ci_high=0.96, spearman_rho=0.7, kendall_tau=0.5,
               sign_agreement=0.8, slope=1.0, p_adj_bh=0.01, loo_pairs=12, loo_sign_accuracy=0.75,
               baseline_accuracy=0.58, q2=0.4)
    row.update(values)
    return row


def test_best_proxy_must_beat_the_baseline_out_of_sample():
    from dashboard.review.review import summarise_offline_online

    table = pd.DataFrame([
        _oo_row("ndcg@10"),                                                  # every condition holds
        _oo_row("map@10", q2=0.5, loo_sign_accuracy=0.7, p_adj_bh=0.2),      # beats the baseline, not significant
        _oo_row("novelty@10", pearson_r=0.9, loo_sign_accuracy=0.5, q2=-0.1),  # correlates only
        _oo_row("recall@10", q2=0.9, n_pairs=9),                             # too few pairs
    ])
    summary = summarise_offline_online(table, None)
    assert summary.best["offline_metric"] == "ndcg@10"
    assert summary.sentence == (
        "ndcg@10 is the best proxy for rec_conversion: held out one experiment at a time, it called the direction "
        "right in 75% of 12 pairs against 58% for always or never launching, q2 = 0.40; across 8 experiments "
        "r = 0.80 (95 % CI 0.20 to 0.96), BH-adjusted p = 0.01.")


def test_best_proxy_not_named_for_a_metric_that_only_correlates():
    from dashboard.review.review import summarise_offline_online

    # novelty@10 has the largest r and survives BH, but held out it calls fewer signs right than
    # launching everything would (0.55 < 0.6) — v1 named it the best proxy; it is none.
    table = pd.DataFrame([
        _oo_row("novelty@10", pearson_r=0.95, r_experiments=0.9, loo_sign_accuracy=0.55, baseline_accuracy=0.6),
        _oo_row("map@10", loo_sign_accuracy=0.8, q2=-0.2),  # signs right, sizes worse than the mean
    ])
    summary = summarise_offline_online(table, None)
    assert summary.best is None
    assert summary.sentence.startswith("No offline metric is a proven proxy for rec_conversion: held out one "
                                       "experiment at a time (up to 8 experiments), none called")
    assert summary.sentence.endswith("novelty@10, map@10 correlate with it but would not have picked the winners "
                                     "better than that.")


def test_best_proxy_sentence_for_a_table_exported_before_the_held_out_columns():
    from dashboard.review.review import summarise_offline_online

    old = pd.DataFrame([_oo_row("ndcg@10")]).drop(columns=["n_experiments", "r_experiments", "loo_pairs",
                                                           "loo_sign_accuracy", "baseline_accuracy", "q2"])
    summary = summarise_offline_online(old, None)
    assert summary.best is None
    assert "exported before they existed" in summary.sentence and "loo_sign_accuracy" in summary.sentence
