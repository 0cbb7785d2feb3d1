-- model:
--   materialized: table
--   published: live
--   grain: one row per source transaction line
--   requires: transactions
-- One row per source transaction line, with the first reason it cannot be
-- used (null when it can), by every check that needs nothing but the line
-- itself. The as-of check comes after, in cleaning.transactions_checked: the
-- default as-of date is the last usable purchase day, known only from here.
-- A build stores this view as a table: it is its one read of the source.
with

transactions as (
    select * from staging.transactions
),

repeats as (
    select
        *,
        {% if transactions.order_id -%}
        -- With an order id, an identical source row is a duplicate export.
        -- Without one, identical rows can be real repeat purchases: kept.
        row_number() over (partition by row_hash{{ any_order('row_hash') }}) as n_seen
        {%- else -%}
        1 as n_seen
        {%- endif %}
    from transactions
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
            when n_seen > 1 then 'exact duplicate of an earlier row'
        end as quarantine_reason
    from repeats
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
        end as amount_text
    from checked
)

select * from final
