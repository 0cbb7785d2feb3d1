-- model:
--   materialized: view
--   published: live
--   grain: one row per usable transaction line
--   requires: transactions
--   not_null: customer_id, ordered_at, amount
-- One row per usable transaction line: the lines no check rejected.
with

checked as (
    select * from cleaning.transactions_checked
),

usable as (
    select
        customer_id,
        order_id,
        ordered_at,
        {% for column in transactions.categorical -%}
        {{ column.name }},
        {% endfor -%}
        amount
    from checked
    where quarantine_reason is null
)

select * from usable
