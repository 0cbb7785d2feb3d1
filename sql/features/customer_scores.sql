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

-- rank() gives tied values the same, lowest rank: the number of customers
-- strictly worse, plus one
ranked as (
    select
        customer_id,
        rank() over (order by recency_days desc) as recency_rank,
        rank() over (order by frequency) as frequency_rank,
        rank() over (order by monetary) as monetary_rank,
        count(*) over () as n_customers
    from customer_rfm
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
