-- experiment_overlaps: pairs of selected experiments that ran on the same block (an experiment
-- without a block runs on every block) at the same time, with the days they share and the users
-- assigned to both. Grain: one row per ordered pair (experiment_id, other_experiment_id).
-- Parameters: $tz, $start_week, $end_week, $blocks.
with selected_experiments as (
    select experiment_id, name, block, start_ts, end_ts
    from experiments
    where (cast($blocks as varchar[]) is null or block is null or list_contains(cast($blocks as varchar[]), block))
        and ($start_week is null
            or timezone($tz, cast(end_ts as timestamptz)) > cast($start_week as timestamp))
        and ($end_week is null
            or timezone($tz, cast(start_ts as timestamptz)) < cast($end_week as timestamp) + interval 7 day)
),
pairs as (
    select
        a.experiment_id,
        b.experiment_id as other_experiment_id,
        b.name as other_name,
        coalesce(a.block, b.block) as block,
        greatest(a.start_ts, b.start_ts) as overlap_from,
        least(a.end_ts, b.end_ts) as overlap_to
    from selected_experiments as a
    join selected_experiments as b
        on a.experiment_id <> b.experiment_id
        and (a.block is null or b.block is null or a.block = b.block)
        and a.start_ts < b.end_ts
        and b.start_ts < a.end_ts
),
shared as (
    select x.experiment_id, y.experiment_id as other_experiment_id, count(*) as shared_users
    from assignments as x
    join assignments as y
        on x.user_id = y.user_id
        and x.experiment_id <> y.experiment_id
    group by all
)
select
    p.experiment_id,
    p.other_experiment_id,
    p.other_name,
    p.block,
    p.overlap_from,
    p.overlap_to,
    coalesce(s.shared_users, 0) as shared_users
from pairs as p
left join shared as s
    on s.experiment_id = p.experiment_id
    and s.other_experiment_id = p.other_experiment_id
order by p.experiment_id, p.other_experiment_id
