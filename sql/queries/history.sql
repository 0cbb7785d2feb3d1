-- What a build reads of the previous successful build's customers
-- (segkit/pipeline/runs.py): their segment and since when they have had it,
-- for segment_since, previous_segment_* and segments.segment_changes
-- (sql/build/customer_segment_rows.sql, sql/build/segment_change_rows.sql);
-- and what the Spark engine reads of the warehouse for the same job.

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

-- name: kept_builds
-- The first build of a warehouse that already has history rebuilds segment_since
-- of the previous build's customers from the history kept
-- (sql/build/segment_since_backfill.sql, which the Spark engine runs too), over
-- this relation and kept_history. The kept builds, numbered in the order they
-- ran (finished_at), as segments.successful_runs orders them.
select
    run_id,
    as_of_date,
    row_number() over (order by finished_at, run_id) as build_number
from meta.runs
where
    status = 'success'
    and run_id in (select distinct run_id from segments.segment_history)

-- name: kept_history
select run_id, customer_id, segment_id, segment_name
from segments.segment_history

-- name: run_dates
-- The as-of date of each build: the Spark engine numbers the builds of its own
-- history and takes their as-of dates from here.
select run_id, as_of_date
from meta.runs
where as_of_date is not null
