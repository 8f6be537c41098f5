-- stg_sessions: one row per session_id, described by its first event (ties: smaller event_id).
-- Grain: session_id. Parameters: $tz.
-- Unfiltered: the platform filter is applied by the readers, on the session's platform.
select
    session_id,
    arg_min(user_id, struct_pack(ts := ts, event_id := event_id)) as user_id,
    arg_min(platform, struct_pack(ts := ts, event_id := event_id)) as platform,
    min(ts) as first_ts,
    cast(date_trunc('week', timezone($tz, cast(min(ts) as timestamptz))) as date) as week_start
from events
where session_id is not null
group by session_id
