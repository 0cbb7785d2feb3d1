-- One row per (segment before, segment now) pair between the previous and
-- the latest build, with the number of customers who moved that way. A null
-- segment means the customer was not in that build (new or gone).
with

history as (
    select * from segments.segment_history
),

latest as (
    select run_id from segments.latest_run
),

previous as (
    select run_id from segments.previous_run
),

before as (
    select customer_id, segment_id, segment_name
    from history
    where run_id = (select run_id from previous)
),

after as (
    select customer_id, segment_id, segment_name
    from history
    where run_id = (select run_id from latest)
),

moves as (
    select
        before.segment_id as from_segment_id,
        before.segment_name as from_segment_name,
        after.segment_id as to_segment_id,
        after.segment_name as to_segment_name,
        count(*) as n_customers
    from before
    full outer join after on after.customer_id = before.customer_id
    where exists (select 1 from previous)
    group by all
)

select * from moves
order by from_segment_id nulls first, to_segment_id nulls first
