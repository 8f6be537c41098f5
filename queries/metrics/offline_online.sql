-- offline_online (input side): the offline values the ML team supplied, one per model and metric.
-- Grain: one row per (model_version, metric) of the input `offline_metrics` table.
-- Parameters: none. Source tables: offline_metrics.
-- Re-evaluations replace older ones: the latest evaluated_at wins and a missing evaluated_at
-- counts as the oldest. Two rows with the same evaluated_at: the later row of the file wins,
-- as an appended correction would.
select model_version, metric, value
from offline_metrics
qualify row_number() over (
    partition by model_version, metric
    order by evaluated_at desc nulls last, _row desc
) = 1
order by model_version, metric
