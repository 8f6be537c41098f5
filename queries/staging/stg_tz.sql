-- stg_tz: the reporting time zone's offset from UTC for every hour of the data's range.
-- Grain: one row. Parameters: $tz.
-- Why: converting an instant with timezone($tz, ts::timestamptz) costs an ICU calendar lookup per
-- row, about 10x the rest of a scan of the events. The offset only changes at DST switches, so
-- the staging tables that read every event take it from this list instead, by the macro
-- local_ts(ts) of queries/macros/local_ts.sql (expanded by dashboard/engine/sql.py):
--     local time = ts + offsets[(epoch_us(ts) - first_hour_us) // 3600000000 + 1]
-- An hour whose offset at its first and at its last microsecond differ (the hour of a switch,
-- whatever its minute) has a NULL offset, and its rows are converted one by one, exactly: the
-- readers fall back to timezone() wherever the lookup gives NULL (also outside the range). The
-- only zone this would get wrong is one switching twice inside a single hour; none does.
-- The range is that of stg_weeks: events.ts and orders.ts.
with instants as (
    select ts from events
    union all
    select ts from orders
),
bounds as (
    select date_trunc('hour', min(ts)) as first_hour, max(ts) as last_ts
    from instants
),
hours as (
    select
        h,
        timezone($tz, cast(h as timestamptz)) - h as offset_at_start,
        timezone($tz, cast(h + interval 3599999999 microsecond as timestamptz))
            - (h + interval 3599999999 microsecond) as offset_at_end
    from bounds,
        range(first_hour, last_ts + interval 1 hour, interval 1 hour) as r(h)
    where first_hour is not null
)
select
    -- NULL when the data is empty; every lookup then falls back
    (select epoch_us(first_hour) from bounds) as first_hour_us,
    list(case when offset_at_start = offset_at_end then offset_at_start end order by h) as offsets
from hours
