-- time_to_purchase_weekly: how long buyers take to buy, in minutes, per week of the order.
-- Grain: one row per (week_start, block, measure):
--   measure 'click_to_purchase' for every block seen in events (within the block filter) and
--   block 'ALL'; measure 'open_to_purchase' for block 'ALL' only.
-- Parameters: $blocks, $platform (and the staging tables' $tz, $window_days).
-- Depends: stg_weeks, stg_blocks, stg_lines, stg_attributed_lines.
-- Minutes are seconds / 60, unrounded, one value per line or order (quantity ignored).
with grid as (
    select w.week_start, b.block, 'click_to_purchase' as measure
    from stg_weeks as w
    cross join (select block from stg_blocks union all select 'ALL') as b
    where w.in_filter
    union all
    select week_start, 'ALL', 'open_to_purchase'
    from stg_weeks
    where in_filter
),
attributed_lines as (
    select week_start, touch_block, ts, touch_ts
    from stg_attributed_lines
    where attributed
),
app_opens as (
    -- platform-filtered like the orders, so a filtered view measures opens and orders on one
    -- platform; the block filter keeps app_open events (they have no block) unless one has a block
    select e.user_id, e.ts
    from events as e
    where e.event_type = 'app_open'
        and (cast($platform as varchar) is null or e.platform = $platform)
        and (e.block is null or cast($blocks as varchar[]) is null or list_contains(cast($blocks as varchar[]), e.block))
),
-- an order's instant is its earliest line; the buyer and the week come with that line
order_starts as (
    select
        order_id,
        min(ts) as ts,
        arg_min(user_id, struct_pack(ts := ts, item_id := item_id)) as user_id,
        arg_min(week_start, struct_pack(ts := ts, item_id := item_id)) as week_start
    from stg_lines
    group by order_id
),
click_durations as (
    select
        week_start,
        touch_block as block,
        -- microseconds keep sub-second timestamps exact before the division
        (epoch_us(ts) - epoch_us(touch_ts)) / 60000000.0 as minutes
    from attributed_lines
),
-- the latest app_open at or before the order (ASOF JOIN, DuckDB-specific: one sorted pass
-- instead of every open of the buyer against every order), kept when within 24 hours
open_durations as (
    select
        o.week_start,
        (epoch_us(o.ts) - epoch_us(a.ts)) / 60000000.0 as minutes
    from order_starts as o
    asof join app_opens as a
        on a.user_id = o.user_id
        and o.ts >= a.ts
    where a.ts >= o.ts - interval 24 hour
),
click_to_purchase as (
    select
        week_start,
        case when grouping(block) = 1 then 'ALL' else block end as block,
        'click_to_purchase' as measure,
        count(*) as n,
        quantile_cont(minutes, 0.5) as median_min,
        quantile_cont(minutes, 0.75) as p75_min,
        quantile_cont(minutes, 0.9) as p90_min
    from click_durations
    group by grouping sets ((week_start, block), (week_start))
),
open_to_purchase as (
    select
        week_start,
        'ALL' as block,
        'open_to_purchase' as measure,
        count(*) as n,
        quantile_cont(minutes, 0.5) as median_min,
        quantile_cont(minutes, 0.75) as p75_min,
        quantile_cont(minutes, 0.9) as p90_min
    from open_durations
    group by week_start
),
durations as (
    select * from click_to_purchase
    union all
    select * from open_to_purchase
)
select
    g.week_start,
    g.block,
    g.measure,
    coalesce(d.n, 0) as n,
    d.median_min,
    d.p75_min,
    d.p90_min
from grid as g
left join durations as d using (week_start, block, measure)
order by g.week_start, g.measure, g.block = 'ALL', g.block
