-- experiment_novelty: the four per-user metrics by week since assignment (novelty check).
-- Grain: (experiment_id, variant, metric, week_since). Week k of a user = [from_ts + 7k days,
-- from_ts + 7(k + 1) days) cut at end_ts, from_ts = max(start_ts, assigned_ts); a user counts in
-- week k when that week starts before end_ts (a last, partial week included). users, mean and
-- sample variance (ddof 1) as in experiments.sql; the comparison is done in Python.
-- Parameters: $tz, $start_week, $end_week, $blocks, $platform (and $window_days).
-- Depends: stg_clicks, stg_attributed_lines.
with selected_experiments as (
    select experiment_id, block, start_ts, end_ts
    from experiments
    where (cast($blocks as varchar[]) is null or block is null or list_contains(cast($blocks as varchar[]), block))
        and ($start_week is null
            or timezone($tz, cast(end_ts as timestamptz)) > cast($start_week as timestamp))
        and ($end_week is null
            or timezone($tz, cast(start_ts as timestamptz)) < cast($end_week as timestamp) + interval 7 day)
),
metric_names (metric, metric_order) as (
    values ('conversion', 1), ('rec_conversion', 2), ('gmv_per_user', 3), ('clicks_per_user', 4)
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
-- at most 26 weeks since assignment are shown
user_weeks as (
    select
        m.experiment_id, m.variant, m.user_id, m.block, r.k as week_since,
        m.from_ts + to_days(cast(7 * r.k as integer)) as week_from,
        least(m.from_ts + to_days(cast(7 * r.k + 7 as integer)), m.to_ts) as week_to
    from members as m
    cross join range(26) as r(k)
    where m.from_ts + to_days(cast(7 * r.k as integer)) < m.to_ts
),
clicks as (
    select e.user_id, e.ts, e.block
    from stg_clicks as e
    where (cast($platform as varchar) is null or e.platform = $platform)
        and (e.block is null or cast($blocks as varchar[]) is null or list_contains(cast($blocks as varchar[]), e.block))
),
week_clicks as (
    select w.experiment_id, w.user_id, w.week_since, count(*) as clicks
    from user_weeks as w
    join clicks as e
        on e.user_id = w.user_id
        and e.ts >= w.week_from
        and e.ts < w.week_to
    where w.block is null or e.block = w.block
    group by all
),
week_lines as (
    select
        w.experiment_id, w.user_id, w.week_since,
        sum(l.line_value) as gmv,
        max(case when l.attributed and (w.block is null or l.touch_block = w.block) then 1 else 0 end) as rec_converted
    from user_weeks as w
    join stg_attributed_lines as l
        on l.user_id = w.user_id
        and l.ts >= w.week_from
        and l.ts < w.week_to
    group by all
),
per_user as (
    select
        w.experiment_id, w.variant, w.week_since,
        cast(case when l.user_id is null then 0 else 1 end as double) as conversion,
        cast(coalesce(l.rec_converted, 0) as double) as rec_conversion,
        cast(coalesce(l.gmv, 0) as double) as gmv_per_user,
        cast(coalesce(c.clicks, 0) as double) as clicks_per_user
    from user_weeks as w
    left join week_lines as l
        on l.experiment_id = w.experiment_id and l.user_id = w.user_id and l.week_since = w.week_since
    left join week_clicks as c
        on c.experiment_id = w.experiment_id and c.user_id = w.user_id and c.week_since = w.week_since
),
wide as (
    select
        experiment_id, variant, week_since, count(*) as users,
        avg(conversion) as conversion_mean, var_samp(conversion) as conversion_variance,
        avg(rec_conversion) as rec_conversion_mean, var_samp(rec_conversion) as rec_conversion_variance,
        avg(gmv_per_user) as gmv_per_user_mean, var_samp(gmv_per_user) as gmv_per_user_variance,
        avg(clicks_per_user) as clicks_per_user_mean, var_samp(clicks_per_user) as clicks_per_user_variance
    from per_user
    group by all
)
select
    w.experiment_id,
    w.variant,
    n.metric,
    w.week_since,
    w.users,
    case n.metric
        when 'conversion' then w.conversion_mean
        when 'rec_conversion' then w.rec_conversion_mean
        when 'gmv_per_user' then w.gmv_per_user_mean
        else w.clicks_per_user_mean
    end as mean,
    case n.metric
        when 'conversion' then w.conversion_variance
        when 'rec_conversion' then w.rec_conversion_variance
        when 'gmv_per_user' then w.gmv_per_user_variance
        else w.clicks_per_user_variance
    end as variance
from wide as w
cross join metric_names as n
order by w.experiment_id, w.variant, n.metric_order, w.week_since
