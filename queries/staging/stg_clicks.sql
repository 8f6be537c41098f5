-- stg_clicks: every recommendation click, unfiltered.
-- Grain: click event. Parameters: none.
-- Unfiltered: the last touch is a fact of the data (filters then keep or drop its block), and
-- the readers apply the platform and block filters themselves where they count clicks.
-- Read by attribution (stg_attributed_lines, stg_attributed_carts: the latest click on the
-- item, ties on ts to the larger event_id), buyer_weekly's converted clicks and the experiments'
-- clicks per user: one scan of the events for all of them.
select event_id, ts, user_id, item_id, block, platform
from events
where event_type = 'click'
