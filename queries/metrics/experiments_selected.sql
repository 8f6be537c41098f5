-- experiments_selected: every loaded experiment, whether the filters select it (the same rule as
-- experiments.sql: block selected or none, [start_ts, end_ts) overlapping the selected weeks),
-- and its loaded variant rows, control rows and assignments. An experiment of this list
-- without rows in the experiments table is named, with the reason, by
-- dashboard/engine/experiment_checks.py (nothing disappears silently).
-- Parameters: $tz, $start_week, $end_week, $blocks.
with selected as (
    select
        experiment_id,
        coalesce((cast($blocks as varchar[]) is null or block is null or list_contains(cast($blocks as varchar[]), block))
        and ($start_week is null
            or timezone($tz, cast(end_ts as timestamptz)) > cast($start_week as timestamp))
        and ($end_week is null
            or timezone($tz, cast(start_ts as timestamptz)) < cast($end_week as timestamp) + interval 7 day), false)
            as selected
    from experiments
),
variant_rows as (
    select experiment_id, count(*) as variants, count(*) filter (where is_control) as controls
    from experiment_variants
    group by experiment_id
),
assigned as (
    select experiment_id, count(*) as assignments
    from assignments
    group by experiment_id
)
select
    s.experiment_id,
    s.selected,
    coalesce(v.variants, 0) as variants,
    coalesce(v.controls, 0) as controls,
    coalesce(a.assignments, 0) as assignments
from selected as s
left join variant_rows as v using (experiment_id)
left join assigned as a using (experiment_id)
order by s.experiment_id
