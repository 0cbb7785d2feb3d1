-- model:
--   materialized: view
--   published: run_table
--   history: meta.column_quality
--   grain: one row per feature column
--   unique: column_name
--   not_null: column_name, column_kind
--   accepted_values: column_kind = numeric | categorical
-- One row per feature column: how many values were imputed, capped and
-- folded, so the report can say how much the data was touched.
with

features as (
    select * from features.customer_features_raw
),

bounds as (
    select * from features.numeric_bounds
),

numeric_columns as (
    {% for column in numeric_features -%}
    select
        {{ column.label }} as column_name,
        'numeric' as column_kind,
        count(*) filter (where {{ column.name }} is null) as n_imputed,
        {% if column.capped -%}
        count(*) filter (
            where coalesce({{ column.name }}, bounds.{{ column.impute }})
                < bounds.{{ column.low }}
        ) as n_below_low,
        count(*) filter (
            where coalesce({{ column.name }}, bounds.{{ column.impute }})
                > bounds.{{ column.high }}
        ) as n_above_high,
        {%- else -%}
        cast(0 as bigint) as n_below_low,
        cast(0 as bigint) as n_above_high,
        {%- endif %}
        cast(0 as bigint) as n_folded,
        any_value(bounds.{{ column.impute }}) as impute_value,
        {% if column.capped -%}
        any_value(bounds.{{ column.low }}) as cap_low,
        any_value(bounds.{{ column.high }}) as cap_high
        {%- else -%}
        cast(null as double) as cap_low,
        cast(null as double) as cap_high
        {%- endif %}
    from features
    cross join bounds
    {% if not loop.last %}union all
    {% endif -%}
    {% endfor %}
){% if categorical_features %},{% endif %}

{% if categorical_features -%}
categorical_columns as (
    {% for column in categorical_features -%}
    select
        {{ column.label }} as column_name,
        'categorical' as column_kind,
        count(*) filter (where {{ column.name }} is null) as n_imputed,
        cast(0 as bigint) as n_below_low,
        cast(0 as bigint) as n_above_high,
        count(*) filter (
            where {{ column.name }} is not null
            {%- for level in column.levels %} and {{ column.name }} <> {{ level.value }}{% endfor %}
        ) as n_folded,
        cast(null as double) as impute_value,
        cast(null as double) as cap_low,
        cast(null as double) as cap_high
    from features
    {% if not loop.last %}union all
    {% endif -%}
    {% endfor %}
)
{%- endif %}

select * from numeric_columns
{% if categorical_features -%}
union all
select * from categorical_columns
{%- endif %}
