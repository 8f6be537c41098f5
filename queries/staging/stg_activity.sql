-- stg_activity: stg_activity_all within the block and date filters.
-- Grain: one row per (user_id, week_start, block); block is NULL for the events without one.
-- Parameters: $blocks, $start_week, $end_week (and those of stg_activity_all). Depends: stg_activity_all.
-- The filters are applied as everywhere: the platform filter narrows events by events.platform
-- (in stg_activity_all), the block filter narrows recommendation events and keeps the events
-- without a block.
-- Date filter: the weeks its readers report and, before the first selected week, the three weeks
-- that MAU looks back on (28 days); readers that need every week whatever the filter (visit
-- retention) read stg_visits.
select *
from stg_activity_all
where (block is null or cast($blocks as varchar[]) is null or list_contains(cast($blocks as varchar[]), block))
    and ($start_week is null or week_start >= cast($start_week as date) - 21)
    and ($end_week is null or week_start <= cast($end_week as date))
