-- model:
--   materialized: table
--   published: live
--   grain: one row per transaction line that is rejected or needs a second look
--   requires: transactions
-- The lines whose content the build needs, with their reason (null when
-- usable): every line a check of its own rejects, every line of a day that
-- may hold an exact repeat (cleaning.line_groups), and every line after the
-- as-of date. A second, filtered read of the source: at 10M lines about one
-- in ten.
-- Why it is shaped so: the lines are read once (Spark inlines a CTE
-- referenced twice and would read the source twice), and they meet the
-- candidate days in a broadcast join (the days are a few percent of the
-- customer-days: Spark sends them whole to every task rather than shuffle
-- every line to meet them).
-- The lines set aside are then counted by content, an aggregate, not a
-- window: nothing is sorted. Of the copies of one content on a day that may
-- hold a repeat, the first is used and the others are duplicates (which copy
-- comes first does not matter: they are identical); a rejected line or one
-- after the as-of date keeps its reason in every copy.
{#- The content a line is counted by: what its row shows, and the whole
    source row (its hash and source values), so two rows that share a hash but
    differ in a column kept are each used, with their own content. -#}
{%- set content = ['customer_id', 'order_id', 'ordered_at', 'amount', 'amount_rounding']
    + transactions.categorical | map(attribute='name') | list
    + ['quarantine_reason', 'ordered_at_text', 'amount_text', 'may_repeat', 'is_after',
       'row_hash', 'ordered_at_source', 'amount_source', 'quantity_source',
       'unit_price_source'] %}
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

-- the lines set aside, each once
lines as (
    select {{ broadcast('candidate_days') }}
        screened.customer_id,
        screened.order_id,
        screened.ordered_at,
        screened.amount,
        screened.amount_rounding,
        {% for column in transactions.categorical -%}
        screened.{{ column.name }},
        {% endfor -%}
        screened.quarantine_reason,
        screened.ordered_at_text,
        screened.amount_text,
        screened.quarantine_reason is null
            and candidate_days.customer_id is not null as may_repeat,
        cast(screened.ordered_at as date) > as_of.as_of_date as is_after,
        screened.row_hash,
        screened.ordered_at_source,
        screened.amount_source,
        screened.quantity_source,
        screened.unit_price_source
    from screened
    cross join as_of
    left join candidate_days
        on candidate_days.customer_id = screened.customer_id
        and candidate_days.purchase_date = cast(screened.ordered_at as date)
    where screened.quarantine_reason is not null
        or candidate_days.customer_id is not null
        or cast(screened.ordered_at as date) > as_of.as_of_date
),

-- the copies of each content
copies as (
    select
        {{ content | join(',\n        ') }},
        count(*) as n_copies
    from lines
    group by
        {{ content | join(',\n        ') }}
),

-- every copy, numbered from 0
numbered as (
    select
        *,
        {{ each_copy('n_copies') }} as copy_number
    from copies
),

-- the first reason that holds: a check of the line's own, a repeat (the
-- first copy is used), the as-of date; with the values as text
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
        case
            when quarantine_reason is not null then quarantine_reason
            when may_repeat and copy_number > 0 then 'exact duplicate of an earlier row'
            when is_after then 'timestamp after the as-of date'
        end as quarantine_reason,
        case
            when quarantine_reason is not null then ordered_at_text
            when may_repeat and copy_number > 0
                then cast(ordered_at_source as {{ string_type() }})
            when is_after then cast(ordered_at as {{ string_type() }})
        end as ordered_at_text,
        case
            when quarantine_reason is not null then amount_text
            when may_repeat and copy_number > 0 then coalesce(
                cast(amount_source as {{ string_type() }}),
                cast(quantity_source as {{ string_type() }}) || ' x '
                    || cast(unit_price_source as {{ string_type() }}))
            when is_after then cast(amount as {{ string_type() }})
        end as amount_text
    from numbered
)

select * from final
