-- One row per customer of a backtest's fit, plus one per customer new in the
-- horizon: what they did in the horizon after the backtest date d, that is in
-- (d, d + horizon], where d + horizon is the build's as-of date.
--
-- Not a warehouse view: the build runs this query on its engine (DuckDB, or
-- Spark SQL) over three relations:
--   backtest_members    one row per customer segmented by the backtest's fit:
--                       customer_id, segment_id
--   backtest_purchases  features.customer_purchases of the fit (as of d)
--   build_purchases     features.customer_purchases of the build (as of d + horizon)
--
-- Both purchase tables come from the same source through the same cleaning
-- rules, and a line on or before d is used as of d exactly when it is used as
-- of the later date (the as-of check comes last): a customer's spend and
-- purchase days in the horizon are the build's figures less the fit's. The
-- customers new in the horizon (no used line up to d) have a null segment_id.
with

members as (
    select * from backtest_members
),

before_horizon as (
    select * from backtest_purchases
),

after_horizon as (
    select * from build_purchases
),

segmented as (
    select
        members.customer_id,
        members.segment_id,
        coalesce(after_horizon.n_purchase_days, 0)
            - coalesce(before_horizon.n_purchase_days, 0) as purchase_days,
        cast(coalesce(after_horizon.revenue, 0) - coalesce(before_horizon.revenue, 0)
            as decimal(38, {{ scale }})) as spend
    from members
    left join before_horizon on before_horizon.customer_id = members.customer_id
    left join after_horizon on after_horizon.customer_id = members.customer_id
),

new_in_horizon as (
    select
        after_horizon.customer_id,
        cast(null as integer) as segment_id,
        after_horizon.n_purchase_days as purchase_days,
        cast(after_horizon.revenue as decimal(38, {{ scale }})) as spend
    from after_horizon
    left join before_horizon on before_horizon.customer_id = after_horizon.customer_id
    where before_horizon.customer_id is null
),

final as (
    select
        customer_id,
        segment_id,
        purchase_days > 0 as bought_again,
        purchase_days,
        spend
    from segmented
    union all
    select
        customer_id,
        segment_id,
        purchase_days > 0 as bought_again,
        purchase_days,
        spend
    from new_in_horizon
)

select * from final
order by customer_id
