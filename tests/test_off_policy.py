"""off_policy: a candidate policy's click rate estimated from logged impressions (v2).

Loading first (events.propensity, target_policies), then every estimator on tiny hand-built logs
whose expected values are worked out in the comments.
"""
from __future__ import annotations

import datetime as dt
import math

import duckdb
import pandas as pd
import pytest

from conftest import TEST_NOW, compute, write_source
from dashboard.engine.source import load_source

Z = 1.959964


def ev(event_id, ts="2026-10-05 09:00:00", user="u1", event_type="impression", **extra):
    return {"event_id": event_id, "ts": ts, "user_id": user, "event_type": event_type, **extra}


def tp(model="cand", block="home", position="1", item="a", probability="1", user=None):
    return {"model_version": model, "block": block, "position": position, "item_id": item,
            "probability": probability, "user_id": user}


def problems(source, table):
    return {(p.column, p.reason): (p.rows, p.examples) for p in source.tables[table].problems}


# --- loading ---------------------------------------------------------------------------------------

def test_propensity_outside_zero_one_is_a_rejected_row(make_source):
    source = make_source({"events": [
        ev("e1", item_id="a", block="home", propensity="0.5"),
        ev("e2", item_id="a", block="home", propensity="0"),  # row 2: 0 is outside (0, 1]
        ev("e3", item_id="a", block="home", propensity="1"),  # 1 is inside
        ev("e4", item_id="a", block="home", propensity="1.2"),  # row 4
        ev("e5", item_id="a", block="home", propensity="-0.1"),  # row 5
        ev("e6", item_id="a", block="home"),  # no propensity: fine (not used by off-policy)
        ev("e7", item_id="a", block="home", propensity="often"),  # row 7: not a number
    ]})
    found = problems(source, "events")
    assert found[("propensity", "propensity outside (0, 1]")] == (3, [2, 4, 5])
    assert found[("propensity", "not a number")] == (1, [7])
    loaded = dict(source.con.sql("select event_id, propensity from events").fetchall())
    assert loaded == {"e1": 0.5, "e3": 1.0, "e6": None}
    assert source.has_column("events", "propensity")


def test_target_policies_types_ranges_and_a_slot_summing_above_one(make_source):
    source = make_source({"events": [ev("e1", item_id="a", block="home")], "target_policies": [
        tp(item="a", probability="0.6"),                          # row 1  } slot (cand, home, null, 1):
        tp(item="b", probability="0.4"),                          # row 2  } 0.6 + 0.4 = 1: fine
        tp(item="a", probability="0.7", user="u1"),               # row 3  } slot (cand, home, u1, 1):
        tp(item="b", probability="0.4", user="u1"),               # row 4  } 1.1 > 1: both rejected
        tp(item="a", probability="0.5", position="2"),            # row 5: its own slot (position 2)
        tp(item="a", probability="1.5", position="3"),            # row 6: probability outside [0, 1]
        tp(item="a", probability="0.5", position="0"),            # row 7: position below 1
        tp(item="a", probability="0.5", block="nowhere"),         # row 8: an unknown block is fine
        tp(model=None, item="a", probability="0.5"),              # row 9: model_version missing
        tp(item="a", probability="0.3333333333", position="4"),   # rows 10-12: 0.9999999999 ≤ 1 + 1e-9
        tp(item="b", probability="0.3333333333", position="4"),
        tp(item="c", probability="0.3333333333", position="4"),
    ]})
    found = problems(source, "target_policies")
    assert found[("probability", "probabilities of one (model_version, block, user_id, position) sum above 1")] == (2, [3, 4])
    assert found[("probability", "probability outside [0, 1]")] == (1, [6])
    assert found[("position", "position below 1")] == (1, [7])
    assert found[("model_version", "missing value")] == (1, [9])
    report = source.tables["target_policies"]
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (12, 7, 5)
    rows = source.con.sql("select _row from target_policies order by _row").fetchnumpy()["_row"].tolist()
    assert rows == [1, 2, 5, 8, 10, 11, 12]


