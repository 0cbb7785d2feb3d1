-- model:
--   materialized: view
--   published: live
--   grain: one row per source transaction line
--   requires: transactions
-- One row per source transaction line, renamed to segkit's canonical columns
-- and typed. A value that does not parse becomes null here, and the source
-- value stays beside it (*_source), so cleaning can quarantine the row with a
-- precise reason and its content instead of dropping it.
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

        ----- money: DECIMAL, so sums are exact and identical on every run
        -- The source values stay in their own types: turning them into text
        -- for every line would cost seconds at 10M lines, and only rejected
        -- lines need it (cleaning.transactions_screened).
        {% if transactions.amount -%}
        {{ transactions.amount }} as amount_source,
        cast(null as {{ string_type() }}) as quantity_source,
        cast(null as {{ string_type() }}) as unit_price_source,
        cast(null as decimal(18, 3)) as quantity,
        try_cast({{ transactions.amount }} as decimal(18, 2)) as amount,
        {%- else -%}
        cast(null as {{ string_type() }}) as amount_source,
        {{ transactions.quantity }} as quantity_source,
        {{ transactions.unit_price }} as unit_price_source,
        try_cast({{ transactions.quantity }} as decimal(18, 3)) as quantity,
        try_cast(
            try_cast({{ transactions.quantity }} as decimal(18, 3))
            * try_cast({{ transactions.unit_price }} as decimal(18, 4))
            as decimal(18, 2)
        ) as amount,
        {%- endif %}

        ----- attributes of the customer carried on each line
        {% for column in transactions.categorical -%}
        {{ as_text(column.source) }} as {{ column.name }},
        {% endfor -%}

        ----- the whole source row, to find exact repeats
        {{ row_hash('source') }} as row_hash
    from source
),

final as (
    select
        -- ids exported through a float column ("17850.0") mean "17850"
        {{ normalize_id('customer_id_text') }} as customer_id,
        order_id,
        ordered_at,
        ordered_at_source,
        amount,
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
    from renamed
)

select * from final
