-- model:
--   materialized: view
--   published: view
--   grain: one row per customer
--   unique: customer_id
--   not_null: customer_id, segment_id, segment_name, run_id
-- One row per customer of the latest build: its segment, its binned features
-- (0 = the lowest quantile group) and its distance to the segment's centroid;
-- the segment it had in the previous successful build (null when new) and
-- since when it has had this one (the as-of date of the first build of its
-- unbroken run of builds in this segment); its R, F and M scores (1 = worst,
-- null without transactions) and RFM group (sql/features/customer_scores.sql).
with

history as (
    select * from segments.segment_history
),

latest as (
    select * from segments.latest_run
),

final as (
    select
        history.customer_id,
        history.segment_id,
        history.segment_name,
        history.run_id,
        {% for feature in segment_features -%}
        {{ array_item('history.bins', feature.position) }} as {{ feature.bin_column }},
        {% endfor -%}
        history.distance_to_centroid,
        history.previous_segment_id,
        history.previous_segment_name,
        history.segment_since,
        history.r_score,
        history.f_score,
        history.m_score,
        history.rfm_group
    from history
    inner join latest on latest.run_id = history.run_id
)

select * from final
