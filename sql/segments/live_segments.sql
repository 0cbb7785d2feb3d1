-- One row per customer in features.customer_features NOW, assigned to a
-- segment of the latest build in pure SQL: each feature is binned with
-- segments.bin_edges (the number of inner edges at or below the value, as
-- scikit-learn's KBinsDiscretizer does) and the customer goes to the nearest
-- centroid. New transactions get a segment without a rebuild.
with

features as (
    select * from features.customer_features
),

edges as (
    select * from segments.bin_edges
),

centroids as (
    select * from segments.centroids
),

long as (
    unpivot (
        select
            customer_id,
            {% for feature in features -%}
            cast({{ feature.name }} as double) as {{ feature.name }}
            {%- if not loop.last %},{% endif %}
            {% endfor %}
        from features
    )
    on {% for feature in features %}{{ feature.name }}{% if not loop.last %}, {% endif %}{% endfor %}
    into name feature value value
),

binned as (
    select
        long.customer_id,
        long.feature,
        -- one-hot features pass through unbinned
        case
            when any_value(edge_count.n_edges) is null then any_value(long.value)
            else count(edges.bin)
        end as bin_value
    from long
    left join (
        select feature, count(*) as n_edges from edges group by feature
    ) as edge_count on edge_count.feature = long.feature
    left join edges
        on edges.feature = long.feature
        and edges.bin > 0
        and edges.lower <= long.value
    group by long.customer_id, long.feature
),

distances as (
    select
        binned.customer_id,
        centroids.segment_id,
        centroids.segment_index,
        centroids.segment_name,
        sqrt(sum((binned.bin_value - centroids.centroid) ^ 2)) as distance_to_centroid
    from binned
    inner join centroids on centroids.feature = binned.feature
    group by all
),

nearest as (
    select
        customer_id,
        segment_id,
        segment_name,
        distance_to_centroid,
        row_number() over (
            partition by customer_id
            order by distance_to_centroid, segment_index
        ) as rank_by_distance
    from distances
)

select
    customer_id,
    segment_id,
    segment_name,
    distance_to_centroid
from nearest
where rank_by_distance = 1
order by customer_id
