-- One row per segment of a build and profiled feature, plus one row per
-- segment and categorical attribute: what segments.profile_history stores.
-- A numeric feature gets its mean and median; a one-hot column gets the share
-- of the segment at that level beside the share of all customers (the median
-- of a 0/1 column is 0 or 1 and says nothing); a categorical attribute gets
-- its most common level in the segment.
--
-- Not a warehouse view: the build runs this query once, in a short in-memory
-- DuckDB, over five frames it registers, because the segments exist only
-- inside the build until they are published:
--   segment_members   one row per customer: segment_index and one column per
--                     profiled feature (numeric and one-hot)
--   segment_numeric_members
--                     the same rows with segment_index and the numeric
--                     features only: what the medians read
--   profile_features  one row per profiled feature: feature, kind ('numeric'
--                     or 'onehot'), label, attribute, attribute_label, level,
--                     position (display order)
--   fitted_segments   one row per segment: segment_index, segment_id,
--                     segment_name, description, stability
--   segment_features  one row per segment and clustered feature: centroid,
--                     phrase (the words for it), description_rank
with

members as (
    select * from segment_members
),

numeric_members as (
    select * from segment_numeric_members
),

catalog as (
    select * from profile_features
),

segments as (
    select * from fitted_segments
),

centroids as (
    select * from segment_features
),

-- Aggregate wide (one row per segment, every feature column at once), then
-- turn the few result rows long: far cheaper than unpivoting every customer.
segment_means_wide as (
    select
        segment_index,
        count(*) as n_customers,
        avg(columns(* exclude (segment_index)))
    from members
    group by segment_index
),

segment_sizes as (
    select
        segment_index,
        n_customers,
        n_customers / sum(n_customers) over () as share
    from segment_means_wide
),

segment_means as (
    unpivot segment_means_wide
    on columns(* exclude (segment_index, n_customers))
    into name feature value mean
),

-- Numeric features only: a median keeps every value of its column until the
-- end, and one per one-hot column (which says nothing) would cost gigabytes
-- at 10M customers.
segment_medians as (
    unpivot (
        select
            segment_index,
            median(columns(* exclude (segment_index)))
        from numeric_members
        group by segment_index
    )
    on columns(* exclude (segment_index))
    into name feature value median
),

-- Every customer's mean is the segments' means weighted by their sizes: no
-- second pass over the customers.
overall_means as (
    select
        segment_means.feature,
        sum(segment_means.mean * segment_sizes.n_customers)
            / sum(segment_sizes.n_customers) as mean
    from segment_means
    inner join segment_sizes
        on segment_sizes.segment_index = segment_means.segment_index
    group by segment_means.feature
),

feature_rows as (
    select
        segment_means.segment_index,
        catalog.position,
        catalog.feature,
        catalog.kind,
        catalog.label,
        catalog.attribute,
        catalog.attribute_label,
        catalog.level,
        case when catalog.kind = 'numeric' then segment_means.mean end as mean,
        segment_medians.median,
        -- the mean of a 0/1 column is the share of customers at that level
        case when catalog.kind = 'onehot' then segment_means.mean end as level_share,
        case when catalog.kind = 'onehot' then overall_means.mean end as overall_share,
        cast(null as varchar) as top_level
    from segment_means
    inner join catalog
        on catalog.feature = segment_means.feature
    -- one-hot features have no median
    left join segment_medians
        on segment_medians.segment_index = segment_means.segment_index
        and segment_medians.feature = segment_means.feature
    inner join overall_means
        on overall_means.feature = segment_means.feature
),

ranked_levels as (
    select
        *,
        -- ties go to the level listed first (the more common one overall)
        row_number() over (
            partition by segment_index, attribute
            order by level_share desc, position
        ) as level_rank,
        min(position) over (partition by segment_index, attribute) as first_position
    from feature_rows
    where kind = 'onehot'
),

attribute_rows as (
    select
        segment_index,
        first_position as position,
        attribute as feature,
        'categorical' as kind,
        attribute_label as label,
        attribute,
        cast(null as varchar) as level,
        cast(null as double) as mean,
        cast(null as double) as median,
        level_share,
        overall_share,
        level as top_level
    from ranked_levels
    where level_rank = 1
),

profile_rows as (
    select * from feature_rows
    union all by name
    select * from attribute_rows
),

final as (
    select
        segments.segment_id,
        profile_rows.segment_index,
        segments.segment_name,
        segments.description,
        segment_sizes.n_customers,
        segment_sizes.share,
        segments.stability,
        profile_rows.feature,
        profile_rows.mean,
        profile_rows.median,
        centroids.centroid,
        profile_rows.kind,
        profile_rows.label,
        profile_rows.attribute,
        profile_rows.level,
        profile_rows.level_share,
        profile_rows.overall_share,
        profile_rows.top_level,
        centroids.phrase,
        centroids.description_rank,
        profile_rows.position
    from profile_rows
    inner join segment_sizes
        on segment_sizes.segment_index = profile_rows.segment_index
    inner join segments
        on segments.segment_index = profile_rows.segment_index
    left join centroids
        on centroids.segment_index = profile_rows.segment_index
        and centroids.feature = profile_rows.feature
)

-- categorical sorts before onehot: an attribute's summary comes before its levels
select * from final
order by segment_index, position, kind
