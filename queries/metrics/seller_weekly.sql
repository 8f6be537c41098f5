-- seller_weekly: how many sellers sell, how much, and how evenly, per week.
-- Grain: one row per week_start (weeks in the date filter).
-- Parameters: $tz, $n_sales, $has_sellers (whether the source gave a sellers table; the
-- absent table exists empty, so only the caller knows), and the staging tables' $platform.
-- Depends: stg_weeks, stg_lines.
-- Activity (who is a seller in a week) is a fact of the marketplace and reads the unfiltered
-- tables; sales read stg_lines, so the platform filter narrows sales, not the seller base.
with weeks as (
    select
        week_start,
        -- local Monday 00:00 as the UTC instant that joined_at/left_at/created_at are compared with
        cast(timezone($tz, cast(week_start as timestamp)) as timestamp) as week_start_at,
        cast(timezone($tz, cast(week_end as timestamp)) as timestamp) as week_end_at
    from stg_weeks
),
last_week as (
    select max(week_start) as week_start
    from stg_weeks
),
seller_lines as (
    select week_start, seller_id, order_id, line_value
    from stg_lines
    where seller_id is not null
),
-- every order line ever with its seller, whatever the filters: a seller's first sale
all_order_lines as (
    select coalesce(o.seller_id, i.seller_id) as seller_id, o.ts
    from orders as o
    left join items as i on i.item_id = o.item_id
),
listings as (
    select seller_id, created_at
    from items
),
reviews_with_seller as (
    select
        coalesce(r.seller_id, i.seller_id) as seller_id,
        r.ts,
        r.replied_at
    from reviews as r
    left join items as i on i.item_id = r.item_id
),

-- Each seller's span: active in a week when active_from (null = always) is before the
-- week's end and left_at (null = never) is not before the week's start.
given_spans as (
    select seller_id, joined_at as active_from, left_at
    from sellers
    where $has_sellers
),
derived_spans as (
    -- without a sellers table: from the first listing or first sale, never leaving;
    -- an item with an unknown created_at makes its seller a seller since always
    select
        seller_id,
        case when bool_or(since is null) then null else min(since) end as active_from,
        cast(null as timestamp) as left_at
    from (
        select seller_id, created_at as since from listings
        union all
        select seller_id, ts from all_order_lines where seller_id is not null
    )
    where not $has_sellers
    group by seller_id
),
spans as (
    select * from given_spans
    union all
    select * from derived_spans
),
active as (
    select w.week_start, s.seller_id
    from weeks as w
    join spans as s
        on (s.active_from is null or s.active_from < w.week_end_at)
        and (s.left_at is null or s.left_at >= w.week_start_at)
),
seller_sales as (
    -- a sale is an order with >= 1 line of the seller; returned lines remain sales
    select week_start, seller_id, count(distinct order_id) as sales, sum(line_value) as gmv
    from seller_lines
    group by all
),
-- zero-filled: an active seller without sales is in every denominator with 0
active_sales as (
    select
        a.week_start,
        a.seller_id,
        coalesce(s.sales, 0) as sales,
        coalesce(s.gmv, 0) as gmv
    from active as a
    left join seller_sales as s using (week_start, seller_id)
),
counts as (
    select
        week_start,
        count(*) as active_sellers,
        count(*) filter (where sales > $n_sales) as sellers_gt_n,
        count(*) filter (where sales >= 1) as sellers_with_sales
    from active_sales
    group by week_start
),
next_week_sales as (
    select
        a.week_start,
        count(*) as sellers_with_sales,
        -- the next week's sale counts whether or not the seller is still active then
        count(n.seller_id) as sellers_again
    from active_sales as a
    left join seller_sales as n
        on n.seller_id = a.seller_id
        and n.week_start = a.week_start + 7
    where a.sales >= 1
    group by a.week_start
),
-- Gini by the sorted formula G = sum((2i - n - 1) x_(i)) / (n sum x), x ascending, which
-- equals the spec's double sum sum_i sum_j |x_i - x_j| / (2 n^2 mean) in O(n log n).
gini_ranked as (
    select
        week_start,
        gmv,
        row_number() over (partition by week_start order by gmv) as i,
        count(*) over (partition by week_start) as n
    from active_sales
),
gini as (
    select
        week_start,
        sum((2 * i - n - 1) * gmv) / nullif(max(n) * sum(gmv), 0) as gmv_gini
    from gini_ranked
    group by week_start
),
top_ranked as (
    select
        week_start,
        gmv,
        row_number() over (partition by week_start order by gmv desc) as gmv_rank,
        count(*) over (partition by week_start) as m
    from active_sales
    where sales >= 1
),
top_share as (
    select
        week_start,
        -- ceil(0.1 m) in integers: (m + 9) // 10
        sum(gmv) filter (where gmv_rank <= (m + 9) // 10) / nullif(sum(gmv), 0) as gmv_top10_share
    from top_ranked
    group by week_start
),
new_assortment as (
    select a.week_start, count(*) as listing_sellers
    from active as a
    join (
        select distinct
            seller_id,
            cast(date_trunc('week', timezone($tz, cast(created_at as timestamptz))) as date) as week_start
        from listings
        where created_at is not null
    ) as l using (week_start, seller_id)
    group by a.week_start
),
review_sellers as (
    -- one row per (week, seller reviewed that week): did it reply to any of those reviews in time
    select
        week_start,
        count(*) as review_sellers,
        count(*) filter (where replied) as replying_sellers
    from (
        select
            cast(date_trunc('week', timezone($tz, cast(ts as timestamptz))) as date) as week_start,
            seller_id,
            coalesce(bool_or(replied_at <= ts + interval 7 day), false) as replied
        from reviews_with_seller
        where seller_id is not null
        group by all
    )
    group by week_start
)
select
    w.week_start,
    coalesce(c.active_sellers, 0) as active_sellers,
    cast($n_sales as bigint) as n_threshold,
    coalesce(c.sellers_gt_n, 0) as sellers_gt_n,
    coalesce(c.sellers_gt_n, 0) / nullif(coalesce(c.active_sellers, 0), 0) as share_gt_n,
    coalesce(c.sellers_with_sales, 0) as sellers_with_sales,
    case
        when w.week_start < (select week_start from last_week)
            then r.sellers_again / nullif(r.sellers_with_sales, 0)
    end as seller_retention_next_week,
    coalesce(na.listing_sellers, 0) / nullif(coalesce(c.active_sellers, 0), 0) as new_assortment_share,
    coalesce(rv.review_sellers, 0) as review_sellers,
    rv.replying_sellers / nullif(rv.review_sellers, 0) as reply_share,
    t.gmv_top10_share,
    g.gmv_gini
from stg_weeks as w
left join counts as c using (week_start)
left join next_week_sales as r using (week_start)
left join new_assortment as na using (week_start)
left join review_sellers as rv using (week_start)
left join top_share as t using (week_start)
left join gini as g using (week_start)
where w.in_filter
order by w.week_start
