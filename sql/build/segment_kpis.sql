-- One row per segment of a build: what the segment is worth. What
-- segments.kpi_history stores (the view segments.segment_kpis shows the latest
-- build's).
--
-- Not a warehouse view: the build runs this query once the customers are
-- assigned, on its engine (DuckDB, or Spark SQL), over three relations:
--   segment_members     one row per segmented customer: customer_id, segment_id
--   customer_purchases  features.customer_purchases of the build: one row per
--                       customer with used lines (empty in a customers-only
--                       build: every money figure is then null)
--   fitted_segments     one row per segment: segment_index, segment_id, segment_name
--
-- Money is exact: revenue is the DECIMAL sum of the used lines, never
-- rounded; average order value and revenue per customer are exact quotients
-- rounded half-up once to [features] money_decimals. Shares are of the
-- segmented customers and of their revenue. Orders are distinct order ids
-- where order_id is mapped, else purchase days. Days between purchases: each
-- customer with 2+ purchase days has (last - first purchase day) / (purchase
-- days - 1); the segment's figure is the median of those.
with

members as (
    select * from segment_members
),

purchases as (
    select * from customer_purchases
),

segments as (
    select * from fitted_segments
),

customers as (
    select
        members.segment_id,
        purchases.customer_id is not null as has_purchases,
        purchases.n_orders,
        purchases.n_purchase_days,
        purchases.revenue,
        case when purchases.n_purchase_days >= 2 then
            cast({{ days_between('purchases.first_purchase_date', 'purchases.last_purchase_date') }} as double)
                / (purchases.n_purchase_days - 1)
        end as days_between_purchases
    from members
    left join purchases on purchases.customer_id = members.customer_id
),

per_segment as (
    select
        segment_id,
        count(*) as n_customers,
        count(case when has_purchases then 1 end) as n_buyers,
        sum(n_orders) as n_orders,
        sum(n_purchase_days) as n_purchase_days,
        sum(revenue) as revenue,
        median(days_between_purchases) as median_days_between_purchases,
        count(case when n_purchase_days = 1 then 1 end) as n_one_time_buyers
    from customers
    group by segment_id
),

totals as (
    select
        sum(n_customers) as n_customers,
        sum(revenue) as revenue
    from per_segment
),

final as (
    select
        segments.segment_id,
        segments.segment_index,
        segments.segment_name,
        per_segment.n_customers,
        cast(per_segment.n_customers as double) / totals.n_customers as customer_share,
        case when per_segment.n_buyers > 0 then per_segment.n_orders end as n_orders,
        case when per_segment.n_buyers > 0 then per_segment.n_purchase_days end as n_purchase_days,
        cast(per_segment.revenue as decimal(38, {{ scale }})) as revenue,
        cast(per_segment.revenue as double) / cast(totals.revenue as double) as revenue_share,
        case when per_segment.n_orders > 0 then
            {{ round_quotient('per_segment.revenue', 'per_segment.n_orders', money_decimals, scale) }}
        end as average_order_value,
        case when per_segment.n_buyers > 0 then
            {{ round_quotient('per_segment.revenue', 'per_segment.n_customers', money_decimals, scale) }}
        end as revenue_per_customer,
        per_segment.median_days_between_purchases,
        case when per_segment.n_buyers > 0 then
            cast(per_segment.n_one_time_buyers as double) / per_segment.n_buyers
        end as one_time_buyer_share
    from per_segment
    inner join segments on segments.segment_id = per_segment.segment_id
    cross join totals
)

select * from final
order by segment_index