def test_a_slot_just_above_one_by_more_than_the_tolerance_is_rejected(make_source):
    # 0.5 + 0.500000001 = 1.000000001 > 1 + 1e-9 (1.000000001 - 1 = 1e-9 + rounding: use 2e-9 to be clear)
    source = make_source({"events": [ev("e1", item_id="a", block="home")], "target_policies": [
        tp(item="a", probability="0.5"), tp(item="b", probability="0.500000002"),
    ]})
    assert problems(source, "target_policies")[
        ("probability", "probabilities of one (model_version, block, user_id, position) sum above 1")] == (2, [1, 2])


def test_absent_target_policies_and_propensity_exist_empty_in_the_sandbox(make_source):
    source = make_source({"events": [ev("e1", item_id="a", block="home")]})
    assert not source.has("target_policies")
    assert not source.has_column("events", "propensity")
    assert source.con.execute("select count(*) from target_policies").fetchall() == [(0,)]
    columns = [r[0] for r in source.con.sql("describe target_policies").fetchall()]
    assert columns == ["_row", "model_version", "block", "position", "item_id", "probability", "user_id"]
    assert source.con.execute("select propensity from events").fetchall() == [(None,)]


def test_target_policies_file_is_read_inside_the_sandbox(tmp_path):
    folder = write_source(tmp_path / "src", {"events": [ev("e1", item_id="a", block="home", propensity="0.5")],
                                             "target_policies": [tp()]})
    source = load_source(folder, now=TEST_NOW)
    assert source.con.execute("select count(*) from target_policies").fetchall() == [(1,)]
    # after loading, no file is readable and the configuration is locked
    assert source.con.execute("select value from duckdb_settings() where name = 'lock_configuration'").fetchall() == [("true",)]
    other = tmp_path / "elsewhere.csv"
    other.write_text("x\n1\n")
    with pytest.raises(duckdb.PermissionException):
        source.con.execute(f"select * from read_csv('{other}')").fetchall()


# --- the estimators on tiny logs ---------------------------------------------------------------------

def rows_by_estimator(table, model, block="home"):
    part = table[(table.model_version == model) & (table.block == block)]
    return {r.estimator: r for r in part.itertuples(index=False)}


# Block home, position 1. Logged impressions (model_version "base", with a propensity):
#   i1 u1 item a  p=0.5   clicked (c1, a minute later)
#   i2 u2 item b  p=0.5   not clicked
#   i3 u3 item a  p=0.25  not clicked
#   i4 u3 item b  p=0.5   clicked (c4)
# and two impressions of "cand" without a propensity (it served later): i5 u4 a clicked, i6 u5 b not.
LOG = [
    ev("i1", ts="2026-10-05 09:00:00", user="u1", item_id="a", block="home", position="1", propensity="0.5", model_version="base"),
    ev("c1", ts="2026-10-05 09:01:00", user="u1", event_type="click", item_id="a", block="home"),
    ev("i2", ts="2026-10-05 09:00:00", user="u2", item_id="b", block="home", position="1", propensity="0.5", model_version="base"),
    ev("i3", ts="2026-10-05 09:00:00", user="u3", item_id="a", block="home", position="1", propensity="0.25", model_version="base"),
    ev("i4", ts="2026-10-05 10:00:00", user="u3", item_id="b", block="home", position="1", propensity="0.5", model_version="base"),
    ev("c4", ts="2026-10-05 10:02:00", user="u3", event_type="click", item_id="b", block="home"),
    ev("i5", ts="2026-10-20 09:00:00", user="u4", item_id="a", block="home", position="1", model_version="cand"),
    ev("c5", ts="2026-10-20 09:03:00", user="u4", event_type="click", item_id="a", block="home"),
    ev("i6", ts="2026-10-20 09:00:00", user="u5", item_id="b", block="home", position="1", model_version="cand"),
]
# cand: every user a 0.8, b 0.2 at position 1 — except u2, whose own row (b 1.0) replaces them.
CAND = [tp(item="a", probability="0.8"), tp(item="b", probability="0.2"), tp(item="b", probability="1", user="u2")]
# rec (recommendations, deterministic): rank 1 is a for u1 and u2, b for u3.
RECS = [{"model_version": "rec", "user_id": u, "item_id": i, "rank": "1"} for u, i in (("u1", "a"), ("u2", "a"), ("u3", "b"))]


