-- stg_attributed_lines: every order line with its touch click (last click by the same user on
-- the same item within [ts - window_days x 24 h, ts], both ends inclusive), if any.
-- Grain: (order_id, item_id). Parameters: $window_days, $blocks. Depends: stg_lines, stg_touches.
-- `attributed` also requires the touch block to be among the selected blocks.
-- The latest click at or before the line is stg_touches'; it is the touch when within the window.
with touched as (
    select
        l.*,
        t.touch.event_id as touch_event_id,
        t.touch.ts as touch_ts,
        t.touch.block as touch_block
    from stg_lines as l
    left join stg_touches as t
        on t.order_id = l.order_id
        and t.item_id = l.item_id
)
select
    * exclude (touch_event_id, touch_ts, touch_block),
    case when in_window then touch_event_id end as touch_event_id,
    case when in_window then touch_ts end as touch_ts,
    case when in_window then touch_block end as touch_block,
    coalesce(in_window and (cast($blocks as varchar[]) is null or list_contains(cast($blocks as varchar[]), touch_block)), false) as attributed
from (
    select *, touch_ts >= ts - to_days(cast($window_days as integer)) as in_window
    from touched
)
