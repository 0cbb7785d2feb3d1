-- model:
--   materialized: table
--   published: live
--   grain: one row per transaction line that is rejected or needs a second look
--   requires: transactions
-- The lines whose content the build needs, with their reason (null when
-- usable): every line a check of its own rejects, every line of a day that
-- may hold an exact repeat (cleaning.line_groups), and every line after the
-- as-of date. A second, filtered read of the source: at 10M lines about one
-- in ten. Only the lines of those days go through a window: the copies of a
-- repeated content are numbered, the first is used, the others are
-- duplicates (which copy comes first does not matter: they are identical).
with

screened as (
    select * from cleaning.transactions_screened
),

as_of as (
    select * from cleaning.as_of
),

candidate_days as (
    {{ repeat_days() }}
),

lines as (
    select
        screened.*,
        screened.quarantine_reason is null
            and candidate_days.customer_id is not null as may_repeat,
        cast(screened.ordered_at as date) > as_of.as_of_date as is_after
    from screened
    cross join as_of
    left join candidate_days
        on candidate_days.customer_id = screened.customer_id
        and candidate_days.purchase_date = cast(screened.ordered_at as date)
    where screened.quarantine_reason is not null
        or candidate_days.customer_id is not null
        or cast(screened.ordered_at as date) > as_of.as_of_date
),

numbered as (
    select
        *,
        row_number() over (
            partition by row_hash, may_repeat{{ any_order('row_hash') }}
        ) as n_seen
    from lines
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
            when may_repeat and n_seen > 1 then 'exact duplicate of an earlier row'
            when is_after then 'timestamp after the as-of date'
        end as quarantine_reason,
        case
            when quarantine_reason is not null then ordered_at_text
            when may_repeat and n_seen > 1 then cast(ordered_at_source as {{ string_type() }})
            when is_after then cast(ordered_at as {{ string_type() }})
        end as ordered_at_text,
        case
            when quarantine_reason is not null then amount_text
            when may_repeat and n_seen > 1 then coalesce(
                cast(amount_source as {{ string_type() }}),
                cast(quantity_source as {{ string_type() }}) || ' x '
                    || cast(unit_price_source as {{ string_type() }}))
            when is_after then cast(amount as {{ string_type() }})
        end as amount_text
    from numbered
)

select * from checked
