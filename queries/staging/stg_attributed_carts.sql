-- stg_attributed_carts: add_to_cart events attributed like order lines (last click on the item
-- by the same user within the window), counted in the week of the cart.
-- Grain: add_to_cart event. Parameters: $tz, $window_days, $blocks, $platform.
-- Depends: stg_tz, stg_clicks.
-- Carts pass the same filters as every event (stg_activity): the platform filter, and the
-- block filter when a cart carries a block.
-- The latest click at or before the cart as in stg_attributed_lines: hash join, arg_max by
-- (ts, event_id).
with carts as (
    select
        e.event_id,
        e.ts,
        e.user_id,
        e.item_id,
        -- local_ts(): queries/macros/local_ts.sql, timezone($tz, …) by stg_tz's hourly offsets
        cast(date_trunc('week', local_ts(e.ts)) as date) as week_start
    from events as e
    cross join stg_tz as z
    where e.event_type = 'add_to_cart'
        and (cast($platform as varchar) is null or e.platform = $platform)
        and (e.block is null or cast($blocks as varchar[]) is null or list_contains(cast($blocks as varchar[]), e.block))
),
touches as (
    select
        a.event_id,
        arg_max(struct_pack(ts := c.ts, block := c.block), struct_pack(ts := c.ts, event_id := c.event_id)) as touch
    from carts as a
    join stg_clicks as c
        on c.user_id = a.user_id
        and c.item_id = a.item_id
        and c.ts <= a.ts
    group by a.event_id
),
touched as (
    select a.*, t.touch.ts as touch_ts, t.touch.block as touch_block
    from carts as a
    join touches as t using (event_id)
)
select
    event_id,
    ts,
    user_id,
    item_id,
    week_start,
    touch_block
from touched
where touch_ts >= ts - to_days(cast($window_days as integer))
    and (cast($blocks as varchar[]) is null or list_contains(cast($blocks as varchar[]), touch_block))
