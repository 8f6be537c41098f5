-- stg_activity: what each user did in each local week, per recommendation block.
-- Grain: one row per (user_id, week_start, block) of the events that pass the filters; block is
-- NULL for the events without one (app_open, add_to_cart, filter_use, suggest_use).
-- Parameters: $tz, $blocks, $platform, $start_week, $end_week. Depends: stg_tz.
-- Columns: days = the local ISO weekdays with such events as bits (bit d - 1 for isodow d, so
-- bit_count(days) is the number of active days), impressions, clicks.
-- The filters are applied as everywhere: the platform filter narrows events by events.platform,
-- the block filter narrows recommendation events and keeps the events without a block.
-- Why a staging table: impressions are ~80 % of all events, and every reader of the events at
-- this size only counts them or their distinct users per day or week (DAU/WAU/MAU, visit
-- retention, the funnel's impressions, clicks and rec_users). One pass over the events here,
-- with the local time taken from stg_tz, leaves ~8x fewer rows for all of them.
-- Date filter: only the weeks its readers report are read, from three weeks before the first
-- selected week (MAU looks back 28 days) to the last selected week, so that a narrow date
-- range reads a fraction of the events (zone maps on ts skip the rest). The bounds are instants
-- with a day to spare: rows of an extra, partial week before or after are never reported.
-- Readers that need every week whatever the filter (visit retention) read stg_visits.
select
    e.user_id,
    cast(date_trunc('week', e.local_ts) as date) as week_start,
    e.block,
    bit_or(cast(1 as integer) << cast(isodow(e.local_ts) - 1 as integer)) as days,
    count(*) filter (where e.event_type = 'impression') as impressions,
    count(*) filter (where e.event_type = 'click') as clicks
from (
    select
        ev.user_id,
        ev.event_type,
        ev.block,
        -- = timezone($tz, cast(ev.ts as timestamptz)), by stg_tz's hourly offsets
        case
            when $tz = 'UTC' then ev.ts
            else coalesce(
                ev.ts + z.offsets[greatest((epoch_us(ev.ts) - z.first_hour_us) // 3600000000 + 1, 0)],
                timezone($tz, cast(ev.ts as timestamptz))
            )
        end as local_ts
    from events as ev
    cross join stg_tz as z
    where (cast($platform as varchar) is null or ev.platform = $platform)
        and (ev.block is null or cast($blocks as varchar[]) is null or list_contains(cast($blocks as varchar[]), ev.block))
        and ($start_week is null
            or ev.ts >= cast(timezone($tz, cast($start_week as timestamp) - interval 22 day) as timestamp))
        and ($end_week is null
            or ev.ts < cast(timezone($tz, cast($end_week as timestamp) + interval 8 day) as timestamp))
) as e
group by all
