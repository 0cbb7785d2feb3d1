-- model:
--   materialized: view
--   published: view
--   grain: one row per segment and feature
--   unique: segment_id, feature
--   not_null: segment_id, feature, centroid
-- One row per segment and feature of the latest build: the centroid in binned
-- space. With segments.bin_edges, enough to assign any customer.
with

history as (
    select * from segments.centroid_history
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
