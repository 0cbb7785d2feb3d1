-- model:
--   materialized: view
--   published: live
--   grain: one row per source transaction line
--   requires: transactions
-- One row per source transaction line, renamed to segkit's canonical columns
-- and typed. A value that does not parse becomes null here, and the source
-- value stays beside it (*_source), so cleaning can quarantine the row with a
-- precise reason and its content instead of dropping it.
-- Money is an exact DECIMAL. The amount of a line is DECIMAL(14 + s, s): s is
-- the declared scale of a DECIMAL or integer column, or [transactions]
-- amount_decimals for text and floating-point columns (amount_scale in the
-- render context). More decimals round half-up, once, and amount_rounding
-- says so; an amount of 10^14 or more does not fit (is_amount_too_large). So
-- the total of a customer, DECIMAL(38, s), cannot overflow. Quantity x unit
-- price is their exact product, rounded to s once; they keep 3 and 6 decimals
-- (below 10^15 and 10^12): their product fits 64 bits for most lines, which
-- keeps the rounding cheap.
with

source as (
    select * from {{ transactions.source }}
),

renamed as (
    select
        ----- keys
        {{ as_text(transactions.customer_id) }} as customer_id_text,
        {% if transactions.order_id -%}
        {{ as_text(transactions.order_id) }} as order_id,
        {%- else -%}
        cast(null as {{ string_type() }}) as order_id,
        {%- endif %}

        ----- timestamps
        {{ transactions.timestamp }} as ordered_at_source,
        {% if transactions.timestamp_formats -%}
        {{ parse_timestamp(
            'trim(cast(' ~ transactions.timestamp ~ ' as ' ~ string_type() ~ '))',
            transactions.timestamp_formats) }} as ordered_at,
        {%- else -%}
        try_cast({{ transactions.timestamp }} as timestamp) as ordered_at,
        {%- endif %}

        ----- money, as the source holds it
        -- Numbers stay in their own types: as text for every line they would
        -- cost seconds at 10M lines, and only rejected lines need it
        -- (cleaning.transactions_screened).
        {% for key in ('amount', 'quantity', 'unit_price') -%}
        {% if transactions[key] -%}
        {{ transactions[key] }} as {{ key }}_source,
        {%- else -%}
        cast(null as {{ string_type() }}) as {{ key }}_source,
        {%- endif %}
        {% endfor %}
        ----- attributes of the customer carried on each line
        {% for column in transactions.categorical -%}
        {{ as_text(column.source) }} as {{ column.name }},
        {% endfor -%}

        ----- the whole source row, to find exact repeats
        {{ row_hash('source') }} as row_hash
    from source
),

typed as (
    select
        *,
        {% if transactions.amount -%}
        cast(null as decimal(18, 3)) as quantity,
        {{ to_decimal('amount_source', transactions.amount_kind,
                      transactions.amount_precision, transactions.amount_scale) }} as amount
        {%- else -%}
        -- quantity and unit price keep 3 and 6 decimals: their product is
        -- exact, DECIMAL(36, 9) in DuckDB and (37, 9) in Spark
        {{ to_decimal('quantity_source', transactions.quantity_kind, 18, 3) }} as quantity,
        {{ to_decimal('quantity_source', transactions.quantity_kind, 18, 3) }}
            * {{ to_decimal('unit_price_source', transactions.unit_price_kind, 18, 6) }}
            as line_value
        {%- endif %}
    from renamed
),

{% if not transactions.amount -%}
priced as (
    -- the amount of a line: the exact product, rounded half-up once (a cast
    -- to fewer decimals rounds half away from zero on both engines)
    select
        *,
        try_cast(line_value
            as decimal({{ transactions.amount_precision }}, {{ transactions.amount_scale }}))
            as amount
    from typed
),
{%- endif %}

-- where the amount kept differs from the source value, and why (the rounding
-- macro); whether a missing amount is a number too large to keep
money_checked as (
    select
        *,
        {% if transactions.amount -%}
        {{ read_rounding('amount_source', transactions.amount_kind, 'amount',
                         transactions.amount_scale) }} as amount_rounding,
        {%- else -%}
        case
            when amount is null or line_value = amount then null
            else {{ rounding('line_value', 'amount') }}
        end as amount_rounding,
        {%- endif %}
        case
            when amount is not null then false
            -- a finite number: NaN and the infinities are not below infinity
            else coalesce(
                {%- for key in (['amount'] if transactions.amount else ['quantity', 'unit_price']) %}
                abs(try_cast(cast({{ key }}_source as {{ string_type() }}) as double))
                    < cast('inf' as double){% if not loop.last %} and{% endif %}
                {%- endfor %}, false)
        end as is_amount_too_large
    from {{ 'typed' if transactions.amount else 'priced' }}
),

final as (
    select
        -- ids exported through a float column ("17850.0") mean "17850"
        {{ normalize_id('customer_id_text') }} as customer_id,
        order_id,
        ordered_at,
        ordered_at_source,
        amount,
        amount_rounding,
        is_amount_too_large,
        amount_source,
        quantity,
        quantity_source,
        unit_price_source,
        -- an order id prefix marks cancellations only when configured: real
        -- order ids often start with the same letter ("CA-1001")
        coalesce(quantity < 0, false)
        {%- if transactions.order_id and transactions.cancellation_prefix %}
        or coalesce({{ starts_with('order_id', transactions.cancellation_prefix) }}, false)
        {%- endif %} as is_cancellation,
        {% for column in transactions.categorical -%}
        {{ column.name }},
        {% endfor -%}
        row_hash
    from money_checked
)

select * from final
