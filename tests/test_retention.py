"""retention on tiny hand-built marketplaces; every cohort is worked out by hand."""
from __future__ import annotations

import datetime as dt

import pytest

from conftest import compute

W1, W2, W3, W4, W5 = "2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26", "2026-02-02"  # Mondays


def event(event_id: str, ts: str, user_id: str, **extra) -> dict:
    return {"event_id": event_id, "ts": ts, "user_id": user_id, "event_type": "app_open", **extra}


def line(order_id: str, item_id: str, ts: str, user_id: str, **extra) -> dict:
    return {"order_id": order_id, "item_id": item_id, "ts": ts, "user_id": user_id, "quantity": 1, "price": "10",
            **extra}


def rows(frame) -> list[tuple]:
    """(basis, category, cohort_week, weeks_since, cohort_size, retained, retention) in table order."""
    return [
        (r.basis, r.category, str(r.cohort_week)[:10], int(r.weeks_since), int(r.cohort_size), int(r.retained),
         round(float(r.retention), 9))
        for r in frame.itertuples(index=False)
    ]


@pytest.fixture
def marketplace(make_source):
    # The last day with data is Tue 2026-02-03: W1..W4 are complete, W5 is not.
    return make_source({
        "events": [
            event("e1", "2026-01-05 10:00:00", "u1"),
            event("e2", "2026-01-13 10:00:00", "u5"),
            event("e3", "2026-01-27 10:00:00", "u5"),  # u5 skips W3
            event("e4", "2026-02-03 10:00:00", "u5"),  # W5: incomplete
        ],
        "items": [
            {"item_id": "I1", "seller_id": "S1", "category": "A"},
            {"item_id": "I2", "seller_id": "S1", "category": "B"},
            {"item_id": "I3", "seller_id": "S1", "category": None},
        ],
        "orders": [
            # u1: A in W1, B in W2, nothing in W3, A in W4
            line("o1", "I1", "2026-01-06 10:00:00", "u1"),
            line("o2", "I2", "2026-01-13 10:00:00", "u1"),
            line("o3", "I1", "2026-01-28 10:00:00", "u1"),
            # u2: B in W1, skips W2, B in W3, A in W5 (incomplete)
            line("o4", "I2", "2026-01-07 10:00:00", "u2"),
            line("o5", "I2", "2026-01-21 10:00:00", "u2"),
            line("o6", "I1", "2026-02-02 10:00:00", "u2"),
            # u3: uncategorised I3 and I4 (in no items row) in W2, A in W3
            line("o7", "I3", "2026-01-14 10:00:00", "u3"),
            line("o7", "I4", "2026-01-14 10:00:00", "u3"),
            line("o8", "I1", "2026-01-20 10:00:00", "u3"),
            # u4: first order in the incomplete W5 -> no cohort rows
            line("o9", "I1", "2026-02-03 09:00:00", "u4"),
        ],
    })


def test_columns_and_types(marketplace):
    frame = compute(marketplace, "retention")
    assert list(frame.columns) == [
        "basis", "category", "cohort_week", "weeks_since", "cohort_size", "retained", "retention",
    ]
    for column in ("weeks_since", "cohort_size", "retained"):
        assert frame[column].dtype.kind == "i", column


def test_all_cohorts_by_hand(marketplace):
    assert rows(compute(marketplace, "retention")) == [
        # purchase ALL. Cohort W1 = {u1, u2}: W2 u1; W3 u2 (u2 skipped W2); W4 u1; W5 incomplete -> stop
        ("purchase", "ALL", W1, 0, 2, 2, 1.0),
        ("purchase", "ALL", W1, 1, 2, 1, 0.5),
        ("purchase", "ALL", W1, 2, 2, 1, 0.5),
        ("purchase", "ALL", W1, 3, 2, 1, 0.5),
        # cohort W2 = {u3} (its uncategorised lines count for ALL): W3 yes, W4 no
        ("purchase", "ALL", W2, 0, 1, 1, 1.0),
        ("purchase", "ALL", W2, 1, 1, 1, 1.0),
        ("purchase", "ALL", W2, 2, 1, 0, 0.0),
        # category A: u1 in W1, W4; u3 in W3; u2 in W5 only (incomplete cohort week)
        ("purchase", "A", W1, 0, 1, 1, 1.0),
        ("purchase", "A", W1, 1, 1, 0, 0.0),  # niche: u1 bought only B in W2, ALL says 0.5
        ("purchase", "A", W1, 2, 1, 0, 0.0),
        ("purchase", "A", W1, 3, 1, 1, 1.0),
        ("purchase", "A", W3, 0, 1, 1, 1.0),
        ("purchase", "A", W3, 1, 1, 0, 0.0),
        # category B: u2 in W1, W3; u1 in W2
        ("purchase", "B", W1, 0, 1, 1, 1.0),
        ("purchase", "B", W1, 1, 1, 0, 0.0),
        ("purchase", "B", W1, 2, 1, 1, 1.0),
        ("purchase", "B", W1, 3, 1, 0, 0.0),
        ("purchase", "B", W2, 0, 1, 1, 1.0),
        ("purchase", "B", W2, 1, 1, 0, 0.0),
        ("purchase", "B", W2, 2, 1, 0, 0.0),
        # visit ALL (events only): u1 in W1; u5 in W2, W4 (skips W3), W5 (incomplete)
        ("visit", "ALL", W1, 0, 1, 1, 1.0),
        ("visit", "ALL", W1, 1, 1, 0, 0.0),
        ("visit", "ALL", W1, 2, 1, 0, 0.0),
        ("visit", "ALL", W1, 3, 1, 0, 0.0),
        ("visit", "ALL", W2, 0, 1, 1, 1.0),
        ("visit", "ALL", W2, 1, 1, 0, 0.0),
        ("visit", "ALL", W2, 2, 1, 1, 1.0),
    ]


