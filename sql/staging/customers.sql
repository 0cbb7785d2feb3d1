-- model:
--   materialized: table
--   published: live
--   grain: one row per source customer row
--   requires: customers
-- One row per source customer row, renamed to canonical columns and typed.
-- Unparseable numbers become null (imputed later, and counted there).
with

source as (
    select * from {{ customers.source }}
),

renamed as (
    select
        {{ as_text(customers.customer_id) }} as customer_id_text,
        {% if customers.birth_year -%}
        try_cast({{ customers.birth_year }} as double) as birth_year,
        {%- else -%}
        cast(null as double) as birth_year,
        {%- endif %}
        {% if customers.birth_date -%}
        try_cast({{ customers.birth_date }} as date) as birth_date,
        {%- else -%}
        cast(null as date) as birth_date,
        {%- endif %}
        {% if customers.age -%}
        try_cast({{ customers.age }} as double) as age_given,
        {%- else -%}
        cast(null as double) as age_given,
        {%- endif %}
        {% for column in customers.numeric -%}
        try_cast({{ column.source }} as double) as {{ column.name }},
        {% endfor -%}
        {% for column in customers.categorical -%}
        {{ as_text(column.source) }} as {{ column.name }},
        {% endfor -%}
        {{ row_hash('source') }} as row_hash
    from source
),

final as (
    select
        -- one rule for ids with the transactions (macro normalize_id)
        {{ normalize_id('customer_id_text') }} as customer_id,
        birth_year,
        birth_date,
        age_given,
        {% for column in customers.numeric -%}
        {{ column.name }},
        {% endfor -%}
        {% for column in customers.categorical -%}
        {{ column.name }},
        {% endfor -%}
        row_hash
    from renamed
)

select * from final
