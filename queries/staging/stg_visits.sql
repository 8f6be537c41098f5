-- stg_visits: the local weeks in which each user had any event, over all the data.
-- Grain: (user_id, week_start). Parameters: $tz, $blocks, $platform, $start_week, $end_week.
-- Depends: stg_tz, stg_activity.
-- Events pass the platform and block filters (as in stg_activity) but not the date filter:
-- visit retention needs a user's first week ever and the weeks after the selected range.
-- Without a date filter stg_activity holds every week and is reused; with one it is cut to the
-- selected weeks, and the events are read again. DuckDB folds the `$start_week is null ...`
-- conditions, so only one of the two branches runs.
select distinct user_id, week_start
from stg_activity
where $start_week is null and $end_week is null
union all
select
    e.user_id,
    -- = the local week of timezone($tz, cast(e.ts as timestamptz)), by stg_tz's hourly offsets
    cast(date_trunc('week', case
        when $tz = 'UTC' then e.ts
        else coalesce(
            e.ts + z.offsets[greatest((epoch_us(e.ts) - z.first_hour_us) // 3600000000 + 1, 0)],
            timezone($tz, cast(e.ts as timestamptz))
        )
    end) as date) as week_start
from events as e
cross join stg_tz as z
where not ($start_week is null and $end_week is null)
    and (cast($platform as varchar) is null or e.platform = $platform)
    and (e.block is null or cast($blocks as varchar[]) is null or list_contains(cast($blocks as varchar[]), e.block))
group by all
