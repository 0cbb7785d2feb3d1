-- model:
--   materialized: view
--   published: view
--   grain: one row per segment of the backtest's fit
--   unique: segment_id
--   not_null: segment_id, backtest_as_of_date, horizon_days, n_customers
-- One row per segment of the latest build's backtest: the build fitted again
-- as of (as-of date - horizon), and what each segment's customers did in the
-- horizon after: repurchase share, mean spend, revenue share, purchase days,
-- each with its 95% bootstrap interval, and the build's lift and AUC. Empty
-- when the latest build skipped its backtest (segments.backtest_run_history
-- says why). An association on past data, not the effect of acting on a segment.
with

history as (
    select * from segments.backtest_history
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
