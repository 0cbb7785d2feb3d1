{#-
  The one assignment rule: a customer's segment from its feature row. Each
  feature is binned with the build's edges (the number of inner edges at or
  below the value, exactly as scikit-learn's KBinsDiscretizer does; one-hot
  features pass through unbinned), and the customer goes to the nearest
  centroid, ties to the lower segment_index. segments.live_segments and
  `segkit score` both call it; the MLflow model is tested against it.

  Emits CTEs (to follow a `with`), the last one named `assigned`:
  customer_id, segment_id, segment_name, distance_to_centroid.
  `features` is a relation with customer_id and the clustered columns,
  `columns` the render context's segment_features (name, label).
-#}
{% macro assign_segments(features, columns, edges='segments.bin_edges',
                         centroids='segments.centroids') -%}
feature_rows as (
    select * from {{ features }}
),

edges as (
    select * from {{ edges }}
),

centroids as (
    select * from {{ centroids }}
),

-- one row per customer and clustered feature (a portable unpivot)
feature_values as (
    {% for column in columns -%}
    select
        customer_id,
        {{ column.label }} as feature,
        cast({{ column.name }} as double) as value
    from feature_rows
    {% if not loop.last %}union all
    {% endif -%}
    {% endfor %}
),

edge_counts as (
    select
        feature,
        count(*) as n_edges
    from edges
    group by feature
),

binned as (
    select
        feature_values.customer_id,
        feature_values.feature,
        case
            -- one-hot features have no edges: the 0/1 value is the coordinate
            when max(edge_counts.n_edges) is null then max(feature_values.value)
            else count(edges.bin)
        end as bin_value
    from feature_values
    left join edge_counts on edge_counts.feature = feature_values.feature
    left join edges
        on edges.feature = feature_values.feature
        and edges.bin > 0
        and edges.lower <= feature_values.value
    group by feature_values.customer_id, feature_values.feature
),

distances as (
    select
        binned.customer_id,
        centroids.segment_id,
        centroids.segment_index,
        centroids.segment_name,
        sqrt(sum(power(binned.bin_value - centroids.centroid, 2))) as distance_to_centroid
    from binned
    inner join centroids on centroids.feature = binned.feature
    group by
        binned.customer_id,
        centroids.segment_id,
        centroids.segment_index,
        centroids.segment_name
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
),

assigned as (
    select
        customer_id,
        segment_id,
        segment_name,
        distance_to_centroid
    from nearest
    where rank_by_distance = 1
)
{%- endmacro %}
