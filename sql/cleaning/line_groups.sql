-- model:
--   materialized: table
--   published: live
--   grain: one row per customer, purchase day, order and categorical values of usable lines
--   requires: transactions
--   not_null: customer_id, purchase_date, n_lines, amount, may_repeat
-- The usable lines (those no check of their own rejects: the line_reason
-- macro) collapsed by what the features need: customer, day, the order when
-- an order id is mapped (the segment KPIs count orders whatever frequency
-- counts, and need not read the lines again for it), the categorical values;
-- with how many lines, their spend, and how many amounts were rounded to the
-- scale kept (by more than float noise, or by float noise alone;
-- cleaning.amount_rounding adds them up). A build stores it as a table: it is its one full read of the source,
-- one hash aggregate to a few million groups, where a table of every line and
-- a window over it cost seconds and a gigabyte at 10M lines.
-- may_repeat: exact repeats are copies of one line, so they fall in one group
-- and set the same bit in each of three 64-bit maps of the row hashes of the lines;
-- a group whose three maps all count fewer bits than lines may hold repeats
-- (cleaning.transactions_set_aside compares its lines), any other holds none.
with

transactions as (
    select * from staging.transactions
),

usable as (
    select *
    from transactions
    where ({{ line_reason() }}) is null
),

grouped as (
    select
        customer_id,
        cast(ordered_at as date) as purchase_date,
        {{ purchase_keys(transactions.order_id, transactions.categorical) }}
        count(*) as n_lines,
        sum(amount) as amount,
        count(*) filter (where amount_rounding = 'rounded') as n_amounts_rounded,
        count(*) filter (where amount_rounding = 'float noise') as n_amounts_float_noise,
        min(case when amount_rounding = 'rounded' then coalesce(
            cast(amount_source as {{ string_type() }}),
            cast(quantity_source as {{ string_type() }}) || ' x '
                || cast(unit_price_source as {{ string_type() }}))
        end) as rounded_example,
        bit_count(bit_or({{ hash_bit('row_hash', 0) }})) as n_bits_0,
        bit_count(bit_or({{ hash_bit('row_hash', 1) }})) as n_bits_1,
        bit_count(bit_or({{ hash_bit('row_hash', 2) }})) as n_bits_2
    from usable
    group by
        customer_id,
        cast(ordered_at as date)
        {%- if transactions.order_id %},
        order_id
        {%- endif %}
        {%- for column in transactions.categorical %},
        {{ column.name }}
        {%- endfor %}
),

final as (
    select
        customer_id,
        purchase_date,
        {{ purchase_keys(transactions.order_id, transactions.categorical) }}
        n_lines,
        amount,
        n_amounts_rounded,
        n_amounts_float_noise,
        rounded_example,
        -- with an order id, an identical source row is a duplicate export;
        -- without one, identical rows can be real repeat purchases: kept
        {% if transactions.order_id -%}
        n_bits_0 < n_lines and n_bits_1 < n_lines and n_bits_2 < n_lines
        {%- else -%}
        false
        {%- endif %} as may_repeat
    from grouped
)

select * from final
