-- stg_lines: order lines (purchases) with the item's fallbacks, value and local week.
-- Grain: (order_id, item_id). Parameters: $tz, $platform.
-- A line's platform is its session's platform (as in stg_sessions: the first event's that has
-- one), else the buyer's users.platform. Returned lines stay purchase lines here; only returns
-- metrics look at `returned`.
-- The platform matters only to the platform filter and is not a column of the result: the
-- sessions are looked up only when the filter is set (DuckDB folds `$platform is not null` and
-- skips the scan), and then only the sessions that orders name, not every session of stg_sessions.
with line_sessions as (
    select session_id, arg_min(platform, struct_pack(ts := ts, event_id := event_id)) as platform
    from events
    where cast($platform as varchar) is not null
        and session_id in (select session_id from orders)
    group by session_id
),
lines as (
    select
        o.order_id,
        o.item_id,
        o.ts,
        o.user_id,
        o.session_id,
        coalesce(o.seller_id, i.seller_id) as seller_id,
        i.category,
        o.quantity,
        o.price,
        coalesce(o.market_price, i.market_price) as market_price,
        o.price * o.quantity as line_value,
        o.commission,
        o.delivery_cost,
        o.discount,
        o.returned,
        coalesce(s.platform, u.platform) as platform,
        timezone($tz, cast(o.ts as timestamptz)) as local_ts
    from orders as o
    left join items as i on i.item_id = o.item_id
    left join line_sessions as s on s.session_id = o.session_id
    left join users as u on u.user_id = o.user_id
)
select
    * exclude (local_ts, platform),
    cast(date_trunc('week', local_ts) as date) as week_start,
    cast(local_ts as date) as day
from lines
where cast($platform as varchar) is null or platform = $platform
