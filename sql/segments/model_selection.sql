-- model:
--   materialized: view
--   published: view
--   grain: one row per k tried
--   unique: k
--   not_null: k
-- One row per k tried by the latest build: inertia, silhouette,
-- Davies-Bouldin, Calinski-Harabasz, bootstrap stability beside the random
-- baseline's (stability_baseline: the same data with no structure), and
-- which k was chosen.
with

history as (
    select * from segments.selection_history
),

latest as (
    select * from segments.latest_run
),

final as (
    select history.*
    from history
    inner join latest on latest.run_id = history.run_id
)

select * from final
