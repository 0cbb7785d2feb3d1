-- model:
--   materialized: view
--   published: view
--   grain: one row per (segment before, segment now) pair
--   not_null: n_customers
-- One row per (segment before, segment now) pair between two builds, with the
-- number of customers who moved that way; a null segment means the customer
-- was not in that build (new or gone). The warehouse view compares the
-- previous and the latest build; the report renders the same query for any
-- two runs (context from_run_id / to_run_id). The one migration query.
with

history as (
    select * from segments.segment_history
),

compared as (
    select
        {% if from_run_id -%}
        {{ from_run_id }} as from_run_id,
        {{ to_run_id }} as to_run_id
        {%- else -%}
        (select run_id from segments.previous_run) as from_run_id,
        (select run_id from segments.latest_run) as to_run_id
        {%- endif %}
),

before as (
    select history.customer_id, history.segment_id, history.segment_name
    from history
    inner join compared on compared.from_run_id = history.run_id
),

after as (
    select history.customer_id, history.segment_id, history.segment_name
    from history
    inner join compared on compared.to_run_id = history.run_id
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
    -- no earlier build: no movement to show, not every customer as "new"
    where exists (select 1 from compared where from_run_id is not null)
    group by
        before.segment_id,
        before.segment_name,
        after.segment_id,
        after.segment_name
)

select * from moves
-- new customers (no segment before) and gone ones (none now) after the segments
order by from_segment_id nulls last, to_segment_id nulls last
