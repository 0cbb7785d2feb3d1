-- What a build reads of the previous successful build's customers
-- (segkit/pipeline/runs.py): their segment and since when they have had it,
-- for segment_since, previous_segment_* and segments.segment_changes
-- (sql/build/customer_segment_rows.sql, sql/build/segment_change_rows.sql).

-- name: run_as_of
select as_of_date from meta.runs where run_id = ?

-- name: run_config
select config_json from meta.runs where run_id = ?

-- name: has_since
-- A warehouse written before segment_since lacks the column (the next publish adds it).
select count(*) from duckdb_columns()
where
    schema_name = 'segments'
    and table_name = 'segment_history'
    and column_name = 'segment_since'

-- name: since_missing
-- Rows of a build written before segment_since was carried (null once the column exists).
select count(*) from segments.segment_history where run_id = ? and segment_since is null

-- name: previous_rows
select customer_id, segment_id, segment_name, segment_since
from segments.segment_history
where run_id = ?

-- name: previous_rows_backfilled
-- The first build of a warehouse that already has history: segment_since of
-- the previous build's customers, rebuilt from the history kept. A customer's
-- run of builds in one segment starts at a kept build where it was absent
-- from the kept build before, or had another segment there; builds are
-- ordered as they ran (finished_at), as segments.successful_runs orders them.
-- A run older than the history kept starts at the oldest build kept.
with

kept as (
    select
        run_id,
        as_of_date,
        row_number() over (order by finished_at, run_id) as build_number
    from meta.runs
    where
        status = 'success'
        and run_id in (select distinct run_id from segments.segment_history)
),

customer_builds as (
    select history.customer_id, history.segment_id, kept.build_number
    from segments.segment_history as history
    inner join kept on kept.run_id = history.run_id
),

marked as (
    select
        customer_id,
        segment_id,
        build_number,
        lag(build_number) over customer_order as previous_build,
        lag(segment_id) over customer_order as previous_segment_id
    from customer_builds
    window customer_order as (partition by customer_id order by build_number)
),

run_starts as (
    select customer_id, max(build_number) as start_build
    from marked
    where
        previous_build is null
        or previous_build <> build_number - 1
        or previous_segment_id <> segment_id
    group by customer_id
)

select
    history.customer_id,
    history.segment_id,
    history.segment_name,
    kept.as_of_date as segment_since
from segments.segment_history as history
inner join run_starts on run_starts.customer_id = history.customer_id
inner join kept on kept.build_number = run_starts.start_build
where history.run_id = ?
