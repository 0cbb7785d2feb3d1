-- model:
--   materialized: table
--   published: live
--   grain: one row per source transaction line
--   requires: transactions
-- One row per source transaction line, with the first reason it cannot be
-- used (null when it can), by every check that needs nothing but the line
-- itself. The checks that need other lines come after, in
-- cleaning.transactions_checked: exact repeats (cleaning.repeated_lines) and
-- the as-of date (the default is the last usable purchase day, known only
-- from here). A build stores this view as a table: it is its one read of the
-- source, and nothing at line grain goes through a window or a sort.
with

transactions as (
    select * from staging.transactions
),

checked as (
    select
        *,
        case
            when customer_id is null then 'missing customer id'
            when ordered_at is null then 'missing or unparseable timestamp'
            when is_cancellation then 'cancellation or return'
            when amount is null then 'amount missing or not a number'
            when amount <= 0 then 'amount zero or negative'
        end as quarantine_reason
    from transactions
),

final as (
    select
        customer_id,
        order_id,
        ordered_at,
        amount,
        {% for column in transactions.categorical -%}
        {{ column.name }},
        {% endfor -%}
        quarantine_reason,
        -- the source values, as text, for rejected lines only: a usable
        -- line's values are all in the typed columns
        case when quarantine_reason is not null then cast(ordered_at_source as {{ string_type() }}) end
            as ordered_at_text,
        case when quarantine_reason is not null then coalesce(
            cast(amount_source as {{ string_type() }}),
            cast(quantity_source as {{ string_type() }}) || ' x '
                || cast(unit_price_source as {{ string_type() }}))
        end as amount_text,
        {% if transactions.order_id -%}
        -- a usable line may turn out to be a repeat: its source values stay
        -- in their own types (as text for every line they would cost seconds)
        ordered_at_source,
        amount_source,
        quantity_source,
        unit_price_source,
        {%- endif %}
        row_hash
    from checked
)

select * from final
