-- model:
--   materialized: view
--   published: view
--   grain: one row (or none)
--   unique: run_id
--   not_null: run_id
-- One row (or none): the successful build before the latest one, for movement.
with

runs as (
    select * from meta.runs
),

previous as (
    select run_id
    from runs
    where status = 'success'
    order by finished_at desc, run_id desc
    limit 1 offset 1
)

select * from previous