def test_incomplete_last_week_is_excluded(marketplace):
    frame = compute(marketplace, "retention")
    # W5 is neither a cohort week (u4's, u2's category A cohort) nor a return week
    assert W5 not in {str(w)[:10] for w in frame.cohort_week}
    last_seen = {(r.basis, r.category, str(r.cohort_week)[:10]): int(r.weeks_since) for r in frame.itertuples()}
    assert last_seen[("purchase", "ALL", W1)] == 3  # W1 + 4 = W5 is left out


def test_without_orders_only_visit_rows(make_source):
    source = make_source({
        "events": [
            event("e1", "2026-01-05 10:00:00", "u1"),
            event("e2", "2026-01-06 10:00:00", "u2"),
            event("e3", "2026-01-13 10:00:00", "u2"),
            event("e4", "2026-01-19 10:00:00", "u3"),  # last day Mon 01-19: W1, W2 complete
        ],
    })
    assert rows(compute(source, "retention")) == [
        # cohort W1 = {u1, u2}; W2: u2 -> 1 / 2. W3 incomplete.
        ("visit", "ALL", W1, 0, 2, 2, 1.0),
        ("visit", "ALL", W1, 1, 2, 1, 0.5),
    ]


def test_time_zone_moves_an_event_into_the_next_week_across_dst(make_source):
    # Berlin's Monday 2026-03-30 00:00 CEST is 2026-03-29 22:00 UTC (summer time starts 03-29),
    # so an event at 22:30 UTC on Sunday 03-29 is in the week of 03-30 there, of 03-23 in UTC.
    source = make_source({
        "events": [
            event("e1", "2026-03-18 12:00:00", "u1"),  # week 03-16 everywhere
            event("e2", "2026-03-29 22:30:00", "u1"),
            event("e3", "2026-04-14 12:00:00", "u2"),  # last day Tue 04-14: weeks up to 04-06 complete
        ],
    })
    berlin = rows(compute(source, "retention", tz="Europe/Berlin"))
    assert berlin == [
        ("visit", "ALL", "2026-03-16", 0, 1, 1, 1.0),
        ("visit", "ALL", "2026-03-16", 1, 1, 0, 0.0),
        ("visit", "ALL", "2026-03-16", 2, 1, 1, 1.0),
        ("visit", "ALL", "2026-03-16", 3, 1, 0, 0.0),
    ]
    utc = rows(compute(source, "retention"))
    assert [r[5] for r in utc] == [1, 1, 0, 0]


def test_weeks_since_stops_at_twelve(make_source):
    # u1 visits every week for 15 weeks; the event on Monday of week 16 makes weeks 1..15 complete
    start = dt.datetime(2026, 1, 5, 10)
    events = [event(f"e{k}", str(start + dt.timedelta(weeks=k)), "u1") for k in range(16)]
    frame = compute(make_source({"events": events}), "retention")
    cohort_w1 = frame[frame.cohort_week.astype(str).str.startswith(W1)]
    assert list(cohort_w1.weeks_since) == list(range(13))
    assert list(cohort_w1.retention) == [1.0] * 13


def test_date_filter_picks_cohort_weeks_on_cohorts_of_all_data(make_source):
    source = make_source({
        "events": [
            event("e1", "2026-01-05 10:00:00", "u1"),
            event("e2", "2026-01-13 10:00:00", "u1"),  # u1 belongs to W1's cohort, not W2's
            event("e3", "2026-01-14 10:00:00", "u2"),
            event("e4", "2026-01-21 10:00:00", "u2"),  # W3 return, after the filter's end
            event("e5", "2026-02-02 10:00:00", "u3"),  # last day 02-02: W1..W4 complete
        ],
    })
    frame = compute(source, "retention", start=dt.date(2026, 1, 12), end=dt.date(2026, 1, 18))
    assert rows(frame) == [
        # cohort W2 = {u2}: W3 yes, W4 no
        ("visit", "ALL", W2, 0, 1, 1, 1.0),
        ("visit", "ALL", W2, 1, 1, 1, 1.0),
        ("visit", "ALL", W2, 2, 1, 0, 0.0),
    ]


def test_platform_filter_defines_cohorts_on_the_filtered_activity(make_source):
    source = make_source({
        "events": [
            event("e1", "2026-01-05 10:00:00", "u1", session_id="s1", platform="android"),
            event("e2", "2026-01-13 10:00:00", "u1", session_id="s2", platform="ios"),
            event("e3", "2026-01-19 10:00:00", "u9", session_id="s3", platform="ios"),  # W1, W2 complete
        ],
        "orders": [
            line("o1", "I1", "2026-01-05 11:00:00", "u1", session_id="s1"),
            line("o2", "I1", "2026-01-13 11:00:00", "u1", session_id="s2"),
        ],
    })
    # On iOS alone u1 first bought and visited in W2 (so weeks_since 0 stays 1.0)
    assert rows(compute(source, "retention", platform="ios")) == [
        ("purchase", "ALL", W2, 0, 1, 1, 1.0),
        ("visit", "ALL", W2, 0, 1, 1, 1.0),
    ]
    # Unfiltered: u1 is in W1's cohorts and returns in W2
    assert rows(compute(source, "retention")) == [
        ("purchase", "ALL", W1, 0, 1, 1, 1.0),
        ("purchase", "ALL", W1, 1, 1, 1, 1.0),
        ("visit", "ALL", W1, 0, 1, 1, 1.0),
        ("visit", "ALL", W1, 1, 1, 1, 1.0),
    ]
