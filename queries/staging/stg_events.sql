-- stg_events: events narrowed by the block and platform filters, with local week and day.
-- Grain: one row per event. Parameters: $tz, $blocks, $platform.
-- Events without a block (app_open, add_to_cart, filter_use, suggest_use) are kept by the
-- block filter: it narrows recommendation surfaces, not users' other activity.
select
    e.event_id,
    e.ts,
    e.user_id,
    e.session_id,
    e.event_type,
    e.item_id,
    e.block,
    e.position,
    e.model_version,
    e.platform,
    cast(date_trunc('week', timezone($tz, cast(e.ts as timestamptz))) as date) as week_start,
    cast(timezone($tz, cast(e.ts as timestamptz)) as date) as day
from events as e
where (cast($platform as varchar) is null or e.platform = $platform)
    and (e.block is null or cast($blocks as varchar[]) is null or list_contains(cast($blocks as varchar[]), e.block))
