-- offline_metrics: how well each recommendation model's lists predict the holdout, computed
-- here from `recommendations` + `holdout` (the input table of the same name is not repeated).
-- Grain: one row per (model_version, metric) for every model_version in recommendations and
-- the ten metrics precision, recall, ndcg, map, mrr, hit_rate, coverage, novelty,
-- avg_popularity and ild, each named `<metric>@<k>`.
-- Parameters: $k (list length cut), $has_items (whether the source gave an `items` table).
-- Source tables: recommendations, holdout, items.
-- The accuracy metrics reproduce trec_eval (P_k, recall_k, ndcg_cut_k, map_cut_k,
-- recip_rank on the run cut at k, success_k) averaged over all holdout users.
with recommendations_src as (
    select model_version, user_id, item_id, rank
    from recommendations
),
holdout_src as (
    select user_id, item_id, relevance
    from holdout
),
items_src as (
    select item_id, category
    from items
),

models as (
    select distinct model_version
    from recommendations_src
),
holdout_users as (
    select distinct user_id
    from holdout_src
),
n_holdout_users as (
    select count(*) as n_users
    from holdout_users
),
-- Duplicate holdout rows are one judgement; the strongest relevance wins.
judgements as (
    select user_id, item_id, max(relevance) as relevance
    from holdout_src
    where relevance > 0
    group by user_id, item_id
),
-- A run is a set of items per user (trec_eval refuses duplicates), so an item listed twice
-- for a user counts once, at its best rank. Only holdout users' lists are ever scored.
listed as (
    select model_version, user_id, item_id, min(rank) as rank
    from recommendations_src
    where user_id in (select user_id from holdout_users)
    group by model_version, user_id, item_id
),
-- The cut is on positions, not on rank values: with ranks 1, 2, 5 the top 3 holds all three,
-- as trec_eval counts the first k retrieved whatever their scores.
positioned as (
    select
        model_version, user_id, item_id,
        row_number() over (partition by model_version, user_id order by rank) as position
    from listed
),
top_k as (
    select model_version, user_id, item_id, position
    from positioned
    where position <= $k
),

-- accuracy ------------------------------------------------------------------------------
judged_top_k as (
    select
        t.model_version, t.user_id, t.position, j.relevance,
        count(j.item_id) over (
            partition by t.model_version, t.user_id order by t.position
            rows between unbounded preceding and current row
        ) as hits_so_far
    from top_k as t
    left join judgements as j on j.user_id = t.user_id and j.item_id = t.item_id
),
user_hits as (
    select
        model_version, user_id,
        count(relevance) as hits,
        sum(relevance / log2(position + 1)) as dcg,
        -- precision at each hit rank, summed: the numerator of average precision
        sum(case when relevance is not null then cast(hits_so_far as double) / position end) as precision_sum,
        min(case when relevance is not null then position end) as first_hit_position
    from judged_top_k
    group by model_version, user_id
),
user_relevant as (
    select user_id, count(*) as n_relevant
    from judgements
    group by user_id
),
-- Ideal DCG is cut at k as well: the best k judgements in the best order.
user_ideal as (
    select user_id, sum(relevance / log2(ideal_position + 1)) as ideal_dcg
    from (
        select
            user_id, relevance,
            row_number() over (partition by user_id order by relevance desc) as ideal_position
        from judgements
    ) as ideal_order
    where ideal_position <= $k
    group by user_id
),
-- Every (model, holdout user): a user the model gave no list scores 0, not "missing".
user_scores as (
    select
        m.model_version,
        u.user_id,
        cast(coalesce(h.hits, 0) as double) / $k as precision_at_k,
        cast(coalesce(h.hits, 0) as double) / r.n_relevant as recall_at_k,
        coalesce(h.dcg, 0) / i.ideal_dcg as ndcg_at_k,
        coalesce(h.precision_sum, 0) / r.n_relevant as ap_at_k,
        coalesce(1.0 / h.first_hit_position, 0) as rr_at_k,
        case when coalesce(h.hits, 0) > 0 then 1.0 else 0.0 end as hit_at_k
    from models as m
    cross join holdout_users as u
    left join user_hits as h on h.model_version = m.model_version and h.user_id = u.user_id
    left join user_relevant as r on r.user_id = u.user_id
    left join user_ideal as i on i.user_id = u.user_id
),
accuracy as (
    select
        model_version,
        avg(precision_at_k) as precision_value,
        avg(recall_at_k) as recall_value,
        avg(ndcg_at_k) as ndcg_value,
        avg(ap_at_k) as map_value,
        avg(rr_at_k) as mrr_value,
        avg(hit_at_k) as hit_rate_value
    from user_scores
    group by model_version
),

