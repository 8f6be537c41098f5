-- business_weekly: audience, orders, GMV and the parts of contribution per week.
-- Grain: one row per week_start. Parameters: $tz (and the staging tables' filters).
-- Depends: stg_weeks, stg_activity, stg_attributed_lines.
-- ad_spend is not narrowed by block or platform filters: it has neither.
with weeks as (
    select week_start, is_complete, days_in_range, in_filter
    from stg_weeks
),
-- one row per (user, week with any event); days = the local weekdays with one, as bits
user_weeks as (
    select week_start, user_id, bit_or(days) as days
    from stg_activity
    group by all
),
-- Σ over the week's days of distinct users that day = Σ over users of their active days
weekly_users as (
    select week_start, sum(bit_count(days)) as user_days, count(*) as wau
    from user_weeks
    group by all
),
-- 28 days ending at a week's end are exactly that week and the three before it. Each user
-- once per week: distinct (user, week) pairs first, then a plain count, which is several times
-- faster than count(distinct user_id) per group.
monthly_users as (
    select week_start, count(*) as mau
    from (
        select distinct u.user_id, cast(u.week_start + to_weeks(k.k) as date) as week_start
        from user_weeks as u
        cross join range(4) as k(k)
    )
    group by all
),
first_purchase as (
    -- "first order line ever": over all orders, whatever the filters
    select user_id, cast(date_trunc('week', timezone($tz, cast(min(ts) as timestamptz))) as date) as first_week
    from orders
    group by user_id
),
lines as (
    select * from stg_attributed_lines
),
sales as (
    select
        week_start,
        count(distinct user_id) as buyers,
        count(distinct order_id) as orders,
        sum(line_value) as gmv,
        coalesce(sum(line_value) filter (where returned), 0) as returns_gmv,
        coalesce(sum(commission) filter (where not returned), 0) as commission,
        sum(delivery_cost) as delivery_cost,
        sum(discount) as discount,
        coalesce(sum(line_value) filter (where attributed), 0) as rec_gmv
    from lines
    group by all
),
new_buyers as (
    select l.week_start, count(distinct l.user_id) as new_buyers
    from lines as l
    join first_purchase as f on f.user_id = l.user_id and f.first_week = l.week_start
    group by all
),
ads as (
    select cast(date_trunc('week', date) as date) as week_start, sum(amount) as ad_revenue
    from ad_spend
    group by all
),
filled as (
    select
        w.week_start,
        w.is_complete,
        w.in_filter,
        coalesce(wu.user_days, 0) / w.days_in_range as dau_avg,
        coalesce(wu.wau, 0) as wau,
        coalesce(mu.mau, 0) as mau,
        coalesce(s.buyers, 0) as buyers,
        coalesce(n.new_buyers, 0) as new_buyers,
        coalesce(s.orders, 0) as orders,
        coalesce(s.gmv, 0) as gmv,
        coalesce(s.returns_gmv, 0) as returns_gmv,
        coalesce(s.commission, 0) as commission,
        coalesce(a.ad_revenue, 0) as ad_revenue,
        coalesce(s.delivery_cost, 0) as delivery_cost,
        coalesce(s.discount, 0) as discount,
        coalesce(s.rec_gmv, 0) as rec_gmv
    from weeks as w
    left join weekly_users as wu using (week_start)
    left join monthly_users as mu using (week_start)
    left join sales as s using (week_start)
    left join new_buyers as n using (week_start)
    left join ads as a using (week_start)
)
select
    week_start,
    is_complete,
    dau_avg,
    wau,
    mau,
    dau_avg / nullif(mau, 0) as stickiness,
    buyers,
    new_buyers,
    orders,
    gmv,
    gmv / nullif(orders, 0) as aov,
    returns_gmv,
    gmv - returns_gmv as net_gmv,
    commission,
    ad_revenue,
    commission + ad_revenue as revenue,
    delivery_cost,
    discount,
    commission + ad_revenue - delivery_cost - discount as contribution,
    (commission + ad_revenue - delivery_cost - discount) / nullif(gmv - returns_gmv, 0) as margin,
    rec_gmv / nullif(gmv, 0) as rec_gmv_share
from filled
where in_filter
order by week_start
