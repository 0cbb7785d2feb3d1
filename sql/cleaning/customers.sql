-- model:
--   materialized: view
--   published: live
--   grain: one row per customer
--   requires: customers
--   unique: customer_id
--   not_null: customer_id
-- One row per customer with a usable id. Age comes from the birth year, birth
-- date or a given age; impossible ages (a birth year of 1893) become missing,
-- to be imputed like any other missing value.
with

checked as (
    select * from cleaning.customers_checked
),

as_of as (
    select * from cleaning.as_of
),

aged as (
    select
        *,
        coalesce(
            age_given,
            year(as_of.as_of_date) - birth_year,
            -- calendar years, as DuckDB's date_diff('year', ...) counts them
            year(as_of.as_of_date) - year(birth_date)
        ) as age_stated
    from checked
    cross join as_of
    where quarantine_reason is null
),

final as (
    select
        customer_id,
        case
            when age_stated between {{ age_min }} and {{ age_max }} then age_stated
        end as age,
        age_stated is not null
            and age_stated not between {{ age_min }} and {{ age_max }}
            as is_age_impossible
        {%- for column in customers.numeric + customers.categorical %},
        {{ column.name }}
        {%- endfor %}
    from aged
)

select * from final
