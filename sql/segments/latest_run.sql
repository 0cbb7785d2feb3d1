-- model:
--   materialized: view
--   published: view
--   grain: one row (or none)
--   unique: run_id
--   not_null: run_id
-- One row (none before the first build): the newest successful build. Every "current" view reads its
-- run_id from here, so they all switch to a new build at the same commit.
with

runs as (
    select * from segments.successful_runs
),

latest as (
    select
        run_id,
        finished_at,
        k,
        silhouette,
        customers,
        model_version
    from runs
    where run_number = 1
)

select * from latest
