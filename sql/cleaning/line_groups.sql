-- model:
--   materialized: table
--   published: live
--   grain: one row per customer, purchase day and categorical values of usable lines
--   requires: transactions
--   not_null: customer_id, purchase_date, n_lines, amount
-- The usable lines collapsed by what the features need (customer, day, the
-- order when frequency counts orders, the categorical values): how many
-- lines, their spend, and three 64-bit maps of their row hashes. Exact
-- repeats are copies of one line, so they fall in one group and set the same
-- bit of every map: a group whose maps all have fewer bits than lines may
-- hold repeats (cleaning.repeated_lines checks those exactly); any other
-- group holds none. One hash aggregate to a few million groups instead of a
-- window or an aggregate over every line's hash.
with

screened as (
    select * from cleaning.transactions_screened
),

grouped as (
    select
        customer_id,
        cast(ordered_at as date) as purchase_date,
        {% if features.frequency == 'orders' -%}
        order_id,
        {% endif -%}
        {% for column in transactions.categorical -%}
        {{ column.name }},
        {% endfor -%}
        count(*) as n_lines,
        sum(amount) as amount,
        bit_or({{ hash_bit('row_hash', 0) }}) as hash_bits_0,
        bit_or({{ hash_bit('row_hash', 1) }}) as hash_bits_1,
        bit_or({{ hash_bit('row_hash', 2) }}) as hash_bits_2
    from screened
    where quarantine_reason is null
    group by
        customer_id,
        cast(ordered_at as date)
        {%- if features.frequency == 'orders' %},
        order_id
        {%- endif %}
        {%- for column in transactions.categorical %},
        {{ column.name }}
        {%- endfor %}
)

select * from grouped
