-- model:
--   materialized: view
--   published: view
--   grain: one row per successful build
--   unique: run_id
--   not_null: run_id, run_number
-- One row per successful build, newest first: the one definition of "latest"
-- and "previous". run_number 1 is the latest; previous_run_id is the
-- successful build before each one (null for the first), so movement between
-- any build and the one before it is a lookup. Newest means the latest
-- finished_at; run ids break ties (they sort by start time).
with

runs as (
    select * from meta.runs
),

successful as (
    select
        run_id,
        started_at,
        finished_at,
        k,
        silhouette,
        customers,
        model_version,
        row_number() over (order by finished_at desc, run_id desc) as run_number,
        lead(run_id) over (order by finished_at desc, run_id desc) as previous_run_id
    from runs
    where status = 'success'
)

select * from successful
