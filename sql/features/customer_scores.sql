-- model:
--   materialized: view
--   published: live
--   grain: one row per customer
--   requires: scores
--   unique: customer_id
--   not_null: customer_id, r_score, f_score, m_score, rfm_group
-- One row per customer with a purchase: R, F and M scores from 1 (worst) to
-- the vocabulary's levels (best) and the customer's RFM group, in the words
-- marketers use (Shopify's groups, Klaviyo's, or the user's grid; the
-- context's scores.groups, checked in segkit/scores.py so that every score
-- cell has exactly one group). The scores are quantile cuts of their own, not
-- the model's bins, which ties can collapse. Tie rule: a customer's score is
-- 1 + floor(levels x the share of customers strictly worse), so equal values
-- always get equal scores; recency counts the most days since the last
-- purchase as worst, so the most recent buyers score highest. The model exists
-- when the render context holds scores (only with transactions).
with

customer_rfm as (
    select * from features.customer_rfm
),

-- A customer's rank is 1 + the customers strictly worse (what rank() gives
-- tied values), counted per distinct value: a running total over the
-- distinct values (at 10M lines 731 recencies, 19 frequencies and about 20,000
-- spends for 990,653 customers), not a sort of every customer. Why it is shaped so: a
-- rank() over all customers has no partition, so Spark sorts every customer
-- on one task, once per score (most of its per-customer output writing at 1M
-- customers); the running totals are the same numbers.
recency_values as (
    select
        recency_days,
        cast(1 + coalesce(sum(count(*)) over (
            order by recency_days desc rows between unbounded preceding and 1 preceding
        ), 0) as bigint) as recency_rank
    from customer_rfm
    group by recency_days
),

frequency_values as (
    select
        frequency,
        cast(1 + coalesce(sum(count(*)) over (
            order by frequency rows between unbounded preceding and 1 preceding
        ), 0) as bigint) as frequency_rank
    from customer_rfm
    group by frequency
),

monetary_values as (
    select
        monetary,
        cast(1 + coalesce(sum(count(*)) over (
            order by monetary rows between unbounded preceding and 1 preceding
        ), 0) as bigint) as monetary_rank
    from customer_rfm
    group by monetary
),

customer_count as (
    select count(*) as n_customers
    from customer_rfm
),

ranked as (
    select {{ broadcast('recency_values, frequency_values, monetary_values') }}
        customer_rfm.customer_id,
        recency_values.recency_rank,
        frequency_values.frequency_rank,
        monetary_values.monetary_rank,
        customer_count.n_customers
    from customer_rfm
    cross join customer_count
    inner join recency_values on recency_values.recency_days = customer_rfm.recency_days
    inner join frequency_values on frequency_values.frequency = customer_rfm.frequency
    inner join monetary_values on monetary_values.monetary = customer_rfm.monetary
),

scored as (
    select
        customer_id,
        cast(1 + floor((recency_rank - 1) * {{ scores.levels }} / n_customers) as integer)
            as r_score,
        cast(1 + floor((frequency_rank - 1) * {{ scores.levels }} / n_customers) as integer)
            as f_score,
        cast(1 + floor((monetary_rank - 1) * {{ scores.levels }} / n_customers) as integer)
            as m_score
    from ranked
),

grouped as (
    select
        customer_id,
        r_score,
        f_score,
        m_score,
        case
            {%- for group in scores.groups %}
            when {{ group.condition }} then {{ group.label[dialect] }}
            {%- endfor %}
        end as rfm_group
    from scored
)

select * from grouped
