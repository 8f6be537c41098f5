-- stg_sessions: one row per session_id, described by its first event (ties: smaller event_id).
-- Grain: session_id. Parameters: $tz. Depends: stg_tz.
-- Unfiltered: the platform filter is applied by the readers, on the session's platform.
-- user_id is the first event's; platform is that of the first event that has a platform (the
-- semantics of arg_min(platform, ...), which skips NULLs), NULL when none has one.
-- uses_filter, uses_suggest: any event of the session is a filter_use / suggest_use, whatever
-- its platform (a session is judged as a whole); read here, in the pass that groups the events by
-- session anyway, rather than by a second scan of every event.
-- One arg_min picks user and platform of the first event together (ordering 10M rows by the
-- (ts, event_id) struct twice cost 25 % more); only sessions whose first event has no platform
-- while a later one has are read again for the NULL-skipping platform (none in a clean source).
with firsts as (
    select
        session_id,
        arg_min(struct_pack(user_id := user_id, platform := platform), struct_pack(ts := ts, event_id := event_id)) as first_event,
        min(ts) as first_ts,
        count(platform) as events_with_platform,
        bool_or(event_type = 'filter_use') as uses_filter,
        bool_or(event_type = 'suggest_use') as uses_suggest
    from events
    where session_id is not null
    group by session_id
),
later_platforms as (
    select session_id, arg_min(platform, struct_pack(ts := ts, event_id := event_id)) as platform
    from events
    where session_id in (
        select session_id
        from firsts
        where first_event.platform is null and events_with_platform > 0
    )
    group by session_id
)
select
    f.session_id,
    f.first_event.user_id as user_id,
    coalesce(f.first_event.platform, p.platform) as platform,
    f.first_ts,
    f.uses_filter,
    f.uses_suggest,
    -- local_ts(): queries/macros/local_ts.sql, timezone($tz, …) by stg_tz's hourly offsets
    cast(date_trunc('week', local_ts(f.first_ts)) as date) as week_start
from firsts as f
left join later_platforms as p using (session_id)
cross join stg_tz as z
