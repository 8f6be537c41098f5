-- experiment_names: what the pages and the weekly review show beside an experiment's id.
-- Grain: one row per experiment_id. Parameters: $tz.
-- `running`: the experiment ends after the data's last day (local), i.e. after the first local
-- midnight after the latest event or order: its results are not final yet (always-valid interval).
with data_end as (
    select max(ts) as last_ts
    from (
        select max(ts) as ts from events
        union all
        select max(ts) as ts from orders
    )
)
select
    x.experiment_id,
    x.name,
    x.start_ts,
    x.end_ts,
    coalesce(
        timezone($tz, cast(x.end_ts as timestamptz))
            > date_trunc('day', timezone($tz, cast(d.last_ts as timestamptz))) + interval 1 day,
        false
    ) as running
from experiments as x
cross join data_end as d
