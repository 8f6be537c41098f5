-- serving_model_weekly: the model that served most of a block's impressions, week by week.
-- Grain: one row per (week_start, block) of the week grid (stg_weeks where in_filter) for every
-- block seen in events (within the block filter). No 'ALL' row: a serving model belongs to one block.
-- Parameters: $tz, $blocks, $platform, $start_week, $end_week.
-- Depends: stg_weeks, stg_blocks, stg_tz.
-- model_version: the one with the most impressions in the week and block; ties go to the larger
-- model_version (text order, so 'v10' < 'v9'); NULL when no impression of the week and block
-- names a model (then model_impressions = 0). block_impressions counts every impression of the
-- block, with or without a model_version, so model_share is the serving model's share of traffic.
with grid as (
    select w.week_start, b.block
    from stg_weeks as w
    cross join stg_blocks as b
    where w.in_filter
),
-- impressions that pass the filters of every event, in the local week (stg_tz as in stg_activity)
impressions as (
    select
        cast(date_trunc('week', local_ts(e.ts)) as date) as week_start,
        e.block,
        e.model_version
    from events as e
    cross join stg_tz as z
    where e.event_type = 'impression'
        and (cast($platform as varchar) is null or e.platform = $platform)
        and (cast($blocks as varchar[]) is null or list_contains(cast($blocks as varchar[]), e.block))
        -- only the selected weeks are reported (a day to spare, as in stg_activity)
        and ($start_week is null
            or e.ts >= cast(timezone($tz, cast($start_week as timestamp) - interval 1 day) as timestamp))
        and ($end_week is null
            or e.ts < cast(timezone($tz, cast($end_week as timestamp) + interval 8 day) as timestamp))
),
block_totals as (
    select week_start, block, count(*) as block_impressions
    from impressions
    group by week_start, block
),
model_counts as (
    select week_start, block, model_version, count(*) as model_impressions
    from impressions
    where model_version is not null
    group by week_start, block, model_version
),
serving as (
    select week_start, block, model_version, model_impressions
    from model_counts
    qualify row_number() over (
        partition by week_start, block
        order by model_impressions desc, model_version desc
    ) = 1
)
select
    g.week_start,
    g.block,
    s.model_version,
    coalesce(s.model_impressions, 0) as model_impressions,
    coalesce(t.block_impressions, 0) as block_impressions,
    coalesce(s.model_impressions, 0) / nullif(coalesce(t.block_impressions, 0), 0) as model_share
from grid as g
left join block_totals as t using (week_start, block)
left join serving as s using (week_start, block)
order by g.week_start, g.block
