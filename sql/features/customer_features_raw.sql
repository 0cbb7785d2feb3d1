-- model:
--   materialized: table
--   published: live
--   grain: one row per customer
--   unique: customer_id
--   not_null: customer_id
-- One row per customer to segment, before imputation and capping: behaviour
-- from transactions joined to attributes from the customers table. With
-- transactions, the customers are those who bought; without, every customer.
with

{% if transactions -%}
rfm as (
    select * from features.customer_rfm
),
{%- endif %}

{% if customers -%}
customers as (
    select * from cleaning.customers
),
{%- endif %}

joined as (
    select
        {% if transactions -%}
        rfm.customer_id,
        cast(rfm.recency_days as double) as recency_days,
        cast(rfm.frequency as double) as frequency,
        cast(rfm.monetary as double) as monetary,
        cast(rfm.tenure_days as double) as tenure_days
        {%- for column in transactions.categorical %},
        rfm.{{ column.name }}
        {%- endfor %}
        {%- else -%}
        customers.customer_id
        {%- endif %}
        {%- if customers -%}
        {%- if customers.has_age %},
        customers.age{% endif %}
        {%- for column in customers.numeric %},
        customers.{{ column.name }}
        {%- endfor %}
        {%- for column in customers.categorical %},
        customers.{{ column.name }}
        {%- endfor %}
        {%- endif %}
    {% if transactions -%}
    from rfm
    {% if customers -%}
    left join customers on customers.customer_id = rfm.customer_id
    {%- endif %}
    {%- else -%}
    from customers
    {%- endif %}
)

select * from joined
