-- stg_visits: the local weeks in which each user had any event, over all the data.
-- Grain: (user_id, week_start). Parameters: $blocks (and those of stg_activity_all).
-- Depends: stg_activity_all.
-- Events pass the platform and block filters (as in stg_activity) but not the date filter:
-- visit retention needs a user's first week ever and the weeks after the selected range.
select distinct user_id, week_start
from stg_activity_all
where block is null or cast($blocks as varchar[]) is null or list_contains(cast($blocks as varchar[]), block)
