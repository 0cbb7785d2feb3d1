-- model:
--   materialized: view
--   published: live
--   grain: one row per source transaction line
--   requires: transactions
-- One row per source transaction line, with the reason it cannot be used
-- (null when it can). Every line lands here, so rows in = rows used + rows
-- quarantined by construction; the first failing check names the reason, and
-- a line after the as-of date is rejected only when nothing else is wrong.
with

screened as (
    select * from cleaning.transactions_screened
),

as_of as (
    select * from cleaning.as_of
),

dated as (
    select
        screened.*,
        screened.quarantine_reason is null
            and cast(screened.ordered_at as date) > as_of.as_of_date as is_after_as_of
    from screened
    cross join as_of
),

checked as (
    select
        customer_id,
        order_id,
        ordered_at,
        amount,
        {% for column in transactions.categorical -%}
        {{ column.name }},
        {% endfor -%}
        case
            when is_after_as_of then 'timestamp after the as-of date'
            else quarantine_reason
        end as quarantine_reason,
        case
            when is_after_as_of then cast(ordered_at as {{ string_type() }})
            else ordered_at_text
        end as ordered_at_text,
        case
            when is_after_as_of then cast(amount as {{ string_type() }})
            else amount_text
        end as amount_text
    from dated
)

select * from checked