def test_user_rows_override_null_user_rows_ips_snips_dr(make_source):
    table = compute(make_source({"events": LOG, "target_policies": CAND}), "off_policy")
    assert list(table.columns) == ["model_version", "block", "estimator", "n_impressions", "matched_impressions",
                                   "ess", "estimate", "ci_low", "ci_high", "logged_ctr", "on_policy_impressions",
                                   "on_policy_ctr"]
    assert table[["model_version", "block", "estimator"]].values.tolist() == [
        ["cand", "home", "ips"], ["cand", "home", "snips"], ["cand", "home", "dr"]]
    got = rows_by_estimator(table, "cand")
    # w = π/propensity: i1 0.8/0.5 = 1.6; i2 (u2's own row) 1/0.5 = 2.0; i3 0.8/0.25 = 3.2; i4 0.2/0.5 = 0.4
    # (without the override i2 would weigh 0.2/0.5 = 0.4)
    for r in got.values():
        assert (r.n_impressions, r.matched_impressions, r.on_policy_impressions) == (4, 4, 2)
        assert r.logged_ctr == pytest.approx(0.5)  # i1, i4 clicked of 4
        assert r.on_policy_ctr == pytest.approx(0.5)  # i5 clicked, i6 not
        # ESS = (Σw)²/Σw² = 7.2² / (2.56 + 4 + 10.24 + 0.16) = 51.84 / 16.96
        assert r.ess == pytest.approx(51.84 / 16.96)
    # IPS terms w·r = [1.6, 0, 0, 0.4]: mean 0.5; deviations 1.1, -0.5, -0.5, -0.1 -> Σ² = 1.72, var = 1.72/3
    half = Z * math.sqrt(1.72 / 3 / 4)
    assert (got["ips"].estimate, got["ips"].ci_low, got["ips"].ci_high) == pytest.approx((0.5, 0.5 - half, 0.5 + half))
    # SNIPS = Σwr/Σw = 2.0/7.2 = 5/18; se² = [2.56 (13/18)² + 4 (5/18)² + 10.24 (5/18)² + 0.16 (13/18)²] / 7.2²
    #       = (2.72·169 + 14.24·25) / 324 / 51.84
    s = 5 / 18
    se = math.sqrt((2.72 * 169 + 14.24 * 25) / 324 / 51.84)
    assert (got["snips"].estimate, got["snips"].ci_low, got["snips"].ci_high) == pytest.approx((s, s - Z * se, s + Z * se))
    # DR: q(a,1) = mean r of logged a at 1 = (1 + 0)/2 = 0.5, q(b,1) = (0 + 1)/2 = 0.5
    # term = Σ_a π(a|u,1) q(a,1) + w (r - q(item,1)):
    #   i1 0.8·0.5 + 0.2·0.5 + 1.6·(1 - 0.5) = 1.3;  i2 (own: b 1.0) 0.5 + 2.0·(0 - 0.5) = -0.5
    #   i3 0.5 + 3.2·(0 - 0.5) = -1.1;               i4 0.5 + 0.4·(1 - 0.5) = 0.7
    # mean 0.4/4 = 0.1; deviations 1.2, -0.6, -1.2, 0.6 -> Σ² = 3.6, var = 1.2
    half = Z * math.sqrt(1.2 / 4)
    assert (got["dr"].estimate, got["dr"].ci_low, got["dr"].ci_high) == pytest.approx((0.1, 0.1 - half, 0.1 + half))


