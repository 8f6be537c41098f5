-- experiments: per-user outcome metrics of A/B tests, aggregated per variant.
-- Grain: one row per (experiment_id, variant, metric) for every variant of experiment_variants
-- of the selected experiments and the metrics conversion, rec_conversion, gmv_per_user,
-- clicks_per_user. users, mean and the sample variance (ddof 1) of the per-user values y; the
-- same of the pre-period values x ([start_ts - pre_days x 24 h, start_ts), every assigned user,
-- 0 without activity) and the sample covariance of x and y (CUPED); the comparison with the
-- control, CUPED and the SRM test are done in Python (dashboard/engine/stats.py).
-- With $cap_quantile (NULL = off), gmv_per_user and its x are each winsorized at that quantile
-- (quantile_cont) of the experiment's pooled assigned users' values.
-- Parameters: $tz, $start_week, $end_week, $blocks, $platform, $pre_days, $cap_quantile (and the
-- staging tables' $window_days).
-- Depends: stg_clicks, stg_attributed_lines.
--
-- An experiment is a self-contained unit: filters choose experiments, they never cut one.
-- * date filter: experiments whose [start_ts, end_ts) overlaps the selected local weeks;
-- * block filter: experiments whose block is selected. An experiment without a block tests the
--   model on every surface: it is always kept and its block-bound metrics count every selected block;
-- * platform filter: only the users' events and order lines on that platform count (as in staging);
--   the users themselves (and so the SRM test) stay all assigned users.
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
variants as (
    select
        v.experiment_id,
        v.variant,
        v.model_version,
        v.is_control,
        v.traffic_share,
        x.block
    from experiment_variants as v
    join selected_experiments as x using (experiment_id)
),
-- A user's activity counts from max(start_ts, assigned_ts) up to, not including, end_ts (period
-- 'y'); the pre-period (period 'x') is [start_ts - pre_days x 24 h, start_ts) for every assigned
-- user, whenever they were assigned.
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
windows as (
    select experiment_id, user_id, 'y' as period, from_ts, to_ts, block
    from members
    union all
    select
        m.experiment_id, m.user_id, 'x' as period,
        x.start_ts - to_days(cast($pre_days as integer)) as from_ts, x.start_ts as to_ts, m.block
    from members as m
    join selected_experiments as x using (experiment_id)
),
-- clicks that pass the filters of every event (platform; the block filter on their block)
clicks as (
    select e.user_id, e.ts, e.block
    from stg_clicks as e
    where (cast($platform as varchar) is null or e.platform = $platform)
        and (e.block is null or cast($blocks as varchar[]) is null or list_contains(cast($blocks as varchar[]), e.block))
),
-- Two joins rather than one on `m.block is null or e.block = m.block`: the OR would leave
-- user_id as the only hash key and pair every click with every experiment of its user.
user_clicks as (
    select experiment_id, user_id, period, count(*) as clicks
    from (
        -- an experiment on one block counts the clicks in that block
        select m.experiment_id, m.user_id, m.period
        from windows as m
        join clicks as e
            on e.user_id = m.user_id
            and e.block = m.block
            and e.ts >= m.from_ts
            and e.ts < m.to_ts
        union all
        -- an experiment without a block counts the clicks in every selected block
        select m.experiment_id, m.user_id, m.period
        from windows as m
        join clicks as e
            on e.user_id = m.user_id
            and e.ts >= m.from_ts
            and e.ts < m.to_ts
        where m.block is null
    )
    group by all
),
-- Every line in the window is a purchase (conversion, GMV); rec_conversion needs its touch
-- click in the experiment's block, wherever that click lies in time (it may precede the window).
user_lines as (
    select
        m.experiment_id,
        m.user_id,
        m.period,
        sum(l.line_value) as gmv,
        max(case when l.attributed and (m.block is null or l.touch_block = m.block) then 1 else 0 end) as rec_converted
    from windows as m
    join stg_attributed_lines as l
        on l.user_id = m.user_id
        and l.ts >= m.from_ts
        and l.ts < m.to_ts
    group by all
),
-- Assigned users without any activity stay in with zeros: they are the experiment's denominator.
-- y_*: in the experiment's window; x_*: in the pre-period.
per_user_raw as (
    select
        m.experiment_id,
        m.variant,
        m.user_id,
        cast(case when l.user_id is null then 0 else 1 end as double) as conversion,
        cast(coalesce(l.rec_converted, 0) as double) as rec_conversion,
        cast(coalesce(l.gmv, 0) as double) as gmv_per_user,
        cast(coalesce(c.clicks, 0) as double) as clicks_per_user,
        cast(case when lx.user_id is null then 0 else 1 end as double) as pre_conversion,
        cast(coalesce(lx.rec_converted, 0) as double) as pre_rec_conversion,
        cast(coalesce(lx.gmv, 0) as double) as pre_gmv_per_user,
        cast(coalesce(cx.clicks, 0) as double) as pre_clicks_per_user
    from members as m
    left join user_lines as l
        on l.experiment_id = m.experiment_id and l.user_id = m.user_id and l.period = 'y'
    left join user_clicks as c
        on c.experiment_id = m.experiment_id and c.user_id = m.user_id and c.period = 'y'
    left join user_lines as lx
        on lx.experiment_id = m.experiment_id and lx.user_id = m.user_id and lx.period = 'x'
    left join user_clicks as cx
        on cx.experiment_id = m.experiment_id and cx.user_id = m.user_id and cx.period = 'x'
),
-- Capping of money (off when $cap_quantile is NULL): the cap of each experiment is the quantile
-- of its pooled assigned users' values, one for y and one for x.
caps as (
    select
        experiment_id,
        quantile_cont(gmv_per_user, coalesce(cast($cap_quantile as double), 1.0)) as gmv_cap,
        quantile_cont(pre_gmv_per_user, coalesce(cast($cap_quantile as double), 1.0)) as pre_gmv_cap
    from per_user_raw
    where $cap_quantile is not null
    group by experiment_id
),
per_user as (
    select
        u.experiment_id, u.variant, u.user_id, u.conversion, u.rec_conversion, u.clicks_per_user,
        u.pre_conversion, u.pre_rec_conversion, u.pre_clicks_per_user,
        case when k.gmv_cap is not null and u.gmv_per_user > k.gmv_cap then k.gmv_cap else u.gmv_per_user end as gmv_per_user,
        case when k.pre_gmv_cap is not null and u.pre_gmv_per_user > k.pre_gmv_cap then k.pre_gmv_cap
            else u.pre_gmv_per_user end as pre_gmv_per_user
    from per_user_raw as u
    left join caps as k using (experiment_id)
),
-- users, mean and variance of the four metrics in one pass over the users, then one row per metric
per_variant_wide as (
    select
        experiment_id,
        variant,
        count(*) as users,
        avg(conversion) as conversion_mean,
        var_samp(conversion) as conversion_variance,
        avg(pre_conversion) as conversion_pre_mean,
        var_samp(pre_conversion) as conversion_pre_variance,
        covar_samp(pre_conversion, conversion) as conversion_covariance,
        avg(rec_conversion) as rec_conversion_mean,
        var_samp(rec_conversion) as rec_conversion_variance,
        avg(pre_rec_conversion) as rec_conversion_pre_mean,
        var_samp(pre_rec_conversion) as rec_conversion_pre_variance,
        covar_samp(pre_rec_conversion, rec_conversion) as rec_conversion_covariance,
        avg(gmv_per_user) as gmv_per_user_mean,
        var_samp(gmv_per_user) as gmv_per_user_variance,
        avg(pre_gmv_per_user) as gmv_per_user_pre_mean,
        var_samp(pre_gmv_per_user) as gmv_per_user_pre_variance,
        covar_samp(pre_gmv_per_user, gmv_per_user) as gmv_per_user_covariance,
        avg(clicks_per_user) as clicks_per_user_mean,
        var_samp(clicks_per_user) as clicks_per_user_variance,
        avg(pre_clicks_per_user) as clicks_per_user_pre_mean,
        var_samp(pre_clicks_per_user) as clicks_per_user_pre_variance,
        covar_samp(pre_clicks_per_user, clicks_per_user) as clicks_per_user_covariance
    from per_user
    group by all
),
per_variant as (
    select
        w.experiment_id,
        w.variant,
        n.metric,
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
        end as variance,
        case n.metric
            when 'conversion' then w.conversion_pre_mean
            when 'rec_conversion' then w.rec_conversion_pre_mean
            when 'gmv_per_user' then w.gmv_per_user_pre_mean
            else w.clicks_per_user_pre_mean
        end as pre_mean,
        case n.metric
            when 'conversion' then w.conversion_pre_variance
            when 'rec_conversion' then w.rec_conversion_pre_variance
            when 'gmv_per_user' then w.gmv_per_user_pre_variance
            else w.clicks_per_user_pre_variance
        end as pre_variance,
        case n.metric
            when 'conversion' then w.conversion_covariance
            when 'rec_conversion' then w.rec_conversion_covariance
            when 'gmv_per_user' then w.gmv_per_user_covariance
            else w.clicks_per_user_covariance
        end as covariance
    from per_variant_wide as w
    cross join metric_names as n
)
-- Variants without users keep their rows (users 0, mean NULL): the SRM test needs them.
select
    v.experiment_id,
    v.variant,
    n.metric,
    v.is_control,
    v.traffic_share,
    v.model_version,
    v.block,
    coalesce(s.users, 0) as users,
    s.mean,
    s.variance,
    s.pre_mean,
    s.pre_variance,
    s.covariance
from variants as v
cross join metric_names as n
left join per_variant as s
    on s.experiment_id = v.experiment_id
    and s.variant = v.variant
    and s.metric = n.metric
order by v.experiment_id, v.variant, n.metric_order
