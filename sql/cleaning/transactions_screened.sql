-- model:
--   materialized: view
--   published: live
--   grain: one row per source transaction line
--   requires: transactions
-- One row per source transaction line, with the first reason it cannot be
-- used (null when it can), by every check that needs nothing but the line
-- itself (the line_reason macro). The checks that need other lines come
-- after, in cleaning.transactions_checked: exact repeats and the as-of date.
-- A build does not store it: cleaning.line_groups aggregates the usable lines
-- as it reads the source, and cleaning.transactions_set_aside keeps the
-- lines that need their content.
with

transactions as (
    select * from staging.transactions
),

checked as (
    select
        *,
        {{ line_reason() }} as quarantine_reason
    from transactions
),

final as (
    select
        customer_id,
        order_id,
        ordered_at,
        amount,
        amount_rounding,
        {% for column in transactions.categorical -%}
        {{ column.name }},
        {% endfor -%}
        quarantine_reason,
        -- the source values, as text, for rejected lines only: a usable
        -- line has all its values in the typed columns
        case when quarantine_reason is not null then cast(ordered_at_source as {{ string_type() }}) end
            as ordered_at_text,
        case when quarantine_reason is not null then coalesce(
            cast(amount_source as {{ string_type() }}),
            cast(quantity_source as {{ string_type() }}) || ' x '
                || cast(unit_price_source as {{ string_type() }}))
        end as amount_text,
        -- a usable line may turn out to be a repeat: its source values stay
        -- in their own types (as text for every line they would cost seconds)
        ordered_at_source,
        amount_source,
        quantity_source,
        unit_price_source,
        row_hash
    from checked
)

select * from final
