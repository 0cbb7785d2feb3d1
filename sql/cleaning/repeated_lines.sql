-- model:
--   materialized: table
--   published: live
--   grain: one row per content that more than one usable line has
--   requires: transactions
--   unique: row_hash
--   not_null: row_hash, n_lines, customer_id, purchase_date
-- One row per content (row hash) that more than one usable source line has:
-- how many lines have it, and the group it counts in (its key columns in
-- cleaning.line_groups and its amount), so the features count it once. With
-- an order id, an identical source row is a duplicate export; without one,
-- identical rows can be real repeat purchases, kept, so none is listed. Only
-- the lines of the days whose hash maps show a possible repeat are compared.
with

candidate_days as (
    select distinct
        customer_id,
        purchase_date
    from cleaning.line_groups
    where bit_count(hash_bits_0) < n_lines
        and bit_count(hash_bits_1) < n_lines
        and bit_count(hash_bits_2) < n_lines
),

candidates as (
    select screened.*
    from cleaning.transactions_screened as screened
    inner join candidate_days
        on candidate_days.customer_id = screened.customer_id
        and candidate_days.purchase_date = cast(screened.ordered_at as date)
    where screened.quarantine_reason is null
        {%- if not transactions.order_id %}
        and false
        {%- endif %}
),

repeated as (
    select
        row_hash,
        count(*) as n_lines,
        -- the copies are identical: any one's values are every one's
        any_value(customer_id) as customer_id,
        any_value(cast(ordered_at as date)) as purchase_date,
        {% if features.frequency == 'orders' -%}
        any_value(order_id) as order_id,
        {% endif -%}
        {% for column in transactions.categorical -%}
        any_value({{ column.name }}) as {{ column.name }},
        {% endfor -%}
        any_value(amount) as amount
    from candidates
    group by row_hash
    having count(*) > 1
)

select * from repeated
