-- What `segkit score` reads from the warehouse and runs on the scored file
-- (segkit/scoring.py). The build's reference values come from its current
-- views; the file's features are computed in a scratch DuckDB by the
-- project's own models, then assigned by the one rule (sql/macros/assign.sql).

-- name: latest_build
select run_id, features
from segments.latest_run
inner join meta.runs using (run_id)

-- name: bin_edges
select * from segments.bin_edges order by feature_index, bin

-- name: centroids
select * from segments.centroids order by segment_index, feature_index

-- name: numeric_bounds
select * from features.numeric_bounds

-- name: features_sql
-- The SQL of features.customer_features the build ran: its levels,
-- imputation and capping rule.
select sql
from meta.run_views
where run_id = ? and view_name = 'features.customer_features'

-- name: build_bounds
-- The build's imputation values and caps, registered as _build_bounds, in
-- place of the file's own (features.customer_features reads them).
create table features.numeric_bounds as select * from _build_bounds

-- name: features
select * from features.customer_features order by customer_id

-- name: as_of
select as_of_date from cleaning.as_of

-- name: unscored
-- The file's customers that got no feature row, with the reason.
with

lines as (
    select customer_id, quarantine_reason
    from cleaning.transactions_checked
    where customer_id is not null
),

unused as (
    select customer_id from lines
    except
    select customer_id from features.customer_features_raw
),

reasons as (
    select
        lines.customer_id,
        'every line quarantined: ' || string_agg(
            distinct lines.quarantine_reason, ', '
            order by lines.quarantine_reason
        ) as unscored_reason
    from lines
    inner join unused on lines.customer_id = unused.customer_id
    group by lines.customer_id
),

removed as (
    select
        customer_id,
        'outside the build''s caps of a feature (outliers = remove)' as unscored_reason
    from features.customer_features_raw
    where customer_id not in (select customer_id from features.customer_features)
)

select * from reasons
union all
select * from removed
order by customer_id

-- name: assign
-- Rendered with the build's clustered features (segment_features) over three
-- registered frames: scored_features, build_edges, build_centroids.
with

{{ assign_segments('scored_features', segment_features,
                   edges='build_edges', centroids='build_centroids') }}

select * from assigned
