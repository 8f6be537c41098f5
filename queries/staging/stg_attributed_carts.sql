-- stg_attributed_carts: add_to_cart events attributed like order lines (last click on the item
-- by the same user within the window), counted in the week of the cart.
-- Grain: add_to_cart event. Parameters: $window_days, $blocks. Depends: stg_events, stg_clicks.
-- DuckDB-specific: ASOF JOIN, as in stg_attributed_lines.
with carts as (
    select event_id, ts, user_id, item_id, week_start
    from stg_events
    where event_type = 'add_to_cart'
),
touched as (
    select a.*, c.event_id as touch_event_id, c.ts as touch_ts, c.block as touch_block
    from carts as a
    asof left join stg_clicks as c
        on c.user_id = a.user_id
        and c.item_id = a.item_id
        and a.ts >= c.ts
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
