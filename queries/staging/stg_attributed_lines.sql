-- stg_attributed_lines: every order line with its touch click (last click by the same user on
-- the same item within [ts - window_days x 24 h, ts], both ends inclusive), if any.
-- Grain: (order_id, item_id). Parameters: $window_days, $blocks. Depends: stg_lines, stg_clicks.
-- DuckDB-specific: ASOF JOIN finds the latest click at or before the order in one pass.
-- `attributed` also requires the touch block to be among the selected blocks.
with touched as (
    select
        l.*,
        c.event_id as touch_event_id,
        c.ts as touch_ts,
        c.block as touch_block
    from stg_lines as l
    asof left join stg_clicks as c
        on c.user_id = l.user_id
        and c.item_id = l.item_id
        and l.ts >= c.ts
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
