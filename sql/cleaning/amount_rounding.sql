-- model:
--   materialized: table
--   published: live
--   grain: one row
--   requires: transactions
--   not_null: amount_scale, n_amounts_rounded, n_amounts_float_noise
-- One row: of the lines used, how many had an amount with more decimals than
-- the build keeps (amount_scale), rounded half-up to it: by more than float
-- noise (n_amounts_rounded, with the smallest such source value; the build
-- warns), or by float noise alone (n_amounts_float_noise: a double printed
-- with 17 digits, 15.299999999999999 read as 15.3; no warning). The build
-- adds both to the used row of meta.row_accounting. Counted from the line
-- groups up to the as-of date, less the duplicates among the lines set aside:
-- the lines of cleaning.transactions, without reading them again.
with

line_groups as (
    select * from cleaning.line_groups
),

set_aside as (
    select * from cleaning.transactions_set_aside
),

as_of as (
    select * from cleaning.as_of
),

-- the usable lines up to the as-of date (the lines of a group share its day)
grouped as (
    select
        coalesce(sum(line_groups.n_amounts_rounded), 0) as n_amounts_rounded,
        coalesce(sum(line_groups.n_amounts_float_noise), 0) as n_amounts_float_noise,
        min(line_groups.rounded_example) as rounded_example
    from line_groups
    cross join as_of
    where line_groups.purchase_date <= as_of.as_of_date
),

-- the extra copies of a repeated line, not used (each has the amount of the first)
duplicates as (
    select
        count(*) filter (where set_aside.amount_rounding = 'rounded') as n_amounts_rounded,
        count(*) filter (where set_aside.amount_rounding = 'float noise') as n_amounts_float_noise
    from set_aside
    cross join as_of
    where set_aside.quarantine_reason = 'exact duplicate of an earlier row'
        and cast(set_aside.ordered_at as date) <= as_of.as_of_date
),

final as (
    select
        {{ transactions.amount_scale }} as amount_scale,
        cast(grouped.n_amounts_rounded - duplicates.n_amounts_rounded as bigint)
            as n_amounts_rounded,
        cast(grouped.n_amounts_float_noise - duplicates.n_amounts_float_noise as bigint)
            as n_amounts_float_noise,
        grouped.rounded_example
    from grouped
    cross join duplicates
)

select * from final
