-- stg_weeks: one row per week_start of the data's range, in the reporting time zone.
-- Grain: week_start (local Monday). Parameters: $tz, $start_week, $end_week.
-- The range is set by events.ts and orders.ts only, unfiltered, so that every filter
-- reports on the same calendar. `in_filter` marks the weeks the user asked to see.
with instants as (
    select ts from events
    union all
    select ts from orders
),
bounds as (
    select
        cast(timezone($tz, cast(min(ts) as timestamptz)) as date) as first_day,
        cast(timezone($tz, cast(max(ts) as timestamptz)) as date) as last_day
    from instants
),
weeks as (
    select cast(w as date) as week_start, first_day, last_day
    from bounds,
        range(
            cast(date_trunc('week', first_day) as timestamp),
            cast(date_trunc('week', last_day) as timestamp) + interval 1 day,
            interval 7 day
        ) as r(w)
    where first_day is not null
)
select
    week_start,
    cast(week_start + interval 7 day as date) as week_end,
    week_start + 6 <= last_day as is_complete,
    -- days of this week that lie inside the data's date range (DAU averages over these)
    least(week_start + 6, last_day) - greatest(week_start, first_day) + 1 as days_in_range,
    first_day,
    last_day,
    ($start_week is null or week_start >= $start_week)
        and ($end_week is null or week_start <= $end_week) as in_filter
from weeks
order by week_start
