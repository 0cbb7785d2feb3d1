-- model:
--   materialized: view
--   published: view
--   grain: one row per feature and bin
--   unique: feature, bin
--   not_null: feature, bin
-- One row per feature and bin of the latest build: bin b holds lower <= value
-- < upper (the first and last bins are open-ended).
with

history as (
    select * from segments.bin_edge_history
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
