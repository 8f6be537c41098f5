"""convenience_weekly: feature sessions, naive and stratum-matched conversion differences."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from dashboard.engine.context import Unavailable
from tests.conftest import compute

TABLE = "convenience_weekly"
WEEK = dt.datetime(2026, 3, 30)  # Monday of the week under test
WEEK_LABEL = "2026-03-30"


def fmt(ts: dt.datetime) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S")


def session(sid: str, user: str, ts: dt.datetime, platform: str | None = "ios", features=()) -> list[dict]:
    """A session: an app_open at `ts`, then one event per feature a minute later."""
    rows = [{"event_id": f"{sid}-open", "ts": fmt(ts), "user_id": user, "session_id": sid,
             "event_type": "app_open", "platform": platform}]
    for feature in features:
        rows.append({"event_id": f"{sid}-{feature}", "ts": fmt(ts + dt.timedelta(minutes=1)), "user_id": user,
                     "session_id": sid, "event_type": feature, "platform": platform})
    return rows


def purchase(sid: str | None, user: str, ts: dt.datetime, order_id: str | None = None) -> dict:
    return {"order_id": order_id or f"o-{sid}", "item_id": "i1", "ts": fmt(ts), "user_id": user,
            "session_id": sid, "quantity": 1, "price": "10.00"}


def row(frame: pd.DataFrame, week: str, feature: str) -> pd.Series:
    hit = frame[(frame.week_start == pd.Timestamp(week)) & (frame.feature == feature)]
    assert len(hit) == 1, f"expected one row for {week} {feature}, got {len(hit)}"
    return hit.iloc[0]


@pytest.fixture
def heavy_users_filter_more(make_source):
    """Heavy users use the filter more and convert more anyway: the naive diff overstates it.

    Week 2026-03-30, prior window [2026-03-02 00:00, 2026-03-30 00:00):
    - heavy   (3 prior sessions -> bucket 3-5, ios): 4 filter sessions (3 converted), 2 without (1 converted)
    - newbie  (0 prior sessions -> bucket 0, ios):   1 filter session (0 converted), 4 without (1 converted)
    - light   (1 prior session -> bucket 1-2, null platform): 1 filter session (converted), none without
    """
    events, orders = [], []
    # prior sessions: the first sits exactly on the window's start, the last one second before the week
    for sid, ts in [("hp1", dt.datetime(2026, 3, 2)), ("hp2", dt.datetime(2026, 3, 10, 10)),
                    ("hp3", WEEK - dt.timedelta(seconds=1))]:
        events += session(sid, "heavy", ts)
    events += session("lp1", "light", dt.datetime(2026, 3, 20, 9))
    day = WEEK + dt.timedelta(days=1, hours=9)
    plan = [  # (session, user, platform, uses filter, converted)
        ("h1", "heavy", "ios", True, True), ("h2", "heavy", "ios", True, True),
        ("h3", "heavy", "ios", True, True), ("h4", "heavy", "ios", True, False),
        ("h5", "heavy", "ios", False, True), ("h6", "heavy", "ios", False, False),
        ("n1", "newbie", "ios", True, False),
        ("n2", "newbie", "ios", False, True), ("n3", "newbie", "ios", False, False),
        ("n4", "newbie", "ios", False, False), ("n5", "newbie", "ios", False, False),
        ("l1", "light", None, True, True),
    ]
    for n, (sid, user, platform, uses, converted) in enumerate(plan):
        ts = day + dt.timedelta(hours=n)
        events += session(sid, user, ts, platform, ["filter_use"] if uses else [])
        if converted:
            orders.append(purchase(sid, user, ts + dt.timedelta(minutes=5)))
    return make_source({"events": events, "orders": orders})


def test_naive_and_matched_diff_differ(heavy_users_filter_more):
    r = row(compute(heavy_users_filter_more, TABLE), WEEK_LABEL, "filter_use")
    assert r.sessions == 12  # 6 heavy + 5 newbie + 1 light
    assert r.feature_sessions == 6  # 4 + 1 + 1
    assert r.feature_share == pytest.approx(0.5)  # 6 / 12
    assert r.conv_with == pytest.approx(4 / 6)  # (3 + 0 + 1) / 6
    assert r.conv_without == pytest.approx(2 / 6)  # (1 + 1) / 6
    assert r.naive_diff == pytest.approx(4 / 6 - 2 / 6)  # 0.3333
    # strata: (ios, 3-5): 3/4 - 1/2 = 0.25, w 4; (ios, 0): 0/1 - 1/4 = -0.25, w 1;
    # (null, 1-2) has no session without the filter: left out.
    # matched = (4 * 0.25 + 1 * -0.25) / (4 + 1) = 0.75 / 5 = 0.15
    assert r.matched_diff == pytest.approx(0.15)
    assert r.matched_share == pytest.approx(5 / 6)  # feature sessions in used strata / all feature sessions


def test_feature_nobody_used(heavy_users_filter_more):
    r = row(compute(heavy_users_filter_more, TABLE), WEEK_LABEL, "suggest_use")
    assert r.sessions == 12
    assert r.feature_sessions == 0
    assert r.feature_share == 0.0
    assert pd.isna(r.conv_with)
    assert r.conv_without == pytest.approx(6 / 12)  # 6 converted sessions of 12
    assert pd.isna(r.naive_diff)
    assert pd.isna(r.matched_diff)
    assert pd.isna(r.matched_share)  # NULL, not 0: there are no feature sessions to share out


def test_columns_and_types(heavy_users_filter_more):
    frame = compute(heavy_users_filter_more, TABLE)
    assert list(frame.columns) == [
        "week_start", "feature", "sessions", "feature_sessions", "feature_share", "conv_with",
        "conv_without", "naive_diff", "matched_diff", "matched_share",
    ]
    # weeks 2026-03-02 .. 2026-03-30, two features each
    assert len(frame) == 5 * 2
    assert frame.sessions.dtype.kind == "i" and frame.feature_sessions.dtype.kind == "i"


def test_empty_week_is_zero_filled(make_source):
    source = make_source({
        "events": session("s1", "u1", dt.datetime(2026, 3, 3, 9), features=["filter_use"])
        + session("s2", "u1", dt.datetime(2026, 3, 17, 9)),
        "orders": [purchase("s1", "u1", dt.datetime(2026, 3, 3, 10))],
    })
    frame = compute(source, TABLE)
    for feature in ("filter_use", "suggest_use"):
        r = row(frame, "2026-03-09", feature)
        assert r.sessions == 0 and r.feature_sessions == 0
        for column in ("feature_share", "conv_with", "conv_without", "naive_diff", "matched_diff", "matched_share"):
            assert pd.isna(r[column]), column


def _two_users(feature_user_prior: list[dt.datetime], other_user_prior: list[dt.datetime],
               feature_platform="ios", other_platform="ios") -> dict:
    """User f: one non-converted filter session in the week; user g: one converted session without."""
    events = []
    for n, ts in enumerate(feature_user_prior):
        events += session(f"fp{n}", "f", ts)
    for n, ts in enumerate(other_user_prior):
        events += session(f"gp{n}", "g", ts)
    events += session("f1", "f", WEEK + dt.timedelta(days=2), feature_platform, ["filter_use"])
    events += session("g1", "g", WEEK + dt.timedelta(days=2), other_platform)
    return {"events": events, "orders": [purchase("g1", "g", WEEK + dt.timedelta(days=2, hours=1))]}


def _prior(count: int) -> list[dt.datetime]:
    return [WEEK - dt.timedelta(days=27) + dt.timedelta(hours=h) for h in range(count)]


@pytest.mark.parametrize(("feature_prior", "other_prior", "same_bucket"), [
    (0, 1, False),   # 0 | 1-2
    (1, 2, True),    # 1-2
    (2, 3, False),   # 1-2 | 3-5
    (3, 5, True),    # 3-5
    (5, 6, False),   # 3-5 | 6+
    (6, 10, True),   # 6+
])
def test_activity_buckets(make_source, feature_prior, other_prior, same_bucket):
    r = row(compute(make_source(_two_users(_prior(feature_prior), _prior(other_prior))), TABLE),
            WEEK_LABEL, "filter_use")
    assert r.naive_diff == pytest.approx(-1.0)  # 0/1 - 1/1
    if same_bucket:
        # one stratum with both kinds: diff 0/1 - 1/1 = -1, weight 1
        assert r.matched_diff == pytest.approx(-1.0)
        assert r.matched_share == pytest.approx(1.0)
    else:
        assert pd.isna(r.matched_diff)
        assert r.matched_share == 0.0  # feature sessions exist, no stratum qualifies


@pytest.mark.parametrize(("other_prior_ts", "same_bucket"), [
    (WEEK - dt.timedelta(days=28), True),                       # window start, inclusive
    (WEEK - dt.timedelta(days=28, seconds=1), False),           # one second earlier: outside
    (WEEK - dt.timedelta(seconds=1), True),                     # last second before the week
])
def test_activity_window_edges(make_source, other_prior_ts, same_bucket):
    # f has one prior session inside the window (bucket 1-2); g's single prior session moves
    source = make_source(_two_users([WEEK - dt.timedelta(days=10)], [other_prior_ts]))
    r = row(compute(source, TABLE), WEEK_LABEL, "filter_use")
    if same_bucket:
        assert r.matched_diff == pytest.approx(-1.0)
        assert r.matched_share == pytest.approx(1.0)
    else:
        assert pd.isna(r.matched_diff)
        assert r.matched_share == 0.0


def test_activity_window_is_local_in_the_reporting_time_zone(make_source):
    # Berlin week starts 2026-03-30 00:00 CEST = 2026-03-29 22:00 UTC; window start
    # 2026-03-02 00:00 CET = 2026-03-01 23:00 UTC. g's prior session at 2026-03-01 23:30 UTC is
    # inside the Berlin window but outside the UTC one.
    source = make_source(_two_users([WEEK - dt.timedelta(days=10)], [dt.datetime(2026, 3, 1, 23, 30)]))
    utc = row(compute(source, TABLE), WEEK_LABEL, "filter_use")
    assert utc.matched_share == 0.0  # g in bucket 0, f in 1-2
    berlin = row(compute(source, TABLE, tz="Europe/Berlin"), WEEK_LABEL, "filter_use")
    assert berlin.matched_share == pytest.approx(1.0)
    assert berlin.matched_diff == pytest.approx(-1.0)


@pytest.mark.parametrize(("feature_platform", "other_platform", "same_stratum"), [
    (None, None, True),       # a null platform is a stratum of its own...
    (None, "ios", False),     # ...not a wildcard
    ("ios", "android", False),
])
def test_platform_strata(make_source, feature_platform, other_platform, same_stratum):
    source = make_source(_two_users([], [], feature_platform, other_platform))
    r = row(compute(source, TABLE), WEEK_LABEL, "filter_use")
    if same_stratum:
        assert r.matched_diff == pytest.approx(-1.0)
        assert r.matched_share == pytest.approx(1.0)
    else:
        assert pd.isna(r.matched_diff)
        assert r.matched_share == 0.0


def test_session_is_described_by_its_first_event(make_source):
    events = [
        # s1 starts Sunday 23:50 on web; its filter_use is on Monday, on ios
        {"event_id": "a1", "ts": "2026-03-29 23:50:00", "user_id": "u1", "session_id": "s1",
         "event_type": "app_open", "platform": "web"},
        {"event_id": "a2", "ts": "2026-03-30 00:10:00", "user_id": "u1", "session_id": "s1",
         "event_type": "filter_use", "platform": "ios"},
        # s2: two events at one instant, the smaller event_id (b1, android) is the first event
        {"event_id": "b2", "ts": "2026-03-31 10:00:00", "user_id": "u2", "session_id": "s2",
         "event_type": "app_open", "platform": "ios"},
        {"event_id": "b1", "ts": "2026-03-31 10:00:00", "user_id": "u2", "session_id": "s2",
         "event_type": "suggest_use", "platform": "android"},
    ]
    source = make_source({"events": events, "orders": [purchase("s1", "u1", dt.datetime(2026, 3, 30, 1))]})
    frame = compute(source, TABLE)
    sunday_week = row(frame, "2026-03-23", "filter_use")
    assert sunday_week.sessions == 1 and sunday_week.feature_sessions == 1
    assert sunday_week.conv_with == 1.0  # converted by an order in the following week
    assert row(frame, WEEK_LABEL, "filter_use").sessions == 1  # only s2
    # platform filter on the session's first event; its feature use counts whatever the event's platform
    web = compute(source, TABLE, platform="web")
    assert row(web, "2026-03-23", "filter_use").feature_sessions == 1
    assert row(web, WEEK_LABEL, "filter_use").sessions == 0
    assert row(compute(source, TABLE, platform="ios"), "2026-03-23", "filter_use").sessions == 0
    android = compute(source, TABLE, platform="android")
    assert row(android, WEEK_LABEL, "suggest_use").feature_sessions == 1
    assert row(compute(source, TABLE, platform="ios"), WEEK_LABEL, "suggest_use").sessions == 0


def test_conversion_needs_a_line_carrying_the_session_id(make_source):
    events = (session("s1", "u1", WEEK + dt.timedelta(hours=9))
              + session("s2", "u2", WEEK + dt.timedelta(hours=9))
              + session("s3", "u3", WEEK + dt.timedelta(hours=9))
              # a filter_use without a session is not a session
              + [{"event_id": "x", "ts": fmt(WEEK + dt.timedelta(hours=9)), "user_id": "u4",
                  "event_type": "filter_use"}])
    orders = [
        purchase("s1", "u1", WEEK + dt.timedelta(days=10)),  # later week, still converts s1
        purchase(None, "u2", WEEK + dt.timedelta(hours=10), order_id="o-u2"),  # no session id
        purchase("s-unknown", "u3", WEEK + dt.timedelta(hours=10)),  # a session without events
    ]
    r = row(compute(make_source({"events": events, "orders": orders}), TABLE), WEEK_LABEL, "filter_use")
    assert r.sessions == 3 and r.feature_sessions == 0
    assert r.conv_without == pytest.approx(1 / 3)  # only s1


def test_unavailable_without_orders(make_source):
    source = make_source({"events": session("s1", "u1", WEEK)})
    with pytest.raises(Unavailable, match="orders"):
        compute(source, TABLE)
