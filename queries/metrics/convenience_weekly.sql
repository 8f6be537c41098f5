-- convenience_weekly: do sessions that use a convenience feature convert more, naively and
-- within strata of similar users?
-- Grain: one row per (week_start, feature), feature in ('filter_use', 'suggest_use').
-- Parameters: $tz, $platform (and the staging tables' parameters).
-- Depends: stg_weeks, stg_sessions, stg_lines.
-- A session is described by its first event (week, user, platform: stg_sessions); the platform
-- filter keeps the sessions whose first event is on that platform. Stratum = (platform, activity
-- bucket); a null platform is a stratum of its own (group by keeps nulls together).
with features as (
    select 'filter_use' as feature
    union all
    select 'suggest_use'
),
grid as (
    select w.week_start, f.feature
    from stg_weeks as w
    cross join features as f
    where w.in_filter
),
-- every session, whatever the filter: a user's activity does not depend on what is on screen
all_sessions as (
    select
        session_id,
        user_id,
        platform,
        week_start,
        timezone($tz, cast(first_ts as timestamptz)) as first_local_ts
    from stg_sessions
),
sessions as (
    select session_id, user_id, platform, week_start
    from all_sessions
    where cast($platform as varchar) is null or platform = $platform
),
-- from the raw events: a session is judged as a whole, even if one of its events sits on another
-- platform (or none), which the platform filter of stg_events would drop
feature_use as (
    select distinct session_id, event_type as feature
    from events
    where event_type in ('filter_use', 'suggest_use')
        and session_id is not null
),
-- any purchase line carrying the session id, whenever it was placed
converted_sessions as (
    select distinct session_id
    from stg_lines
    where session_id is not null
),
-- the user's distinct sessions with a first event in [week_start - 28 days, week_start), local time
user_activity as (
    select u.user_id, u.week_start, count(distinct p.session_id) as prior_sessions
    from (select distinct user_id, week_start from sessions) as u
    left join all_sessions as p
        on p.user_id = u.user_id
        and p.first_local_ts >= cast(u.week_start as timestamp) - interval 28 day
        and p.first_local_ts < cast(u.week_start as timestamp)
    group by u.user_id, u.week_start
),
session_facts as (
    select
        s.week_start,
        s.session_id,
        s.platform,
        case
            when a.prior_sessions = 0 then '0'
            when a.prior_sessions <= 2 then '1-2'
            when a.prior_sessions <= 5 then '3-5'
            else '6+'
        end as activity_bucket,
        c.session_id is not null as converted
    from sessions as s
    join user_activity as a using (user_id, week_start)
    left join converted_sessions as c using (session_id)
),
session_features as (
    select s.*, f.feature, u.session_id is not null as uses_feature
    from session_facts as s
    cross join features as f
    left join feature_use as u
        on u.session_id = s.session_id
        and u.feature = f.feature
),
overall as (
    select
        week_start,
        feature,
        count(*) as sessions,
        count(*) filter (where uses_feature) as feature_sessions,
        count(*) filter (where uses_feature and converted) as converted_with,
        count(*) filter (where not uses_feature and converted) as converted_without
    from session_features
    group by week_start, feature
),
-- strata holding both kinds of sessions; the others cannot compare like with like
strata as (
    select
        week_start,
        feature,
        count(*) filter (where uses_feature) as weight,
        count(*) filter (where uses_feature and converted) / count(*) filter (where uses_feature)
            - count(*) filter (where not uses_feature and converted) / count(*) filter (where not uses_feature)
            as diff
    from session_features
    group by week_start, feature, platform, activity_bucket
    having count(*) filter (where uses_feature) > 0
        and count(*) filter (where not uses_feature) > 0
),
matched as (
    select
        week_start,
        feature,
        sum(weight * diff) / sum(weight) as matched_diff,
        sum(weight) as matched_feature_sessions
    from strata
    group by week_start, feature
),
rates as (
    select
        g.week_start,
        g.feature,
        coalesce(o.sessions, 0) as sessions,
        coalesce(o.feature_sessions, 0) as feature_sessions,
        o.converted_with / nullif(o.feature_sessions, 0) as conv_with,
        o.converted_without / nullif(o.sessions - o.feature_sessions, 0) as conv_without,
        m.matched_diff,
        m.matched_feature_sessions
    from grid as g
    left join overall as o using (week_start, feature)
    left join matched as m using (week_start, feature)
)
select
    week_start,
    feature,
    sessions,
    feature_sessions,
    feature_sessions / nullif(sessions, 0) as feature_share,
    conv_with,
    conv_without,
    conv_with - conv_without as naive_diff,
    matched_diff,
    -- 0 when feature sessions exist but no stratum qualifies; NULL when there are none
    coalesce(matched_feature_sessions, 0) / nullif(feature_sessions, 0) as matched_share
from rates
order by week_start, feature
