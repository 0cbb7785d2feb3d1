-- What the report reads from the warehouse for one build (segkit/reporting/data.py).
-- Every query but the first takes the run id as its one parameter; "latest"
-- and "previous" come from segments.successful_runs, their one definition.

-- name: latest_run
select run_id from segments.latest_run

-- name: run
select * from meta.runs where run_id = ?

-- name: previous_run
select previous_run_id from segments.successful_runs where run_id = ?

-- name: stages
select stage, seconds from meta.run_stages where run_id = ?

-- name: views
select view_name, version, sql_hash
from meta.run_views
where run_id = ?
order by view_name

-- name: accounting
select source, reason, n_rows
from meta.row_accounting
where run_id = ?
order by source, reason nulls first

-- name: column_quality
select * exclude (run_id)
from meta.column_quality
where run_id = ?
order by column_kind desc, column_name

-- name: histograms
select feature, stage, bin_lower, bin_upper, n_customers
from meta.feature_histograms
where run_id = ?
order by feature, stage, bin_lower

-- name: bin_edges
select feature, feature_index, bin, lower, upper, n_customers
from segments.bin_edge_history
where run_id = ?
order by feature_index, bin

-- name: selection
select * exclude (run_id)
from segments.selection_history
where run_id = ?
order by k

-- name: profiles
select * exclude (run_id)
from segments.profile_history
where run_id = ?
order by segment_index, feature

-- name: centroids
select
    segment_id, segment_index, segment_name, feature, feature_index, is_binned,
    centroid
from segments.centroid_history
where run_id = ?
order by segment_index, feature_index

-- name: tsne
select customer_id, segment_id, x, y
from segments.tsne_history
where run_id = ?
order by customer_id

-- The customers' columns that look back (segkit/reporting/customers.py).
-- Empty for a Spark build (its per-customer tables are its own) and for a
-- build whose history was trimmed.

-- name: rfm_crosstab
-- Customers of each segment in each RFM group (sql/features/customer_scores.sql).
select segment_id, segment_name, rfm_group, count(*) as n_customers
from segments.segment_history
where run_id = ? and rfm_group is not null
group by segment_id, segment_name, rfm_group
order by segment_id, rfm_group

-- name: change_counts
-- Who changed segment since the build before, by change and segments.
select change_type, previous_segment_name, segment_name, count(*) as n_customers
from segments.segment_changes
where run_id = ?
group by change_type, previous_segment_name, segment_name
order by n_customers desc, change_type, previous_segment_name, segment_name

-- name: changed_customers
-- A few of them, by customer id: the CRM query has them all.
select customer_id, change_type, previous_segment_name, segment_name
from segments.segment_changes
where run_id = ?
order by customer_id
limit 10

-- name: segment_since
-- Since when the customers of each segment have had it.
select
    segment_id,
    segment_name,
    count(*) as n_customers,
    min(segment_since) as earliest,
    quantile_disc(segment_since, 0.5) as median,
    max(segment_since) as latest,
    count(*) filter (where segment_id = previous_segment_id) as n_stayed
from segments.segment_history
where run_id = ? and segment_since is not null
group by segment_id, segment_name
order by segment_id

-- name: kpis
select * exclude (run_id)
from segments.kpi_history
where run_id = ?
order by segment_index

-- name: backtest
select * exclude (run_id)
from segments.backtest_history
where run_id = ?
order by segment_rank, segment_id

-- name: backtest_run
select * exclude (run_id)
from segments.backtest_run_history
where run_id = ?
