-- model:
--   materialized: view
--   published: view
--   grain: one row (or none)
--   unique: run_id
--   not_null: run_id
-- One row (or none): the successful build before the latest one, for movement.
with

runs as (
    select * from segments.successful_runs
),

previous as (
    select previous_run_id as run_id
    from runs
    where run_number = 1
        and previous_run_id is not null
)

select * from previous
