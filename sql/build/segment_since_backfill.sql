-- One row per customer and kept build: the segment_since that build's row
-- would carry had it been written by a build that keeps segment_since. Run
-- once, on the first build of a history written before segment_since
-- existed: the caller keeps the rows of the previous build, and from then on
-- every build carries the date forward in its own rows
-- (sql/build/customer_segment_rows.sql).
--
-- A customer's run of builds in one segment starts at a kept build where it
-- was absent from the kept build before, or had another segment there; its
-- segment_since is that build's as-of date. A run older than the history
-- kept starts at the oldest build kept. A build whose as-of date is unknown
-- gives null (the next build then starts the run at its own as-of date).
--
-- Not a warehouse view: both engines run this query over two relations they
-- provide from their own history (DuckDB: segments.segment_history and
-- meta.runs, sql/queries/history.sql; Spark: its segment_history table and
-- the warehouse's meta.runs):
--   kept_history  one row per customer and kept build: run_id, customer_id,
--                 segment_id, segment_name
--   kept_builds   one row per kept build: run_id, as_of_date, build_number
--                 (1 for the oldest kept, in the order the builds ran)
with

history as (
    select * from kept_history
),

builds as (
    select * from kept_builds
),

customer_builds as (
    select
        history.run_id,
        history.customer_id,
        history.segment_id,
        history.segment_name,
        builds.build_number
    from history
    inner join builds on builds.run_id = history.run_id
),

marked as (
    select
        *,
        case
            when lag(build_number) over customer_order is null then 1
            when lag(build_number) over customer_order <> build_number - 1 then 1
            when lag(segment_id) over customer_order <> segment_id then 1
            else 0
        end as is_run_start
    from customer_builds
    window customer_order as (partition by customer_id order by build_number)
),

numbered_runs as (
    select
        *,
        sum(is_run_start) over (
            partition by customer_id
            order by build_number
            rows between unbounded preceding and current row
        ) as run_number
    from marked
),

run_starts as (
    select
        *,
        min(build_number) over (partition by customer_id, run_number) as start_build
    from numbered_runs
),

final as (
    select
        run_starts.run_id,
        run_starts.customer_id,
        run_starts.segment_id,
        run_starts.segment_name,
        builds.as_of_date as segment_since
    from run_starts
    left join builds on builds.build_number = run_starts.start_build
)

select * from final
