-- stg_activity_all: what each user did in each local week, per recommendation block, over all
-- the data and every block. Grain: one row per (user_id, week_start, block) of the events of the
-- selected platform; block is NULL for the events without one (app_open, add_to_cart,
-- filter_use, suggest_use).
-- Parameters: $tz, $platform. Depends: stg_tz.
-- Columns: days = the local ISO weekdays with such events as bits (bit d - 1 for isodow d, so
-- bit_count(days) is the number of active days), impressions, clicks.
-- Why a staging table: impressions are ~80 % of all events, and every reader of the events at
-- this size only counts them or their distinct users per day or week (DAU/WAU/MAU, visit
-- retention, the funnel's impressions, clicks and rec_users). One pass over the events here,
-- with the local time taken from stg_tz, leaves ~8x fewer rows for all of them.
-- It reads neither the block nor the date filter, so it is built once per source, time zone and
-- platform and shared by every run (context.py): a change of blocks or dates on a page filters
-- these rows (stg_activity, stg_visits) instead of reading the events again.
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
        -- local_ts(): queries/macros/local_ts.sql, timezone($tz, …) by stg_tz's hourly offsets
        local_ts(ev.ts) as local_ts
    from events as ev
    cross join stg_tz as z
    where cast($platform as varchar) is null or ev.platform = $platform
) as e
group by all
