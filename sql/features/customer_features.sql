-- model:
--   materialized: view
--   published: run_table
--   grain: one row per customer
--   unique: customer_id
--   not_null: customer_id
-- One row per customer: the feature matrix segkit clusters. Missing numbers
-- are imputed, outliers capped (or the customer removed) at the bounds in
-- features.numeric_bounds, and categoricals one-hot encoded for their most
-- common levels, the rest folded into "other" and missing into "unknown".
with

features as (
    select * from features.customer_features_raw
),

bounds as (
    select * from features.numeric_bounds
),

imputed as (
    select
        features.customer_id,
        {% for column in numeric_features -%}
        coalesce(features.{{ column.name }}, bounds.{{ column.impute }})
            as {{ column.name }}{% if not loop.last or categorical_features %},{% endif %}
        {% endfor -%}
        {% for column in categorical_features -%}
        features.{{ column.name }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from features
    cross join bounds
),

final as (
    select
        imputed.customer_id,
        {% for column in numeric_features -%}
        {% if outliers == 'cap' and column.capped -%}
        least(greatest({{ column.name }}, bounds.{{ column.low }}), bounds.{{ column.high }})
        {%- else -%}
        {{ column.name }}
        {%- endif %} as {{ column.name }}{% if not loop.last or categorical_features %},{% endif %}
        {% endfor -%}
        {% for column in categorical_features -%}
        {% set outer_loop = loop -%}
        {% for level in column.levels -%}
        cast(coalesce({{ column.name }} = {{ level.value }}, false) as integer)
            as {{ level.column }},
        {% endfor -%}
        cast(
            {{ column.name }} is not null
            {%- for level in column.levels %} and {{ column.name }} <> {{ level.value }}{% endfor %}
            as integer
        ) as {{ column.other }},
        cast({{ column.name }} is null as integer) as {{ column.unknown }}
        {%- if not outer_loop.last %},{% endif %}
        {% endfor %}
    from imputed
    cross join bounds
    {% if outliers == 'remove' -%}
    where true
        {% for column in numeric_features if column.capped -%}
        and {{ column.name }} between bounds.{{ column.low }} and bounds.{{ column.high }}
        {% endfor %}
    {%- endif %}
)

select * from final
order by customer_id
