-- model:
--   materialized: table
--   published: live
--   grain: one row
--   not_null: as_of_date
-- One row: the day recency, tenure and ages are measured to. The date given
-- (`--as-of`, or as_of in segkit.toml) wins; otherwise the last usable
-- purchase day that is not in the future, so a typo like 2099 does not become
-- "today" and push every customer's recency by decades. A parameter as data:
-- every model that needs the date joins this row instead of a pasted literal.
with

{% if transactions -%}
line_groups as (
    select * from cleaning.line_groups
),

last_usable_day as (
    select max(purchase_date) as last_purchase_date
    from line_groups
    where purchase_date <= current_date
),
{%- endif %}

final as (
    select
        cast(coalesce(
            {{ as_of_given }},
            {% if transactions %}last_purchase_date,{% endif %}
            current_date
        ) as date) as as_of_date
    {% if transactions -%}
    from last_usable_day
    {%- endif %}
)

select * from final
