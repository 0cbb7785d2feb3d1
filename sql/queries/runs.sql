-- The run registry's reads (segkit/pipeline/runs.py, `segkit runs`). A
-- build's own row and the journal's runs are written with
-- warehouse.insert_row; meta.runs is defined in sql/tables.sql.

-- name: has_registry
-- A warehouse without meta.runs has had no build yet.
select count(*) from duckdb_tables()
where schema_name = 'meta' and table_name = 'runs'

-- name: last_success
-- Read before the current views exist on a first build, so from meta.runs,
-- ordered as segments.successful_runs orders them.
select run_id, features
from meta.runs
where status = 'success'
order by finished_at desc, run_id desc
limit 1

-- name: centroids
select segment_id, feature, centroid
from segments.centroid_history
where run_id = ?
order by segment_index, feature_index

-- name: has_phrases
-- A warehouse written before profiles had phrases lacks the columns
-- (the next publish adds them).
select count(*) from duckdb_columns()
where
    schema_name = 'segments'
    and table_name = 'profile_history'
    and column_name = 'phrase'

-- name: words
-- What a build called its segments: the next build's kept ids keep them.
select segment_id, segment_name, description, feature, phrase, description_rank
from segments.profile_history
where run_id = ?
order by segment_index, description_rank nulls last, feature

-- name: is_recorded
select count(*) from meta.runs where run_id = ?

-- name: listing
-- `segkit runs`: one row per recorded build (the journal's are added in Python).
select
    run_id, started_at, status, rows_in, rows_used, rows_quarantined, customers, k,
    round(silhouette, 3) as silhouette, model_version,
    round(seconds_total, 1) as seconds, error
from meta.runs

-- name: view_versions
-- `segkit sql list`: the version recorded for each (model, fingerprint).
select view_name, version, sql_hash from meta.view_versions
