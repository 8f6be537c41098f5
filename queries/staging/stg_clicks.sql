-- stg_clicks: recommendation clicks that purchases and carts can be attributed to.
-- Grain: (user_id, item_id, ts): of clicks at the same instant the larger event_id wins
-- (the spec's tie rule), so the as-of join below finds exactly one touch.
-- Unfiltered: the last touch is a fact of the data; filters then keep or drop its block.
select event_id, ts, user_id, item_id, block
from events
where event_type = 'click'
qualify row_number() over (partition by user_id, item_id, ts order by event_id desc) = 1
