-- model:
--   materialized: view
--   published: live
--   grain: one row per customer
--   requires: transactions
--   unique: customer_id
--   not_null: customer_id, recency_days, frequency, monetary, tenure_days
-- One row per customer with at least one used transaction line: recency,
-- frequency, monetary and tenure, from what the customer bought
-- (features.customer_purchases: purchase days, orders, exact revenue, first
-- and last purchase day). A purchase is a day by default, because one order
-- spans many lines and some sources have no order id; an order when
-- [features] frequency = "orders". Money is exact: total_spend is the DECIMAL
-- sum of the amounts of the used lines; monetary is their average per
-- purchase rounded half-up once (or the total). With categorical columns on
-- the transactions, each is the customer's most frequent value, in lines,
-- counted on the customer's purchases (cleaning.purchases).
with

customer_purchases as (
    select * from features.customer_purchases
),

as_of as (
    select * from cleaning.as_of
),

per_customer as (
    select
        customer_id,
        first_purchase_date,
        last_purchase_date,
        {% if features.frequency == 'orders' -%}
        n_orders as n_purchases,
        {%- else -%}
        n_purchase_days as n_purchases,
        {%- endif %}
        revenue as total_spend
    from customer_purchases
),

{% if transactions.categorical -%}
purchases as (
    select * from cleaning.purchases
),

{% endif -%}
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

final as (
    select
        per_customer.customer_id,
        {{ days_between('last_purchase_date', 'as_of.as_of_date') }} as recency_days,
        n_purchases as frequency,
        {% if features.monetary == 'total' -%}
        cast(total_spend as decimal(38, {{ transactions.amount_scale }})) as monetary,
        {%- else -%}
        -- average spend per purchase: the exact quotient, rounded half-up once
        -- to [features] money_decimals, DECIMAL(38, money_decimals)
        {{ round_quotient('total_spend', 'n_purchases',
                          features.money_decimals, transactions.amount_scale) }} as monetary,
        {%- endif %}
        {{ days_between('first_purchase_date', 'as_of.as_of_date') }} as tenure_days,
        {% for column in transactions.categorical -%}
        {{ column.plain }}_counts.{{ column.name }},
        {% endfor -%}
        first_purchase_date,
        last_purchase_date,
        -- exact at the scale of the amounts, never rounded: DECIMAL(38, s) on
        -- both engines
        cast(total_spend as decimal(38, {{ transactions.amount_scale }})) as total_spend
    from per_customer
    cross join as_of
    {% for column in transactions.categorical -%}
    left join {{ column.plain }}_counts
        on {{ column.plain }}_counts.customer_id = per_customer.customer_id
        and {{ column.plain }}_counts.rank_by_count = 1
    {% endfor %}
)

select * from final
