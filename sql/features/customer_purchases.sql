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
-- order_id is mapped, else purchase days. The build reads it for the segment
-- KPIs (sql/build/segment_kpis.sql) and, compared with the same table as of an
-- earlier day, for what a backtest's customers did next
-- (sql/build/backtest_outcomes.sql). A table: it reads the line groups
-- (through cleaning.purchases), which the build lets go of once the features
-- exist.
with

purchases as (
    select * from cleaning.purchases
),

per_customer as (
    select
        customer_id,
        {% if features.frequency == 'orders' or transactions.categorical -%}
        -- a day is split by order or by the lines' categorical values: count it once
        count(distinct purchase_date) as n_purchase_days,
        {%- else -%}
        -- each row is one purchase day
        count(*) as n_purchase_days,
        {%- endif %}
        {% if features.frequency == 'orders' -%}
        count(distinct order_id) as n_orders,
        {%- endif %}
        sum(amount) as revenue,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date
    from purchases
    group by customer_id
),

{% if transactions.order_id and features.frequency != 'orders' -%}
-- purchases are days: the orders come from the used lines
orders as (
    select
        customer_id,
        count(distinct order_id) as n_orders
    from cleaning.transactions
    group by customer_id
),
{%- endif %}

final as (
    select
        per_customer.customer_id,
        per_customer.n_purchase_days,
        {% if features.frequency == 'orders' -%}
        per_customer.n_orders,
        {%- elif transactions.order_id -%}
        coalesce(orders.n_orders, 0) as n_orders,
        {%- else -%}
        per_customer.n_purchase_days as n_orders,
        {%- endif %}
        -- exact at the scale of the amounts: DECIMAL(38, s) on both engines
        cast(per_customer.revenue as decimal(38, {{ transactions.amount_scale }})) as revenue,
        per_customer.first_purchase_date,
        per_customer.last_purchase_date
    from per_customer
    {% if transactions.order_id and features.frequency != 'orders' -%}
    left join orders on orders.customer_id = per_customer.customer_id
    {%- endif %}
)

select * from final