def test_every_recommendations_model_is_a_deterministic_policy(make_source):
    table = compute(make_source({"events": LOG, "recommendations": RECS}), "off_policy")
    got = rows_by_estimator(table, "rec")
    assert set(table.model_version) == {"rec"}
    # π = 1 where the logged item is the model's rank-1 item: i1 (u1 a) w = 1/0.5 = 2, i4 (u3 b) w = 2;
    # i2 (u2 shown b, rec a) and i3 (u3 shown a, rec b) w = 0
    for r in got.values():
        assert (r.n_impressions, r.matched_impressions, r.on_policy_impressions) == (4, 2, 0)
        assert r.ess == pytest.approx(16 / 8)  # (2 + 2)² / (4 + 4)
        assert pd.isna(r.on_policy_ctr)  # rec never served
    # IPS terms [2, 0, 0, 2]: mean 1; deviations ±1 -> var 4/3
    half = Z * math.sqrt(4 / 3 / 4)
    assert (got["ips"].estimate, got["ips"].ci_low, got["ips"].ci_high) == pytest.approx((1.0, 1 - half, 1 + half))
    # SNIPS = 4/4 = 1; every weighted impression was clicked: se = 0
    assert (got["snips"].estimate, got["snips"].ci_low, got["snips"].ci_high) == pytest.approx((1.0, 1.0, 1.0))
    # DR: i1 q(a) + 2(1 - 0.5) = 1.5; i2 q(a) = 0.5; i3 q(b) = 0.5; i4 q(b) + 2(1 - 0.5) = 1.5
    # mean 1.0; deviations ±0.5 -> var 1/3
    half = Z * math.sqrt(1 / 3 / 4)
    assert (got["dr"].estimate, got["dr"].ci_low, got["dr"].ci_high) == pytest.approx((1.0, 1 - half, 1 + half))


def test_zero_overlap_gives_ips_zero_snips_and_ess_null(make_source):
    # cand shows only item z at position 1, which the log never shows: every w = 0
    table = compute(make_source({"events": LOG, "target_policies": [tp(item="z", probability="1")]}), "off_policy")
    got = rows_by_estimator(table, "cand")
    assert got["ips"].matched_impressions == 0
    assert pd.isna(got["ips"].ess)
    # IPS: four terms 0 -> 0, interval [0, 0]
    assert (got["ips"].estimate, got["ips"].ci_low, got["ips"].ci_high) == (0.0, 0.0, 0.0)
    # SNIPS: Σw = 0 -> NULL
    assert pd.isna(got["snips"].estimate) and pd.isna(got["snips"].ci_low) and pd.isna(got["snips"].ci_high)
    # DR: Σ_a π q(a,1) = 1·q(z,1) = 0 (z never logged) and w = 0: terms all 0
    assert (got["dr"].estimate, got["dr"].ci_low, got["dr"].ci_high) == (0.0, 0.0, 0.0)
    # the served outcome is still shown: cand's own impressions i5 (clicked), i6
    assert (got["dr"].on_policy_impressions, got["dr"].on_policy_ctr) == (2, 0.5)


def test_a_candidate_of_a_block_without_logged_data_is_a_row_of_nulls(make_source):
    table = compute(make_source({"events": LOG, "target_policies": [tp(block="nowhere")]}), "off_policy")
    got = rows_by_estimator(table, "cand", "nowhere")
    assert list(got) == ["ips", "snips", "dr"]
    for r in got.values():
        assert (r.n_impressions, r.matched_impressions, r.on_policy_impressions) == (0, 0, 0)
        assert all(pd.isna(getattr(r, c)) for c in ("ess", "estimate", "ci_low", "ci_high", "logged_ctr", "on_policy_ctr"))


# Click matching: candidate "all_a" shows item a at position 1 with probability 1; every logged
# impression shows a at position 1 with propensity 0.5, so w = 2 everywhere and IPS = 2 · logged CTR.
def imp(event_id, ts, user, propensity="0.5", block="home"):
    return ev(event_id, ts=ts, user=user, item_id="a", block=block, position="1", propensity=propensity)


def click(event_id, ts, user, block="home"):
    return ev(event_id, ts=ts, user=user, event_type="click", item_id="a", block=block)


