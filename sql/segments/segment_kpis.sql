-- model:
--   materialized: view
--   published: view
--   grain: one row per segment
--   unique: segment_id
--   not_null: segment_id, n_customers
-- One row per segment of the latest build: what it is worth. Customers and
-- their share, orders, purchase days, revenue (exact DECIMAL) and its share,
-- average order value, revenue per customer, median days between purchases
-- and the share of one-time buyers. A customers-only build has no revenue:
-- its money columns are null.
with

history as (
    select * from segments.kpi_history
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
