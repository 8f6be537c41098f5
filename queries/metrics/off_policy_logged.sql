-- off_policy_logged: how many impressions of the whole source carry a propensity.
-- Grain: one row. Parameters: none.
-- off_policy is available when this is > 0 (interface.md v2), whatever the filters select.
select count(*) as impressions
from events
where event_type = 'impression' and propensity is not null
