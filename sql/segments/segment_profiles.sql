-- model:
--   materialized: view
--   published: view
--   grain: one row per segment and feature
--   unique: segment_id, feature
--   not_null: segment_id, feature
-- One row per segment and feature of the latest build: size, share, the
-- feature's mean and median, and the centroid (in bins) when the feature was
-- clustered.
with

history as (
    select * from segments.profile_history
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
