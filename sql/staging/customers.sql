-- One row per source customer row, renamed to canonical columns and typed.
-- Unparseable numbers become null (imputed later, and counted there).
with

source as (
    select * from {{ customers.source }}
),

renamed as (
    select
        nullif(trim(cast({{ customers.customer_id }} as varchar)), '')
            as customer_id_text,
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
        nullif(trim(cast({{ column.source }} as varchar)), '') as {{ column.name }},
        {% endfor -%}
        hash(source) as row_hash
    from source
),

final as (
    select
        case
            when regexp_full_match(customer_id_text, '[0-9]+\.0+')
                then regexp_replace(customer_id_text, '\.0+$', '')
            else customer_id_text
        end as customer_id,
        * exclude (customer_id_text)
    from renamed
)

select * from final
