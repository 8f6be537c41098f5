-- experiment_exposure: per (experiment_id, variant), how many assigned users saw the tested block.
-- Grain: one row per variant with users. `exposed_users`: assigned users with >= 1 impression in
-- the experiment's block (any selected block when it has none) inside their window
-- [max(start_ts, assigned_ts), end_ts). A difference between variants means the treatment changes
-- who reaches the block, so the comparison is no longer like with like (health check).
-- Parameters: $tz, $start_week, $end_week, $blocks, $platform.
with selected_experiments as (
    select experiment_id, block, start_ts, end_ts
    from experiments
    where (cast($blocks as varchar[]) is null or block is null or list_contains(cast($blocks as varchar[]), block))
        and ($start_week is null
            or timezone($tz, cast(end_ts as timestamptz)) > cast($start_week as timestamp))
        and ($end_week is null
            or timezone($tz, cast(start_ts as timestamptz)) < cast($end_week as timestamp) + interval 7 day)
),
members as (
    select
        a.experiment_id,
        a.variant,
        a.user_id,
        greatest(x.start_ts, coalesce(a.assigned_ts, x.start_ts)) as from_ts,
        x.end_ts as to_ts,
        x.block
    from assignments as a
    join selected_experiments as x using (experiment_id)
),
impressions as (
    select user_id, ts, block
    from events
    where event_type = 'impression'
        and (cast($platform as varchar) is null or platform = $platform)
        and (block is null or cast($blocks as varchar[]) is null or list_contains(cast($blocks as varchar[]), block))
),
exposed as (
    select distinct m.experiment_id, m.user_id
    from members as m
    join impressions as e
        on e.user_id = m.user_id
        and e.ts >= m.from_ts
        and e.ts < m.to_ts
    where m.block is null or e.block = m.block
)
select
    m.experiment_id,
    m.variant,
    count(*) as users,
    count(x.user_id) as exposed_users
from members as m
left join exposed as x
    on x.experiment_id = m.experiment_id
    and x.user_id = m.user_id
group by m.experiment_id, m.variant
order by m.experiment_id, m.variant
