-- stg_touches: for every order line, the latest recommendation click by the same user on the
-- same item at or before the line (ties on ts: the larger event_id), however long before.
-- Grain: (order_id, item_id), lines with such a click only. Parameters: none of its own (those
-- of stg_lines). Depends: stg_lines, stg_clicks.
-- The window and the block filter are applied in stg_attributed_lines: kept apart, the costly
-- part (a join of every line with the clicks on its item) does not depend on them.
-- A hash join on (user_id, item_id) and arg_max by (ts, event_id). (An ASOF JOIN says the same
-- in one clause but sorts every click and needs the ties removed first; this is twice as fast
-- and portable.)
select
    l.order_id,
    l.item_id,
    arg_max(struct_pack(event_id := c.event_id, ts := c.ts, block := c.block),
            struct_pack(ts := c.ts, event_id := c.event_id)) as touch
from stg_lines as l
join stg_clicks as c
    on c.user_id = l.user_id
    and c.item_id = l.item_id
    and c.ts <= l.ts
group by l.order_id, l.item_id
