-- model:
--   materialized: view
--   published: live
--   grain: one row per source customer row
--   requires: customers
-- One row per source customer row, with the reason it cannot be used (null
-- when it can). A customer id seen twice keeps one row, chosen by content so
-- the choice is the same on every build.
with

customers as (
    select * from staging.customers
),

numbered as (
    select
        *,
        row_number() over (partition by customer_id order by row_hash) as n_seen
    from customers
),

checked as (
    select
        customer_id,
        birth_year,
        birth_date,
        age_given,
        {% for column in customers.numeric + customers.categorical -%}
        {{ column.name }},
        {% endfor -%}
        row_hash,
        case
            when customer_id is null then 'missing customer id'
            when n_seen > 1 then 'duplicate customer id'
        end as quarantine_reason
    from numbered
)

select * from checked
