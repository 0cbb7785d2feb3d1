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
-- lets go of once the features exist. Days and orders are counted by grouping
-- (purchase_days, customer_orders), not by count(distinct): at 10M lines two
-- distinct counts in one aggregate took 3.5-4.4 s of CPU against 2.8-3.0 s
-- (DuckDB), and Spark expands every row once per distinct count.
with

purchases as (
    select * from cleaning.purchases
),

{% if transactions.order_id or transactions.categorical -%}
-- a day is split by order or by the lines' categorical values: one row per
-- day here, so that days are counted without count(distinct)
purchase_days as (
    select
        customer_id,
        purchase_date,
        sum(amount) as amount
    from purchases
    group by
        customer_id,
        purchase_date
),
{%- else -%}
-- each purchase is one day already
purchase_days as (
    select customer_id, purchase_date, amount from purchases
),
{%- endif %}

per_customer as (
    select
        customer_id,
        count(*) as n_purchase_days,
        sum(amount) as revenue,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date
    from purchase_days
    group by customer_id
),

{% if transactions.order_id -%}
-- one row per customer and order id (an order can span two days, and the
-- lines of a day with no order id make one null row, not counted)
customer_orders as (
    select
        customer_id,
        order_id
    from purchases
    group by
        customer_id,
        order_id
),

orders as (
    select
        customer_id,
        count(order_id) as n_orders
    from customer_orders
    group by customer_id
),
{%- endif %}

final as (
    select
        per_customer.customer_id,
        per_customer.n_purchase_days,
        {% if transactions.order_id -%}
        orders.n_orders,
        {%- else -%}
        -- no order id: a purchase day is an order
        per_customer.n_purchase_days as n_orders,
        {%- endif %}
        -- exact at the scale of the amounts: DECIMAL(38, s) on both engines
        cast(per_customer.revenue as decimal(38, {{ transactions.amount_scale }})) as revenue,
        per_customer.first_purchase_date,
        per_customer.last_purchase_date
    from per_customer
    {% if transactions.order_id -%}
    inner join orders
        on per_customer.customer_id = orders.customer_id
    {%- endif %}
)

select * from final
