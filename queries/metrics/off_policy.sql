-- off_policy: what each candidate policy's click rate would have been, from logged impressions.
-- Grain: one row per candidate (model_version, block): the sums the estimators need (IPS, SNIPS,
-- DR; dashboard/engine/off_policy_estimators.py turns them into estimates, intervals and ESS).
-- Parameters: $tz, $blocks, $platform, $start_week, $end_week. Depends: stg_clicks, stg_tz.
--
-- Reward: r = 1 when a click of the same user, block and item is matched to the impression. Each
-- click is matched to the latest impression of that (user, block, item) at or before it (ties on
-- ts: the larger event_id) within 24 h, over every impression and click whatever the filters (a
-- match is a fact of the data, like the last touch of attribution).
-- Filters narrow the impressions that are estimated on (logged data) and those of the on-policy
-- outcome: block filter -> the candidates of selected blocks; platform -> events.platform;
-- dates -> impressions in the selected local weeks (their clicks may fall just after).
-- Logged data of a block: its impressions with a propensity (n). Candidates: every (model_version,
-- block) of target_policies (a user's own rows replace the null-user rows of that model_version and
-- block for that user), and every model_version of recommendations in every block with logged data
-- (probability 1 for the item at rank p at position p of that user) unless target_policies has
-- that (model_version, block). w = pi(item | user, position) / propensity; an impression without a
-- position has pi = 0.
-- q(a, p) = mean r of the block's logged impressions of item a at position p (0 if none).
-- DR term = sum_a pi(a | u, p) q(a, p) + w (r - q(item, p)).
-- Only the blocks that can have a row are read: those with logged propensities or a candidate
-- of target_policies, within the block filter (a click matches impressions of its own block only,
-- so leaving out other blocks changes no match).
with estimated_blocks as (
    select block from (
        select distinct block from events where event_type = 'impression' and propensity is not null
        union
        select distinct block from target_policies
    ) as b
    where cast($blocks as varchar[]) is null or list_contains(cast($blocks as varchar[]), block)
),
impressions as (
    select event_id, ts, user_id, block, item_id
    from events
    where event_type = 'impression' and block in (select block from estimated_blocks)
),
-- each click's impression: the latest of the same user, block and item within [click - 24 h, click]
matched as (
    select arg_max(i.event_id, struct_pack(ts := i.ts, event_id := i.event_id)) as event_id
    from (select * from stg_clicks where block in (select block from estimated_blocks)) as c
    join impressions as i
        on i.user_id = c.user_id
        and i.block = c.block
        and i.item_id = c.item_id
        and i.ts <= c.ts
        and i.ts >= c.ts - interval 24 hour
    group by c.event_id
),
clicked as (
    select distinct event_id from matched
),
-- the impressions the filters select, with their reward
-- materialized: read by the logged data, the click model q, every candidate and the on-policy rows
selected as materialized (
    select
        e.event_id,
        e.user_id,
        e.block,
        e.item_id,
        e.position,
        e.model_version,
        e.propensity,
        case when k.event_id is not null then 1.0 else 0.0 end as r
    from (
        select
            ev.*,
            -- local_ts(): queries/macros/local_ts.sql, timezone($tz, …) by stg_tz's hourly offsets
            local_ts(ev.ts) as local_ts
        from events as ev
        cross join stg_tz as z
        where ev.event_type = 'impression'
            and ev.block in (select block from estimated_blocks)
            and (cast($platform as varchar) is null or ev.platform = $platform)
    ) as e
    left join clicked as k on k.event_id = e.event_id
    where ($start_week is null or e.local_ts >= cast($start_week as timestamp))
        and ($end_week is null or e.local_ts < cast($end_week as timestamp) + interval 7 day)
),
logged as materialized (
    select * from selected where propensity is not null
),
q as (
    select block, item_id, position, avg(r) as q
    from logged
    where position is not null
    group by block, item_id, position
),
policy_candidates as (
    select distinct model_version, block
    from target_policies
    where cast($blocks as varchar[]) is null or list_contains(cast($blocks as varchar[]), block)
),
logged_blocks as (
    select distinct block from logged
),
ranking_candidates as (
    select m.model_version, b.block
    from (select distinct model_version from recommendations) as m
    cross join logged_blocks as b
    where not exists (
        select 1 from policy_candidates as p where p.model_version = m.model_version and p.block = b.block
    )
),
-- (model_version, block, user) that have rows of their own: they replace the null-user rows
own_rows as (
    select distinct model_version, block, user_id
    from target_policies
    where user_id is not null
),
-- per candidate of target_policies and logged impression: pi of the logged item, and the
-- direct-method part sum_a pi(a | u, p) q(a, p) over the candidate's items at that slot
policy_terms as (
    select
        l.event_id,
        c.model_version,
        c.block,
        coalesce(sum(case when t.item_id = l.item_id then t.probability end), 0) as pi,
        coalesce(sum(t.probability * coalesce(qa.q, 0)), 0) as dm
    from logged as l
    join policy_candidates as c on c.block = l.block
    left join own_rows as o
        on o.model_version = c.model_version and o.block = c.block and o.user_id = l.user_id
    left join target_policies as t
        on t.model_version = c.model_version
        and t.block = c.block
        and t.position = l.position
        and t.user_id is not distinct from (case when o.user_id is not null then l.user_id end)
    left join q as qa
        on qa.block = c.block and qa.item_id = t.item_id and qa.position = t.position
    group by l.event_id, c.model_version, c.block
),
-- per ranking candidate and logged impression: rank is unique per model and user, so at most
-- one item is shown at the slot, with probability 1
ranking_terms as (
    select
        l.event_id,
        c.model_version,
        c.block,
        case when rec.item_id = l.item_id then 1.0 else 0.0 end as pi,
        case when rec.item_id is not null then coalesce(qa.q, 0) else 0.0 end as dm
    from logged as l
    join ranking_candidates as c on c.block = l.block
    left join recommendations as rec
        on rec.model_version = c.model_version and rec.user_id = l.user_id and rec.rank = l.position
    left join q as qa
        on qa.block = l.block and qa.item_id = rec.item_id and qa.position = l.position
),
terms as (
    select
        t.model_version,
        t.block,
        l.r,
        t.pi / l.propensity as w,
        t.dm + t.pi / l.propensity * (l.r - coalesce(ql.q, 0)) as dr_term
    from (select * from policy_terms union all select * from ranking_terms) as t
    join logged as l on l.event_id = t.event_id
    left join q as ql
        on ql.block = l.block and ql.item_id = l.item_id and ql.position = l.position
),
sums as (
    select
        model_version,
        block,
        count(*) as n_impressions,
        count(*) filter (where w > 0) as matched_impressions,
        sum(w) as sum_w,
        sum(w * w) as sum_w2,
        sum(w * w * r) as sum_w2r,
        sum(w * r) as sum_wr,
        avg(w * r) as ips_mean,
        var_samp(w * r) as ips_var,
        avg(dr_term) as dr_mean,
        var_samp(dr_term) as dr_var,
        avg(r) as logged_ctr
    from terms
    group by model_version, block
),
candidates as (
    select model_version, block from policy_candidates
    union all
    select model_version, block from ranking_candidates
),
on_policy as (
    select model_version, block, count(*) as on_policy_impressions, avg(r) as on_policy_ctr
    from selected
    where model_version is not null
    group by model_version, block
)
select
    c.model_version,
    c.block,
    coalesce(s.n_impressions, 0) as n_impressions,
    coalesce(s.matched_impressions, 0) as matched_impressions,
    s.sum_w,
    s.sum_w2,
    s.sum_w2r,
    s.sum_wr,
    s.ips_mean,
    s.ips_var,
    s.dr_mean,
    s.dr_var,
    s.logged_ctr,
    coalesce(o.on_policy_impressions, 0) as on_policy_impressions,
    o.on_policy_ctr
from candidates as c
left join sums as s on s.model_version = c.model_version and s.block = c.block
left join on_policy as o on o.model_version = c.model_version and o.block = c.block
order by c.model_version, c.block
