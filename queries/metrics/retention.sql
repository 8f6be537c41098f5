-- retention: buyer cohorts (basis 'purchase', per category and 'ALL') and visitor cohorts
-- (basis 'visit', 'ALL'): of the users whose first activity fell in cohort_week, the share
-- active again weeks_since weeks later.
-- Grain: one row per (basis, category, cohort_week, weeks_since), weeks_since 0..12 while
-- cohort_week + weeks_since is a complete week; only complete cohort weeks with >= 1 user.
-- Parameters: the staging tables' $tz, $platform, $blocks, $start_week, $end_week.
-- Depends: stg_weeks, stg_visits, stg_lines.
-- Cohorts and returns read the same filtered activity (stg_lines, stg_visits), so that
-- weeks_since 0 is always 1.0; the date filter only chooses which cohort weeks are shown,
-- a user's cohort is still their first week in all the data and later returns still count.
with lines as (
    select user_id, category, week_start
    from stg_lines
),
visits as (
    select user_id, week_start
    from stg_visits
),
weeks as (
    select week_start, is_complete, in_filter
    from stg_weeks
),

-- one row per (basis, category, user, week with activity of that kind)
activity as (
    select distinct 'purchase' as basis, 'ALL' as category, user_id, week_start
    from lines
    union all
    -- niche retention: only lines of the category count, for the cohort and the return
    select distinct 'purchase', category, user_id, week_start
    from lines
    where category is not null
    union all
    select distinct 'visit', 'ALL', user_id, week_start
    from visits
),
cohorts as (
    select basis, category, user_id, min(week_start) as cohort_week
    from activity
    group by all
),
cohort_sizes as (
    select c.basis, c.category, c.cohort_week, count(*) as cohort_size
    from cohorts as c
    join weeks as w on w.week_start = c.cohort_week
    where w.is_complete and w.in_filter
    group by all
),
grid as (
    select s.basis, s.category, s.cohort_week, k.weeks_since, s.cohort_size
    from cohort_sizes as s
    cross join (select cast(k as integer) as weeks_since from range(13) as r(k)) as k
    join weeks as w on w.week_start = s.cohort_week + 7 * k.weeks_since
    where w.is_complete
),
returns as (
    select
        c.basis,
        c.category,
        c.cohort_week,
        cast((a.week_start - c.cohort_week) // 7 as integer) as weeks_since,
        count(*) as retained
    from cohorts as c
    join activity as a using (basis, category, user_id)
    group by all
)
select
    g.basis,
    g.category,
    g.cohort_week,
    g.weeks_since,
    g.cohort_size,
    coalesce(r.retained, 0) as retained,
    coalesce(r.retained, 0) / g.cohort_size as retention
from grid as g
left join returns as r using (basis, category, cohort_week, weeks_since)
order by g.basis, g.category <> 'ALL', g.category, g.cohort_week, g.weeks_since
