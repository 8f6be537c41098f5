-- buyer_weekly: recommendation funnel per week and block.
-- Grain: one row per (week_start, block) for every block seen in events (within the block
-- filter) and for block 'ALL' (each event once, across the selected blocks).
-- Parameters: $tz, $platform (and the staging tables' $blocks, $window_days).
-- Depends: stg_weeks, stg_blocks, stg_activity, stg_clicks, stg_attributed_lines, stg_attributed_carts.
with grid as (
    select w.week_start, b.block
    from stg_weeks as w
    cross join (select block from stg_blocks union all select 'ALL') as b
    where w.in_filter
),
-- (week, block, user) of the recommendation events: stg_activity is one row per user, week and
-- block already, so a block's rec_users are a count of rows, not a count(distinct). Not
-- materialized: three cheap scans of stg_activity beat writing 0.8M rows at 10M events.
rec_activity as not materialized (
    select week_start, block, user_id, impressions, clicks
    from stg_activity
    where block is not null
        and (impressions > 0 or clicks > 0)
),
funnel_blocks as (
    select
        week_start,
        block,
        cast(sum(impressions) as bigint) as impressions,
        cast(sum(clicks) as bigint) as clicks,
        count(*) filter (where impressions > 0) as rec_users
    from rec_activity
    group by all
),
-- ALL: each event once; a user with impressions in several blocks is one rec user
rec_user_weeks as (
    select week_start, user_id, sum(impressions) as impressions, sum(clicks) as clicks
    from rec_activity
    group by all
),
funnel_all as (
    select
        week_start,
        'ALL' as block,
        cast(sum(impressions) as bigint) as impressions,
        cast(sum(clicks) as bigint) as clicks,
        count(*) filter (where impressions > 0) as rec_users
    from rec_user_weeks
    group by all
),
funnel_top as (
    select * from funnel_blocks
    union all
    select * from funnel_all
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
    from (select week_start, block, user_id from rec_activity where impressions > 0) as i
    join (select distinct week_start, block, user_id from lines) as b
        using (week_start, block, user_id)
    group by all
    union all
    select i.week_start, 'ALL', count(*)
    from (select week_start, user_id from rec_user_weeks where impressions > 0) as i
    join (select distinct week_start, user_id from lines) as b
        using (week_start, user_id)
    group by all
),
-- clicks (by click week) that are the touch click of at least one purchase line; a touch's
-- block is the line's (selected) touch_block, so only the platform filter is left to apply
converted_clicks as (
    select
        week_start,
        case when grouping(block) = 1 then 'ALL' else block end as block,
        count(*) as converted_clicks
    from (
        select
            cast(date_trunc('week', timezone($tz, cast(c.ts as timestamptz))) as date) as week_start,
            c.block
        from stg_clicks as c
        where c.event_id in (select touch_event_id from lines)
            and (cast($platform as varchar) is null or c.platform = $platform)
    )
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