-- coverage -------------------------------------------------------------------------------
-- The catalogue is `items` when given; otherwise every item the holdout or any list names.
catalogue as (
    select item_id from items_src where $has_items
    union
    select item_id from holdout_src where not $has_items
    union
    select item_id from recommendations_src where not $has_items
),
coverage as (
    select
        m.model_version,
        cast(count(distinct t.item_id) as double)
            / nullif((select count(*) from catalogue), 0) as coverage_value
    from models as m
    left join top_k as t on t.model_version = m.model_version
    group by m.model_version
),

-- popularity and novelty -----------------------------------------------------------------
item_popularity as (
    select item_id, count(distinct user_id) as holdout_user_count
    from judgements
    group by item_id
),
-- -log2(p) written as log2(1 / p), so that p = 1 gives 0 and not -0.
-- An item no holdout user has gets p = 1 / (holdout users + 1): rare, but not infinitely so.
pair_popularity as (
    select
        t.model_version,
        coalesce(p.holdout_user_count, 0) as popularity,
        case
            when p.holdout_user_count is null then log2(n.n_users + 1)
            else log2(cast(n.n_users as double) / p.holdout_user_count)
        end as self_information
    from top_k as t
    cross join n_holdout_users as n
    left join item_popularity as p on p.item_id = t.item_id
),
popularity as (
    select
        model_version,
        avg(self_information) as novelty_value,
        avg(popularity) as avg_popularity_value
    from pair_popularity
    group by model_version
),

-- intra-list diversity -------------------------------------------------------------------
-- Items of unknown category drop out of their pair; without `items` nothing is categorised,
-- so ild is NULL.
categorised as (
    select t.model_version, t.user_id, t.item_id, i.category
    from top_k as t
    join items_src as i on i.item_id = t.item_id
    where i.category is not null
),
-- Unordered pairs once each; a user with fewer than 2 categorised items has no pair and so
-- no share, and is left out of the mean.
user_diversity as (
    select
        a.model_version, a.user_id,
        avg(case when a.category <> b.category then 1.0 else 0.0 end) as different_share
    from categorised as a
    join categorised as b
        on b.model_version = a.model_version and b.user_id = a.user_id and a.item_id < b.item_id
    group by a.model_version, a.user_id
),
diversity as (
    select model_version, avg(different_share) as ild_value
    from user_diversity
    group by model_version
),

per_model as (
    select
        m.model_version,
        a.precision_value, a.recall_value, a.ndcg_value, a.map_value, a.mrr_value, a.hit_rate_value,
        c.coverage_value,
        p.novelty_value, p.avg_popularity_value,
        d.ild_value
    from models as m
    left join accuracy as a on a.model_version = m.model_version
    left join coverage as c on c.model_version = m.model_version
    left join popularity as p on p.model_version = m.model_version
    left join diversity as d on d.model_version = m.model_version
),
metric_names as (
    select name from (
        values ('precision'), ('recall'), ('ndcg'), ('map'), ('mrr'), ('hit_rate'),
            ('coverage'), ('novelty'), ('avg_popularity'), ('ild')
    ) as names (name)
)
select
    pm.model_version,
    mn.name || '@' || cast($k as varchar) as metric,
    cast(case mn.name
        when 'precision' then pm.precision_value
        when 'recall' then pm.recall_value
        when 'ndcg' then pm.ndcg_value
        when 'map' then pm.map_value
        when 'mrr' then pm.mrr_value
        when 'hit_rate' then pm.hit_rate_value
        when 'coverage' then pm.coverage_value
        when 'novelty' then pm.novelty_value
        when 'avg_popularity' then pm.avg_popularity_value
        when 'ild' then pm.ild_value
    end as double) as value
from per_model as pm
cross join metric_names as mn
order by pm.model_version, metric
