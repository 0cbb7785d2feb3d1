-- One row per customer whose segment changed between the previous successful
-- build and this one: what segments.segment_changes keeps for every build
-- (never trimmed) and a CRM sync reads. A customer new in this build ('new',
-- no previous segment) and one gone from it ('gone', no segment now) count as
-- changes; a customer who kept its segment_id has no row. A warehouse's first
-- build has no previous build, so no row (not every customer as 'new').
--
-- Not a warehouse view: both engines run this query once per build over the
-- relations sql/build/customer_segment_rows.sql reads (build_segments,
-- previous_segments, build_facts); see its header.
with

this_build as (
    select * from build_segments
),

previous as (
    select * from previous_segments
),

facts as (
    select * from build_facts
),

compared as (
    select
        coalesce(this_build.customer_id, previous.customer_id) as customer_id,
        previous.segment_id as previous_segment_id,
        previous.segment_name as previous_segment_name,
        this_build.segment_id,
        this_build.segment_name
    from this_build
    full outer join previous on previous.customer_id = this_build.customer_id
),

final as (
    select
        facts.run_id,
        facts.previous_run_id,
        compared.customer_id,
        case
            when compared.previous_segment_id is null then 'new'
            when compared.segment_id is null then 'gone'
            else 'moved'
        end as change_type,
        compared.previous_segment_id,
        compared.previous_segment_name,
        compared.segment_id,
        compared.segment_name,
        facts.as_of_date as changed_at
    from compared
    cross join facts
    where
        facts.previous_run_id is not null
        and compared.previous_segment_id is distinct from compared.segment_id
)

select * from final
