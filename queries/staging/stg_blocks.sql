-- stg_blocks: the recommendation blocks to report, each once.
-- Grain: block. Parameters: $blocks, $platform, $start_week, $end_week. Depends: stg_activity.
-- Every non-null events.block, whatever the event type, platform and date, within the block
-- filter: the blocks of the week x block grids (buyer_weekly, time_to_purchase_weekly, the
-- serving model). Without a platform or date filter stg_activity has seen every event and its
-- blocks are these; otherwise the events are read again. DuckDB folds the conditions on the
-- parameters, so only one branch runs.
select distinct block
from stg_activity
where block is not null
    and cast($platform as varchar) is null and $start_week is null and $end_week is null
union
select distinct block
from events
where block is not null
    and not (cast($platform as varchar) is null and $start_week is null and $end_week is null)
    and (cast($blocks as varchar[]) is null or list_contains(cast($blocks as varchar[]), block))
