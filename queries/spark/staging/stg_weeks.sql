-- stg_weeks, Spark twin of queries/staging/stg_weeks.sql (same grain, columns and types).
-- Grain: week_start (local Monday). Parameters: :tz, :start_week, :end_week.
-- Why a twin: DuckDB's range() over timestamps (a lateral table function) has no Spark
-- equivalent that sqlglot produces; Spark's is explode(sequence(first, last, 7 days)), and
-- `date - date` is datediff() here (an interval in Spark, a number of days in DuckDB).
-- Timestamps are naive UTC; from_utc_timestamp is DuckDB's timezone($tz, ts::timestamptz).
with instants as (
    select ts from events
    union all
    select ts from orders
),
bounds as (
    select
        cast(from_utc_timestamp(cast(min(ts) as timestamp), :tz) as date) as first_day,
        cast(from_utc_timestamp(cast(max(ts) as timestamp), :tz) as date) as last_day
    from instants
),
weeks as (
    -- every Monday from the first day's week to the last day's week, both included
    select week_start, first_day, last_day
    from bounds
    lateral view explode(sequence(
        cast(date_trunc('WEEK', first_day) as date),
        cast(date_trunc('WEEK', last_day) as date),
        interval 7 day
    )) r as week_start
    where first_day is not null
)
select
    week_start,
    date_add(week_start, 7) as week_end,
    date_add(week_start, 6) <= last_day as is_complete,
    -- days of this week that lie inside the data's date range (DAU averages over these)
    cast(datediff(least(date_add(week_start, 6), last_day), greatest(week_start, first_day)) + 1 as bigint) as days_in_range,
    first_day,
    last_day,
    (:start_week is null or week_start >= :start_week)
        and (:end_week is null or week_start <= :end_week) as in_filter
from weeks
order by week_start
