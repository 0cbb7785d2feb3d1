-- model:
--   materialized: view
--   published: live
--   grain: one row per source transaction line
--   requires: transactions
-- One row per source transaction line, with the reason it cannot be used
-- (null when it can). Every line lands here once, so rows in = rows used +
-- rows quarantined by construction; the first failing check names the
-- reason: the checks of the line itself, then exact repeats (the first copy is used),
-- then the as-of date. The lines set aside carry their reason
-- (cleaning.transactions_set_aside); every other line is usable.
with

set_aside as (
    select * from cleaning.transactions_set_aside
),

screened as (
    select * from cleaning.transactions_screened
),

as_of as (
    select * from cleaning.as_of
),

candidate_days as (
    {{ repeat_days() }}
),

-- the complement of the lines set aside: usable on their own, on a day that
-- cannot hold a repeat, not after the as-of date
plain as (
    select
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
        screened.amount_text
    from screened
    cross join as_of
    left join candidate_days
        on candidate_days.customer_id = screened.customer_id
        and candidate_days.purchase_date = cast(screened.ordered_at as date)
    where screened.quarantine_reason is null
        and candidate_days.customer_id is null
        and cast(screened.ordered_at as date) <= as_of.as_of_date
),

checked as (
    select * from set_aside
    union all
    select * from plain
)

select * from checked
