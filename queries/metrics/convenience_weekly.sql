-- convenience_weekly: do sessions that use a convenience feature convert more, naively and
-- within strata of similar users?
-- Grain: one row per (week_start, feature), feature in ('filter_use', 'suggest_use').
-- Parameters: $platform (and the staging tables' $tz and others).
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
    select session_id, user_id, platform, week_start, uses_filter, uses_suggest
    from stg_sessions
),
-- feature use is read from every event of the session, whatever its platform (stg_sessions)
sessions as (
    select session_id, user_id, platform, week_start, uses_filter, uses_suggest
    from all_sessions
    where cast($platform as varchar) is null or platform = $platform
),
-- any purchase line carrying the session id, whenever it was placed
converted_sessions as (
    select distinct session_id
    from stg_lines
    where session_id is not null
),
-- the user's distinct sessions with a first event in [week_start - 28 days, week_start), local
-- time. week_start is a local Monday, so those are exactly the sessions of the four weeks
-- before: a window over per-week counts instead of a join of every session to its user's
-- sessions (stg_sessions has one row per session, so counting rows counts distinct sessions).
user_activity as (
    select
        user_id,
        week_start,
        coalesce(sum(sessions) over (
            partition by user_id
            order by week_start - date '2000-01-03'
            range between 28 preceding and 1 preceding
        ), 0) as prior_sessions
    from (
        select user_id, week_start, count(*) as sessions
        from all_sessions
        group by all
    )
),
session_facts as (
    select
        s.week_start,
        s.platform,
        case
            when a.prior_sessions = 0 then '0'
            when a.prior_sessions <= 2 then '1-2'
            when a.prior_sessions <= 5 then '3-5'
            else '6+'
        end as activity_bucket,
        c.session_id is not null as converted,
        s.uses_filter,
        s.uses_suggest
    from sessions as s
    join user_activity as a using (user_id, week_start)
    left join converted_sessions as c using (session_id)
),
-- one row per (week, stratum) with what both features need: a single pass over the sessions
stratum_counts as (
    select
        week_start,
        platform,
        activity_bucket,
        count(*) as sessions,
        count(*) filter (where converted) as converted,
        count(*) filter (where uses_filter) as filter_sessions,
        count(*) filter (where uses_filter and converted) as filter_converted,
        count(*) filter (where uses_suggest) as suggest_sessions,
        count(*) filter (where uses_suggest and converted) as suggest_converted
    from session_facts
    group by all
),
stratum_features as (
    select
        s.week_start,
        f.feature,
        s.platform,
        s.activity_bucket,
        s.sessions,
        case f.feature when 'filter_use' then s.filter_sessions else s.suggest_sessions end as feature_sessions,
        case f.feature when 'filter_use' then s.filter_converted else s.suggest_converted end as converted_with,
        s.converted - case f.feature when 'filter_use' then s.filter_converted else s.suggest_converted end
            as converted_without
    from stratum_counts as s
    cross join features as f
),
overall as (
    select
        week_start,
        feature,
        cast(sum(sessions) as bigint) as sessions,
        cast(sum(feature_sessions) as bigint) as feature_sessions,
        cast(sum(converted_with) as bigint) as converted_with,
        cast(sum(converted_without) as bigint) as converted_without
    from stratum_features
    group by week_start, feature
),
-- strata holding both kinds of sessions; the others cannot compare like with like
strata as (
    select
        week_start,
        feature,
        feature_sessions as weight,
        converted_with / feature_sessions - converted_without / (sessions - feature_sessions) as diff
    from stratum_features
    where feature_sessions > 0
        and sessions - feature_sessions > 0
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
