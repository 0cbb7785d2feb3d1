-- model:
--   materialized: view
--   published: view
--   grain: one row (or none)
--   unique: run_id
--   not_null: run_id
-- One row: the newest successful build. Every "current" view reads its
-- run_id from here, so they all switch to a new build at the same commit.
with

runs as (
    select * from meta.runs
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
    where status = 'success'
    order by finished_at desc, run_id desc
    limit 1
)

select * from latest