MATCHING = [
    imp("m1", "2026-10-05 09:00:00", "u1"), imp("m2", "2026-10-05 09:30:00", "u1"),
    click("k1", "2026-10-05 09:40:00", "u1"),  # -> m2, the latest impression before it (m1: r = 0)
    imp("m3", "2026-10-05 11:00:00", "u2"), imp("m4", "2026-10-05 11:00:00", "u2"),
    click("k2", "2026-10-05 11:05:00", "u2"),  # same ts: -> m4, the larger event_id
    imp("m5", "2026-10-05 09:00:00", "u3"),
    click("k3", "2026-10-06 09:00:01", "u3"),  # 24 h and 1 s later: unmatched (m5: r = 0)
    imp("m6", "2026-10-05 09:00:00", "u4"),
    click("k4", "2026-10-06 09:00:00", "u4"),  # exactly 24 h later: matched (m6: r = 1)
    click("k5", "2026-10-06 09:10:00", "u4"),  # a second click on m6: still r = 1
    imp("m7", "2026-10-05 12:00:00", "u5"),
    click("k6", "2026-10-05 11:59:00", "u5"),  # before the impression: unmatched
    click("k7", "2026-10-05 12:01:00", "u5", block="other"),  # another block: unmatched (m7: r = 0)
    imp("m8", "2026-10-05 13:00:00", "u6"), imp("m9", "2026-10-05 13:10:00", "u6", propensity=None),
    click("k8", "2026-10-05 13:20:00", "u6"),  # -> m9 (no propensity, not logged data): m8 r = 0
]


def test_a_click_is_matched_to_the_latest_impression_within_24_hours(make_source):
    table = compute(make_source({"events": MATCHING, "target_policies": [tp(model="all_a")]}), "off_policy")
    got = rows_by_estimator(table, "all_a")
    # logged data: m1..m8 (m9 has no propensity): n = 8; r = 1 for m2, m4, m6 -> CTR 3/8
    assert got["ips"].n_impressions == 8
    assert got["ips"].logged_ctr == pytest.approx(3 / 8)
    # IPS = (2 + 2 + 2)/8 = 0.75; SNIPS = 6/16 = 0.375; ESS = 16²/32 = 8
    assert got["ips"].estimate == pytest.approx(0.75)
    assert got["snips"].estimate == pytest.approx(0.375)
    assert got["ips"].ess == pytest.approx(8.0)


def test_one_logged_impression_has_no_interval(make_source):
    table = compute(make_source({"events": [imp("m1", "2026-10-05 09:00:00", "u1"), click("k1", "2026-10-05 09:01:00", "u1")],
                                 "target_policies": [tp()]}), "off_policy")
    got = rows_by_estimator(table, "cand")
    # one term: IPS = 2·1 = 2 with no sd (ddof 1); SNIPS = 2/2 = 1, se² = 4·(1 - 1)²/4 = 0: [1, 1]
    assert got["ips"].estimate == 2.0 and pd.isna(got["ips"].ci_low) and pd.isna(got["ips"].ci_high)
    assert (got["snips"].estimate, got["snips"].ci_low, got["snips"].ci_high) == (1.0, 1.0, 1.0)
    # DR: q(a,1) = 1; 1·1 + 2·(1 - 1) = 1, no interval
    assert got["dr"].estimate == 1.0 and pd.isna(got["dr"].ci_low)


def test_filters_choose_blocks_platform_and_weeks(make_source):
    events = [
        # week of 2026-10-05, ios
        ev("a1", ts="2026-10-05 09:00:00", item_id="a", block="home", position="1", propensity="0.5", platform="ios"),
        ev("a2", ts="2026-10-05 09:01:00", event_type="click", item_id="a", block="home", platform="web"),
        # week of 2026-10-12, web
        ev("b1", ts="2026-10-12 09:00:00", user="u2", item_id="a", block="home", position="1", propensity="0.25", platform="web"),
        # another block
        ev("c1", ts="2026-10-05 09:00:00", user="u3", item_id="a", block="side", position="1", propensity="0.5", platform="ios"),
    ]
    policies = [tp(block="home"), tp(block="side")]
    source = make_source({"events": events, "target_policies": policies})
    everything = compute(source, "off_policy")
    assert sorted(set(everything.block)) == ["home", "side"]
    assert rows_by_estimator(everything, "cand")["ips"].n_impressions == 2  # a1, b1
    # blocks: only home's candidates
    assert set(compute(source, "off_policy", blocks=("home",)).block) == {"home"}
    # platform web: b1 only (a1 is ios; its click a2 on web does not make it web); IPS = 0/1 · 4 = 0
    web = rows_by_estimator(compute(source, "off_policy", platform="web"), "cand")
    assert (web["ips"].n_impressions, web["ips"].estimate) == (1, 0.0)
    # dates: the week of 2026-10-05 only -> a1 (clicked), IPS = 1/0.5 = 2
    first = rows_by_estimator(compute(source, "off_policy", start=dt.date(2026, 10, 5), end=dt.date(2026, 10, 11)), "cand")
    assert (first["ips"].n_impressions, first["ips"].estimate) == (1, 2.0)


