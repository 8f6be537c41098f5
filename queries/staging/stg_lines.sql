-- stg_lines: order lines (purchases) with the item's fallbacks, value and local week.
-- Grain: (order_id, item_id). Parameters: $tz, $platform. Depends: stg_sessions.
-- A line's platform is its session's platform, else the buyer's users.platform.
-- Returned lines stay purchase lines here; only returns metrics look at `returned`.
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
    cast(date_trunc('week', timezone($tz, cast(o.ts as timestamptz))) as date) as week_start,
    cast(timezone($tz, cast(o.ts as timestamptz)) as date) as day
from orders as o
left join items as i on i.item_id = o.item_id
left join stg_sessions as s on s.session_id = o.session_id
left join users as u on u.user_id = o.user_id
where cast($platform as varchar) is null or coalesce(s.platform, u.platform) = $platform
