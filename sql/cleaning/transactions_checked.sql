-- model:
--   materialized: view
--   published: live
--   grain: one row per source transaction line
--   requires: transactions
-- One row per source transaction line, with the reason it cannot be used
-- (null when it can). Every line lands here, so rows in = rows used + rows
-- quarantined by construction; the first failing check names the reason: the
-- line's own checks, then exact repeats (the first copy is used, the others
-- are duplicates), then the as-of date.
-- The line table is named in both branches, not through a CTE: DuckDB
-- materializes a CTE read twice, a copy of every line.
with

as_of as (
    select * from cleaning.as_of
),

-- Only the copies of a repeated content are numbered: a few lines, where a
-- window over every line cost seconds at 10M lines. Which copy comes first
-- does not matter: they are identical.
copies as (
    select
        screened.*,
        row_number() over (partition by screened.row_hash{{ any_order('screened.row_hash') }}) as n_seen
    from cleaning.transactions_screened as screened
    inner join cleaning.repeated_lines as repeated on repeated.row_hash = screened.row_hash
    where screened.quarantine_reason is null
),

lines as (
    select
        screened.*,
        1 as n_seen
    from cleaning.transactions_screened as screened
    left join cleaning.repeated_lines as repeated on repeated.row_hash = screened.row_hash
    where repeated.row_hash is null or screened.quarantine_reason is not null
    union all
    select * from copies
),

dated as (
    select
        lines.*,
        lines.quarantine_reason is null and lines.n_seen = 1
            and cast(lines.ordered_at as date) > as_of.as_of_date as is_after_as_of
    from lines
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
            when quarantine_reason is not null then quarantine_reason
            when n_seen > 1 then 'exact duplicate of an earlier row'
            when is_after_as_of then 'timestamp after the as-of date'
        end as quarantine_reason,
        case
            {% if transactions.order_id -%}
            when quarantine_reason is null and n_seen > 1
                then cast(ordered_at_source as {{ string_type() }})
            {% endif -%}
            when is_after_as_of then cast(ordered_at as {{ string_type() }})
            else ordered_at_text
        end as ordered_at_text,
        case
            {% if transactions.order_id -%}
            when quarantine_reason is null and n_seen > 1 then coalesce(
                cast(amount_source as {{ string_type() }}),
                cast(quantity_source as {{ string_type() }}) || ' x '
                    || cast(unit_price_source as {{ string_type() }}))
            {% endif -%}
            when is_after_as_of then cast(amount as {{ string_type() }})
            else amount_text
        end as amount_text
    from dated
)

select * from checked
