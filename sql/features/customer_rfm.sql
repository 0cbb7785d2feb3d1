-- model:
--   materialized: view
--   published: live
--   grain: one row per customer
--   requires: transactions
--   unique: customer_id
--   not_null: customer_id, recency_days, frequency, monetary, tenure_days
-- One row per customer with at least one usable transaction: recency,
-- frequency, monetary and tenure. A purchase is a day by default, because
-- one order spans many lines and some sources have no order id. Money is
-- exact: total_spend is the DECIMAL sum of the amounts of the used lines; monetary
-- is their average per purchase rounded half-up once (or the total).
with

as_of as (
    select * from cleaning.as_of
),

-- The usable lines by group (cleaning.line_groups), less the extra copies
-- of each repeated content (the duplicates among the lines set aside): the
-- same counts and sums as the lines of cleaning.transactions, without
-- reading them.
purchases as (
    select
        customer_id,
        purchase_date,
        {{ purchase_keys(features.frequency == 'orders', transactions.categorical) }}
        n_lines,
        amount
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

{% if purchase_keys(features.frequency == 'orders', transactions.categorical) -%}
daily as (
    select
        customer_id,
        purchase_date,
        sum(amount) as amount
    from purchases
    group by customer_id, purchase_date
),

per_customer as (
    select
        customer_id,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date,
        count(*) as n_purchase_days,
        sum(amount) as total_spend
    from daily
    group by customer_id
),
{%- else -%}
-- the line groups are already one per customer and day: each is a purchase
-- day, a removed copy (n_lines = -1) only takes its amount back out (the same
-- figures as summing by day first, without a second aggregate of every group)
per_customer as (
    select
        customer_id,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date,
        count(case when n_lines > 0 then 1 end) as n_purchase_days,
        sum(amount) as total_spend
    from purchases
    group by customer_id
),
{%- endif %}

{% for column in transactions.categorical -%}
{{ column.plain }}_counts as (
    -- the customer's most frequent value; ties go to the first in sort order
    select
        customer_id,
        {{ column.name }},
        row_number() over (
            partition by customer_id
            order by sum(n_lines) desc, {{ column.name }}
        ) as rank_by_count
    from purchases
    where {{ column.name }} is not null
    group by customer_id, {{ column.name }}
),
{% endfor -%}

{% if features.frequency == 'orders' -%}
orders as (
    select
        customer_id,
        count(distinct order_id) as n_orders
    from purchases
    group by customer_id
),
{%- endif %}

final as (
    select
        per_customer.customer_id,
        {{ days_between('last_purchase_date', 'as_of.as_of_date') }} as recency_days,
        {% if features.frequency == 'orders' -%}
        orders.n_orders as frequency,
        {%- else -%}
        n_purchase_days as frequency,
        {%- endif %}
        {% if features.monetary == 'total' -%}
        cast(total_spend as decimal(38, {{ transactions.amount_scale }})) as monetary,
        {%- else -%}
        -- average spend per purchase: the exact quotient, rounded half-up once
        -- to [features] money_decimals, DECIMAL(38, money_decimals)
        {{ round_quotient('total_spend',
                          'orders.n_orders' if features.frequency == 'orders' else 'n_purchase_days',
                          features.money_decimals, transactions.amount_scale) }} as monetary,
        {%- endif %}
        {{ days_between('first_purchase_date', 'as_of.as_of_date') }} as tenure_days,
        {% for column in transactions.categorical -%}
        {{ column.plain }}_counts.{{ column.name }},
        {% endfor -%}
        first_purchase_date,
        last_purchase_date,
        -- exact at the scale of the amounts, never rounded: DECIMAL(38, s) on
        -- both engines (a sum of sums is narrower in Spark)
        cast(total_spend as decimal(38, {{ transactions.amount_scale }})) as total_spend
    from per_customer
    cross join as_of
    {% if features.frequency == 'orders' -%}
    inner join orders on orders.customer_id = per_customer.customer_id
    {%- endif %}
    {% for column in transactions.categorical -%}
    left join {{ column.plain }}_counts
        on {{ column.plain }}_counts.customer_id = per_customer.customer_id
        and {{ column.plain }}_counts.rank_by_count = 1
    {% endfor %}
)

select * from final