def test_unavailable_without_propensities_or_candidates(make_source):
    from dashboard.engine.context import Unavailable

    plain = [ev("e1", item_id="a", block="home", position="1")]
    with pytest.raises(Unavailable, match="events.propensity column"):
        compute(make_source({"events": plain, "target_policies": [tp()]}), "off_policy")
    empty_column = [ev("e1", item_id="a", block="home", position="1", propensity=None), ev("e2", propensity="0.5")]
    with pytest.raises(Unavailable, match="no impression of the source has a propensity"):
        compute(make_source({"events": empty_column, "target_policies": [tp()]}), "off_policy")
    with pytest.raises(Unavailable, match="'target_policies' or 'recommendations'"):
        compute(make_source({"events": LOG}), "off_policy")


def test_the_coverage_simulation_runs_the_product_at_a_tiny_size():
    from bench import sim_off_policy

    printed: list[str] = []
    results = sim_off_policy.run(reps=3, n=200, seed=5, say=printed.append)
    assert set(results) == {"ips", "snips", "dr"}
    for r in results.values():
        assert r["reps"] == 3 and 0 <= r["covered"] <= 3
        assert r["wilson_low"] <= r["coverage"] <= r["wilson_high"]
    assert any(line.startswith("estimator") and "Wilson" in line for line in printed)
    # the Wilson interval of 19 out of 20: centre (0.95 + 0.096)/(1.192), known value [0.764, 0.991]
    low, high = sim_off_policy.wilson(19, 20)
    assert (round(low, 3), round(high, 3)) == (0.764, 0.991)


def test_candidate_summary_puts_estimates_beside_logged_and_on_policy_ctr(make_source):
    from dashboard.engine.metrics.off_policy import SMALL_ESS_WARNING, candidate_summary

    source = make_source({"events": LOG, "target_policies": CAND, "recommendations": RECS})
    summary = candidate_summary(compute(source, "off_policy"))
    assert summary[["block", "model_version"]].values.tolist() == [["home", "cand"], ["home", "rec"]]
    cand = summary.iloc[0]
    # the values worked out in test_user_rows_override_null_user_rows_ips_snips_dr
    assert (cand.ips, cand.snips, cand.dr) == pytest.approx((0.5, 5 / 18, 0.1))
    half = Z * math.sqrt(1.2 / 4)
    assert (cand.dr_low, cand.dr_high) == pytest.approx((0.1 - half, 0.1 + half))
    # cand served: on-policy CTR 0.5 lies inside DR's [0.1 - 1.0735, 0.1 + 1.0735]
    assert (cand.on_policy_impressions, cand.on_policy_ctr, cand.dr_covers_on_policy) == (2, 0.5, True)
    # ESS 3.06 < 100: warned; rec never served: no comparison
    assert cand.warning == SMALL_ESS_WARNING
    rec = summary.iloc[1]
    assert rec.on_policy_impressions == 0 and pd.isna(rec.dr_covers_on_policy)
    assert rec.ess == pytest.approx(2.0) and rec.warning == SMALL_ESS_WARNING


def test_off_policy_csv_reads_back_as_computed(make_source, tmp_path):
    from dashboard.engine.export import csv_text
    from dashboard.review import exported

    table = compute(make_source({"events": LOG, "target_policies": CAND + [tp(block="nowhere")],
                                 "recommendations": RECS}), "off_policy")
    (tmp_path / "off_policy.csv").write_text(csv_text(table), encoding="utf-8")
    back = exported.load_exported(tmp_path)["off_policy"]
    assert list(back.columns) == list(table.columns)
    assert back.estimator.tolist() == table.estimator.tolist() and back.n_impressions.dtype == "int64"
    pd.testing.assert_frame_equal(back.astype({c: "Float64" for c in ("ess", "estimate", "ci_low", "ci_high",
                                                                     "logged_ctr", "on_policy_ctr")}),
                                  table, check_dtype=False, rtol=1e-15)
