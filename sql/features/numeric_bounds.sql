-- model:
--   materialized: table
--   published: run_table
--   grain: one row
-- One row: for every numeric feature, the value that fills a gap (median by
-- default) and the winsorizing bounds: observed values at the cap quantiles
-- (quantile_disc, so a capped count stays a count).
with

features as (
    select * from features.customer_features_raw
),

bounds as (
    select
        {% for column in numeric_features -%}
        {{ impute_function }}({{ column.name }}) as {{ column.impute }},
        {{ quantile_disc(column.name, cap_low) }} as {{ column.low }},
        {{ quantile_disc(column.name, cap_high) }} as {{ column.high }}
        {%- if not loop.last %},{% endif %}
        {% endfor %}
    from features
)

select * from bounds
