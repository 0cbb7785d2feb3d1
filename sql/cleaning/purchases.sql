-- model:
--   materialized: view
--   published: live
--   grain: one row per customer, purchase day, order and categorical values of its lines
--   requires: transactions
--   not_null: customer_id, purchase_date, n_lines, amount
-- One row per customer and purchase, from the lines used: a purchase is a
-- day, split by order when an order id is mapped (so that orders can be
-- counted without reading the lines again, whatever [features] frequency
-- counts). When the transactions have categorical columns, a purchase is also
-- split by their values (a customer's most frequent value is counted in lines). Each row has how
-- many lines it holds and their spend, exact, DECIMAL(38, s): the same counts
-- and sums as grouping the lines used (cleaning.transactions) by these keys.
-- Exact repeats are out (their first copy is used), and so are the days after
-- the as-of date. The models of what customers did read this model, never
-- the lines: features.customer_purchases (and, through it,
-- features.customer_rfm), and customer_rfm's categorical counts.
--
-- Why it is shaped so: the lines used are not stored (at 10M lines, a table
-- of them, or a window over them to find repeats, costs seconds and a
-- gigabyte). The build reads the source once into cleaning.line_groups, the
-- usable lines grouped by these same keys, and sets aside the few lines
-- whose content it needs (cleaning.transactions_set_aside). A repeat is a
-- copy of a line, so it falls in that line's group, and that group is one
-- that may hold a repeat (may_repeat, a few percent of them): every other
-- group is used as it is; these lose their extra copies, the lines set aside
-- as duplicates.
{%- set keys = purchase_keys(transactions.order_id, transactions.categorical) %}
with

line_groups as (
    select * from cleaning.line_groups
),

as_of as (
    select * from cleaning.as_of
),

-- the extra copies of a repeated line: not used
duplicates as (
    select
        customer_id,
        cast(ordered_at as date) as purchase_date,
        {{ keys }}
        amount
    from cleaning.transactions_set_aside
    where quarantine_reason = 'exact duplicate of an earlier row'
),

-- the groups that may hold a repeat, less the extra copies: summed by group,
-- each copy takes its line and its amount back out
repeat_groups as (
    select
        customer_id,
        purchase_date,
        {{ keys }}
        cast(sum(n_lines) as bigint) as n_lines,
        sum(amount) as amount
    from (
        select
            customer_id,
            purchase_date,
            {{ keys }}
            n_lines,
            amount
        from line_groups
        where may_repeat
        union all
        select
            customer_id,
            purchase_date,
            {{ keys }}
            -1 as n_lines,
            -amount as amount
        from duplicates
    ) as groups_and_copies
    group by
        {{ keys }}
        customer_id,
        purchase_date
),

-- every other group holds no repeat: its lines are all used
exact_groups as (
    select
        customer_id,
        purchase_date,
        {{ keys }}
        n_lines,
        amount
    from line_groups
    where not may_repeat
    union all
    select * from repeat_groups
),

final as (
    select
        customer_id,
        purchase_date,
        {{ keys }}
        n_lines,
        cast(amount as decimal(38, {{ transactions.amount_scale }})) as amount
    from exact_groups
    cross join as_of
    -- lines after the as-of date are not used (cleaning.transactions_checked)
    where exact_groups.purchase_date <= as_of.as_of_date
)

select * from final
