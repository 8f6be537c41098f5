-- experiment_names: what the pages and the weekly review show beside an experiment's id.
-- Grain: one row per experiment_id. Parameters: none.
select experiment_id, name, start_ts, end_ts
from experiments
