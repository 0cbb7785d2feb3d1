-- model:
--   materialized: table
--   published: live
--   grain: one row per customer
--   requires: transactions
--   unique: customer_id
--   not_null: customer_id, n_purchase_days, n_orders, revenue, first_purchase_date, last_purchase_date
-- One row per customer with at least one used transaction line up to the
-- as-of date: what the customer is worth. Revenue is the exact DECIMAL sum of
-- the used lines' amounts, never rounded. Orders are distinct order ids when
-- order_id is mapped, else purchase days. The build reads it for the segment
-- KPIs (sql/build/segment_kpis.sql) and, compared with the same table as of an
-- earlier day, for what a backtest's customers did next
-- (sql/build/backtest_outcomes.sql). A table: it reads the line groups, which
-- the build lets go of once the features exist.
with

as_of as (
    select * from cleaning.as_of
),

-- The used lines by group, less the extra copies of each repeated content:
-- the same counts and sums as the lines of cleaning.transactions (see
-- features.customer_rfm, which reads them the same way).
purchases as (
    select
        groups.customer_id,
        groups.purchase_date,
        {{ purchase_keys(features.frequency == 'orders', transactions.categorical) }}
        groups.n_lines,
        groups.amount
    from (
        select
            customer_id,
            purchase_date,
            {{ purchase_keys(features.frequency == 'orders', transactions.categorical) }}
            n_lines,
            amount
        from cleaning.line_groups
        union all
        select
            customer_id,
            cast(ordered_at as date) as purchase_date,
            {{ purchase_keys(features.frequency == 'orders', transactions.categorical) }}
            -1 as n_lines,
            -amount as amount
        from cleaning.transactions_set_aside
        where quarantine_reason = 'exact duplicate of an earlier row'
    ) as groups
    cross join as_of
    -- lines after the as-of date are quarantined (cleaning.transactions_checked)
    where groups.purchase_date <= as_of.as_of_date
),

daily as (
    select
        customer_id,
        purchase_date,
        sum(n_lines) as n_lines,
        sum(amount) as amount
    from purchases
    group by customer_id, purchase_date
),

per_customer as (
    select
        customer_id,
        count(case when n_lines > 0 then 1 end) as n_purchase_days,
        sum(amount) as revenue,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date
    from daily
    group by customer_id
),

{% if transactions.order_id -%}
orders as (
    select
        customer_id,
        count(distinct order_id) as n_orders
    {% if features.frequency == 'orders' -%}
    -- the line groups keep the order id when frequency counts orders
    from purchases
    {%- else -%}
    -- the line groups are by day only: the orders come from the used lines
    from cleaning.transactions
    {%- endif %}
    group by customer_id
),
{%- endif %}

final as (
    select
        per_customer.customer_id,
        per_customer.n_purchase_days,
        {% if transactions.order_id -%}
        coalesce(orders.n_orders, 0) as n_orders,
        {%- else -%}
        per_customer.n_purchase_days as n_orders,
        {%- endif %}
        -- exact at the scale of the amounts: DECIMAL(38, s) on both engines
        cast(per_customer.revenue as decimal(38, {{ transactions.amount_scale }})) as revenue,
        per_customer.first_purchase_date,
        per_customer.last_purchase_date
    from per_customer
    {% if transactions.order_id -%}
    left join orders on orders.customer_id = per_customer.customer_id
    {%- endif %}
)

select * from final
