-- buyer_weekly: recommendation funnel per week and block.
-- Grain: one row per (week_start, block) for every block seen in events (within the block
-- filter) and for block 'ALL' (each event once, across the selected blocks).
-- Parameters: $blocks (and the staging tables' $tz, $platform, $window_days).
-- Depends: stg_weeks, stg_events, stg_attributed_lines, stg_attributed_carts.
with selected_blocks as (
    select distinct block
    from events
    where block is not null
        and (cast($blocks as varchar[]) is null or list_contains(cast($blocks as varchar[]), block))
),
grid as (
    select w.week_start, b.block
    from stg_weeks as w
    cross join (select block from selected_blocks union all select 'ALL') as b
    where w.in_filter
),
rec_events as (
    select week_start, block, user_id, event_type, event_id
    from stg_events
    where event_type in ('impression', 'click')
),
funnel_top as (
    select
        week_start,
        case when grouping(block) = 1 then 'ALL' else block end as block,
        count(*) filter (where event_type = 'impression') as impressions,
        count(*) filter (where event_type = 'click') as clicks,
        count(distinct user_id) filter (where event_type = 'impression') as rec_users
    from rec_events
    group by grouping sets ((week_start, block), (week_start))
),
lines as (
    select week_start, touch_block as block, order_id, user_id, line_value, touch_event_id
    from stg_attributed_lines
    where attributed
),
purchases as (
    select
        week_start,
        case when grouping(block) = 1 then 'ALL' else block end as block,
        count(*) as attributed_lines,
        count(distinct order_id) as attributed_orders,
        sum(line_value) as attributed_gmv
    from lines
    group by grouping sets ((week_start, block), (week_start))
),
carts as (
    select
        week_start,
        case when grouping(touch_block) = 1 then 'ALL' else touch_block end as block,
        count(*) as attributed_carts
    from stg_attributed_carts
    group by grouping sets ((week_start, touch_block), (week_start))
),
-- rec_users of the week and block with >= 1 purchase line of the week attributed to it
converted as (
    select i.week_start, i.block, count(*) as converted_users
    from (select distinct week_start, block, user_id from rec_events where event_type = 'impression') as i
    join (select distinct week_start, block, user_id from lines) as b
        using (week_start, block, user_id)
    group by all
    union all
    select i.week_start, 'ALL', count(*)
    from (select distinct week_start, user_id from rec_events where event_type = 'impression') as i
    join (select distinct week_start, user_id from lines) as b
        using (week_start, user_id)
    group by all
),
-- clicks (by click week) that are the touch click of at least one purchase line
converted_clicks as (
    select
        week_start,
        case when grouping(block) = 1 then 'ALL' else block end as block,
        count(*) as converted_clicks
    from rec_events
    where event_type = 'click'
        and event_id in (select touch_event_id from lines)
    group by grouping sets ((week_start, block), (week_start))
)
select
    g.week_start,
    g.block,
    coalesce(f.impressions, 0) as impressions,
    coalesce(f.clicks, 0) as clicks,
    coalesce(f.clicks, 0) / nullif(coalesce(f.impressions, 0), 0) as ctr,
    coalesce(f.rec_users, 0) as rec_users,
    coalesce(c.converted_users, 0) as converted_users,
    coalesce(c.converted_users, 0) / nullif(coalesce(f.rec_users, 0), 0) as buyer_conversion,
    coalesce(k.attributed_carts, 0) as attributed_carts,
    coalesce(p.attributed_lines, 0) as attributed_lines,
    coalesce(p.attributed_orders, 0) as attributed_orders,
    coalesce(p.attributed_gmv, 0) as attributed_gmv,
    coalesce(cc.converted_clicks, 0) / nullif(coalesce(f.clicks, 0), 0) as click_conversion
from grid as g
left join funnel_top as f using (week_start, block)
left join purchases as p using (week_start, block)
left join carts as k using (week_start, block)
left join converted as c using (week_start, block)
left join converted_clicks as cc using (week_start, block)
order by g.week_start, g.block = 'ALL', g.block
