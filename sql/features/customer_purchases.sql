-- model:
--   materialized: table
--   published: live
--   grain: one row per customer
--   requires: transactions
--   unique: customer_id
--   not_null: customer_id, n_purchase_days, n_orders, revenue, first_purchase_date, last_purchase_date
-- One row per customer with at least one used transaction line up to the
-- as-of date: what the customer is worth, aggregated from the customer's
-- purchases (cleaning.purchases). Revenue is the exact DECIMAL sum of the
-- used lines' amounts, never rounded. Orders are distinct order ids when
-- order_id is mapped, else purchase days. features.customer_rfm derives
-- recency, frequency and monetary from it; the build reads it for the segment
-- KPIs (sql/build/segment_kpis.sql) and, compared with the same table as of an
-- earlier day, for what a backtest's customers did next
-- (sql/build/backtest_outcomes.sql). A table: the purchases are aggregated
-- once for all of these (a view would aggregate them again for each reader),
-- and it reads the line groups (through cleaning.purchases), which the build
-- lets go of once the features exist. Days and orders are counted with
-- count_distinct_few (sql/macros/dialect.sql): count(distinct) on DuckDB, a
-- set per customer on Spark, which plans two distinct counts as an Expand.
with

purchases as (
    select * from cleaning.purchases
),

per_customer as (
    select
        customer_id,
        {% if transactions.order_id or transactions.categorical -%}
        -- a day is split by order or by the lines' categorical values: count it once
        {{ count_distinct_few('purchase_date') }} as n_purchase_days,
        {%- else -%}
        -- each row is one purchase day
        count(*) as n_purchase_days,
        {%- endif %}
        {% if transactions.order_id -%}
        {{ count_distinct_few('order_id') }} as n_orders,
        {%- endif %}
        sum(amount) as revenue,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date
    from purchases
    group by customer_id
),

final as (
    select
        customer_id,
        n_purchase_days,
        {% if transactions.order_id -%}
        n_orders,
        {%- else -%}
        -- no order id: a purchase day is an order
        n_purchase_days as n_orders,
        {%- endif %}
        -- exact at the scale of the amounts: DECIMAL(38, s) on both engines
        cast(revenue as decimal(38, {{ transactions.amount_scale }})) as revenue,
        first_purchase_date,
        last_purchase_date
    from per_customer
)

select * from final
