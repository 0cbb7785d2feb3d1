-- One row per customer of a build: its segment (every column of the build's
-- own row), the segment it had in the previous successful build, since when
-- it has had this one, and its R, F and M scores and RFM group: the columns
-- segments.segment_history (DuckDB) and the Spark engine's customer_segments
-- store beside the segment.
--
-- segment_since is carried forward from build to build: a customer who keeps
-- its segment keeps the previous build's date, anyone else (moved, or new in
-- this build) starts at this build's as-of date. The date travels in the
-- history row itself, so trimming old builds cannot lose it. "Previous" is the
-- build that ran before, whatever its as-of date.
--
-- Not a warehouse view: both engines run this query once per build, over four
-- relations they provide (the segments exist only inside the build until they
-- are published):
--   build_segments     one row per customer of this build: customer_id,
--                      segment_id and whatever else the engine keeps per customer
--   previous_segments  one row per customer of the previous successful build:
--                      customer_id, segment_id, segment_name, segment_since
--                      (no rows on a warehouse's first build)
--   build_scores       features.customer_scores: customer_id, r_score,
--                      f_score, m_score, rfm_group (no rows without transactions)
--   build_facts        one row: run_id, previous_run_id, as_of_date
with

this_build as (
    select * from build_segments
),

previous as (
    select * from previous_segments
),

scores as (
    select * from build_scores
),

facts as (
    select * from build_facts
),

final as (
    select
        this_build.*,
        previous.segment_id as previous_segment_id,
        previous.segment_name as previous_segment_name,
        case
            when previous.segment_id = this_build.segment_id
                then coalesce(previous.segment_since, facts.as_of_date)
            else facts.as_of_date
        end as segment_since,
        scores.r_score,
        scores.f_score,
        scores.m_score,
        scores.rfm_group
    from this_build
    cross join facts
    left join previous on previous.customer_id = this_build.customer_id
    left join scores on scores.customer_id = this_build.customer_id
)

select * from final
