-- One row per customer with a usable id. Age comes from the birth year, birth
-- date or a given age; impossible ages (a birth year of 1893) become missing,
-- to be imputed like any other missing value.
with

checked as (
    select * from cleaning.customers_checked
),

aged as (
    select
        *,
        coalesce(
            age_given,
            year({{ as_of }}) - birth_year,
            date_diff('year', birth_date, {{ as_of }})
        ) as age_stated
    from checked
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
            as is_age_impossible,
        * exclude (
            customer_id, age_stated, age_given, birth_year, birth_date, row_hash,
            quarantine_reason
        )
    from aged
)

select * from final
