-- model:
--   materialized: view
--   published: view
--   grain: one row per customer in the source now
--   unique: customer_id
--   not_null: customer_id, segment_id, segment_name
-- One row per customer in the configured source NOW, assigned to a segment
-- of the latest build in pure SQL with the build's reference values: the
-- features come from features.live_customer_features (today's rows, the
-- build's as-of rule, imputation values, caps and levels) and the rule is the
-- one assignment macro (sql/macros/assign.sql). New transactions get a segment
-- without a rebuild; with the source unchanged it gives the build's labels.
with

{{ assign_segments('features.live_customer_features', segment_features) }}

select * from assigned
order by customer_id
