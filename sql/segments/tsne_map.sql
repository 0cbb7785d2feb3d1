-- model:
--   materialized: view
--   published: view
--   grain: one row per sampled customer
--   unique: customer_id
--   not_null: customer_id
-- One row per sampled customer of the latest build: the 2-D t-SNE coordinates.
with

history as (
    select * from segments.tsne_history
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
