"""Checks across tables: experiments and their variants, target policies, traffic shares, heavy
users; absent optional tables created empty."""
from __future__ import annotations

from dashboard.engine.contract import SQL_TYPES, TABLES
from dashboard.engine.source.keys import Storage, keys_table
from dashboard.engine.loading import (
    EXAMPLE_ROWS, HEAVY_USER_MIN_EVENTS, HEAVY_USER_MIN_USERS, HEAVY_USER_SHARE, PROBABILITY_SUM_TOLERANCE,
    Problem, TableReport, _heavy_user_note, _traffic_share_notes,
)


# --- checks across tables ---------------------------------------------------------------------

def _check_experiments(con, reports: dict[str, TableReport]) -> None:
    """Experiments need exactly one control; assignments must name a known variant."""
    if "experiment_variants" in reports:
        _reject_where(
            con,
            reports["experiment_variants"],
            "is_control",
            "experiment has no control variant",
            "experiment_id IN (SELECT experiment_id FROM experiment_variants GROUP BY 1 HAVING count(*) FILTER (is_control) = 0)",
        )
        _reject_where(
            con,
            reports["experiment_variants"],
            "is_control",
            "experiment has more than one control variant",
            "experiment_id IN (SELECT experiment_id FROM experiment_variants GROUP BY 1 HAVING count(*) FILTER (is_control) > 1)",
        )
        if "experiments" in reports:
            _reject_where(
                con,
                reports["experiment_variants"],
                "experiment_id",
                "experiment_id not in experiments",
                "experiment_id NOT IN (SELECT experiment_id FROM experiments)",
            )
    if "assignments" in reports and "experiment_variants" in reports:
        _reject_where(
            con,
            reports["assignments"],
            "variant",
            "variant not in experiment_variants for this experiment",
            "(experiment_id, variant) NOT IN (SELECT (experiment_id, variant) FROM experiment_variants)",
        )


def _check_target_policies(con, reports: dict[str, TableReport]) -> None:
    """A slot of a candidate policy — (model_version, block, user_id, position), a null user_id
    being its own group — whose probabilities sum above 1 is not a policy: all its rows go."""
    if "target_policies" not in reports:
        return
    _reject_where(
        con,
        reports["target_policies"],
        "probability",
        "probabilities of one (model_version, block, user_id, position) sum above 1",
        f"""EXISTS (
            SELECT 1 FROM (
                SELECT model_version, block, user_id, position FROM target_policies
                GROUP BY ALL HAVING sum(probability) > 1 + {PROBABILITY_SUM_TOLERANCE!r}
            ) AS g
            WHERE g.model_version = target_policies.model_version AND g.block = target_policies.block
                AND g.user_id IS NOT DISTINCT FROM target_policies.user_id AND g.position = target_policies.position
        )""",
    )


def _note_traffic_shares(con, reports: dict[str, TableReport]) -> None:
    """Shares need not sum to 1 (the contract asks each to be in (0, 1]); say so when they do not.

    The SRM check normalises the shares to sum to 1, and uses an equal split when any is missing.
    """
    report = reports.get("experiment_variants")
    if report is None:
        return
    rows = con.execute(
        """
        SELECT experiment_id, count(*) AS variants, count(traffic_share) AS given, sum(traffic_share) AS total
        FROM experiment_variants GROUP BY 1
        HAVING (count(traffic_share) = count(*) AND abs(sum(traffic_share) - 1) > 1e-6)
            OR (count(traffic_share) BETWEEN 1 AND count(*) - 1)
        ORDER BY 1
        """
    ).fetchall()
    report.notes += _traffic_share_notes(rows)


def _note_heavy_users(con, reports: dict[str, TableReport], storage: Storage) -> None:
    """A user with an extreme share of the events is likely a bot or a logging loop: name it.

    Nothing is rejected — the events follow the contract — but every metric counts them.
    """
    report = reports.get("events")
    if report is None or report.rows_loaded < HEAVY_USER_MIN_EVENTS:
        return
    # the users by their own ids: events store keys (keys.py), numbered in the ids' order
    named = (f"JOIN {keys_table(storage.keyed['user_id'])} AS k ON k.key = heavy.user_id"
             if "user_id" in storage.keyed else "CROSS JOIN (SELECT NULL AS id) AS k")
    rows = con.execute(
        f"""
        WITH per_user AS (SELECT user_id, count(*) AS n FROM events GROUP BY 1),
        heavy AS (
            SELECT user_id, n FROM per_user
            WHERE n >= $min_events AND n >= $share * $total
              AND (SELECT count(*) FROM per_user) >= $min_users
            ORDER BY n DESC, user_id LIMIT 5
        )
        SELECT coalesce(k.id, CAST(heavy.user_id AS VARCHAR)), heavy.n FROM heavy {named}
        ORDER BY heavy.n DESC, heavy.user_id
        """,
        {"min_events": HEAVY_USER_MIN_EVENTS, "share": HEAVY_USER_SHARE, "total": report.rows_loaded,
         "min_users": HEAVY_USER_MIN_USERS},
    ).fetchall()
    report.notes += [_heavy_user_note(user, n, report.rows_loaded) for user, n in rows]


def _create_absent_tables(con, reports: dict[str, TableReport], storage: Storage) -> None:
    """Absent optional tables exist empty, so every query runs on every source.

    Their columns have the stored types of the loaded ones (keys, ENUMs), so that a join of a
    loaded table with an absent one compares like with like.
    Whether a metric is available is decided from `Source.has`, never from an empty result.
    """
    for table in TABLES.values():
        if table.name in reports:
            continue
        columns = ", ".join(f"{c.name} {storage.column_type(c.name, SQL_TYPES[c.kind])}" for c in table.columns)
        con.execute(f"CREATE TABLE {table.name} (_row BIGINT, {columns})")


def _reject_where(con, report: TableReport, column: str, reason: str, predicate: str) -> None:
    table = report.table
    count, examples = con.execute(
        f"SELECT count(*), list(_row ORDER BY _row)[1:{EXAMPLE_ROWS}] FROM {table} WHERE {predicate}"
    ).fetchone()
    if count:
        if any(c.name == "experiment_id" for c in TABLES[table].columns):  # tables keyed by experiment
            for (experiment,) in con.execute(f"SELECT DISTINCT experiment_id FROM {table} WHERE {predicate} ORDER BY 1").fetchall():
                report.rejected_experiments.setdefault(str(experiment), []).append(reason)
        con.execute(f"DELETE FROM {table} WHERE {predicate}")
        report.problems.append(Problem(table, column, reason, count, [int(x) for x in examples]))
        report.rows_loaded -= count
