-- The tables segkit writes: the contract data engineers query. Each keeps
-- every build, keyed by run_id; the views in sql/segments show the latest
-- successful build. Types are plain so every DuckDB 1.x client reads them.

create schema if not exists meta;
create schema if not exists segments;

-- One row per version of a model: a new fingerprint of its parsed, rendered
-- SQL (a logic or config change, not a comment or layout edit) adds a version.
create table if not exists meta.view_versions (
    view_name varchar not null,
    version integer not null,
    sql_hash varchar not null,
    sql_template varchar not null,      -- the rendered SQL of the version's first build
    recorded_at timestamp not null,
    primary key (view_name, version)
);

-- One row per build.
create table if not exists meta.runs (
    run_id varchar primary key,
    started_at timestamp not null,
    finished_at timestamp,
    status varchar not null,            -- success, failed or interrupted (a running build is in <warehouse>.runs.jsonl)
    error varchar,
    config_hash varchar,
    config_json varchar,
    source varchar,
    as_of_date date,
    rows_in bigint,
    rows_used bigint,
    rows_quarantined bigint,
    customers bigint,
    customers_removed bigint,
    distinct_vectors bigint,
    features varchar,                   -- comma-separated features clustered
    k integer,
    k_rule varchar,
    silhouette double,
    davies_bouldin double,
    calinski_harabasz double,
    stability_ari_mean double,
    seconds_total double,
    tsne_method varchar,
    warnings varchar,                   -- one per line
    mlflow_run_id varchar,
    model_name varchar,
    model_version varchar,
    segkit_version varchar
);

-- Which version of each model a build used, and the exact SQL it ran.
create table if not exists meta.run_views (
    run_id varchar not null,
    view_name varchar not null,
    version integer not null,
    sql_hash varchar not null,          -- fingerprint of the parsed, rendered query
    sql varchar                         -- the rendered SQL (null for builds before it was kept)
);
-- Warehouses written before the rendered SQL was kept gain the column.
alter table meta.run_views add column if not exists sql varchar;

-- Seconds per stage of each build.
create table if not exists meta.run_stages (
    run_id varchar not null,
    stage varchar not null,
    seconds double not null
);

-- Rows in per source and reason (reason null = used). Sums to rows_in.
-- n_customers_lost: customers whose every line was quarantined, counted under
-- the reason that took most of their lines. n_amounts_rounded,
-- n_amounts_float_noise (on the used transactions only): amounts with more
-- decimals than kept, rounded half-up by more than float noise, or by float
-- noise alone (15.299999999999999 read as 15.3).
create table if not exists meta.row_accounting (
    run_id varchar not null,
    source varchar not null,
    reason varchar,
    n_rows bigint not null,
    n_customers_lost bigint,
    n_amounts_rounded bigint,
    n_amounts_float_noise bigint
);
alter table meta.row_accounting add column if not exists n_customers_lost bigint;
alter table meta.row_accounting add column if not exists n_amounts_rounded bigint;
alter table meta.row_accounting add column if not exists n_amounts_float_noise bigint;

-- Per feature column: values imputed, outside the caps, levels folded.
create table if not exists meta.column_quality (
    run_id varchar not null,
    column_name varchar not null,
    column_kind varchar not null,
    n_imputed bigint,
    n_below_low bigint,
    n_above_high bigint,
    n_folded bigint,
    impute_value double,
    cap_low double,
    cap_high double
);

-- Histograms of each numeric feature before and after capping (for the report).
create table if not exists meta.feature_histograms (
    run_id varchar not null,
    feature varchar not null,
    stage varchar not null,             -- raw or capped
    bin_lower double,
    bin_upper double,
    n_customers bigint
);

-- Quarantined source rows of each build.
create table if not exists meta.quarantine_history (
    run_id varchar not null,
    source varchar not null,
    reason varchar not null,
    customer_id varchar,
    order_id varchar,
    ordered_at_text varchar,
    amount_text varchar
);

-- Customer -> segment for every build: movement between builds is a query.
create table if not exists segments.segment_history (
    run_id varchar not null,
    customer_id varchar not null,
    segment_id integer not null,
    segment_name varchar not null,
    distance_to_centroid double not null,
    bins double[]                       -- binned features, in meta.runs.features order
);

-- Per build, segment and feature (numeric or one-hot level), plus one row per
-- segment and categorical attribute: size, share, typical values, centroid.
create table if not exists segments.profile_history (
    run_id varchar not null,
    segment_id integer not null,
    segment_index integer not null,     -- canonical order within the build
    segment_name varchar not null,
    description varchar,
    n_customers bigint not null,
    share double not null,              -- of all customers in the segment
    stability double,                   -- mean bootstrap Jaccard of the segment
    feature varchar not null,
    mean double,                        -- numeric features only
    median double,                      -- numeric features only
    centroid double,                    -- clustered features only, in bins
    kind varchar,                       -- numeric, onehot or categorical
    label varchar,                      -- the feature as people call it
    attribute varchar,                  -- onehot, categorical: the categorical column
    level varchar,                      -- onehot: the level, as in the data
    level_share double,                 -- onehot: share of the segment at the level;
                                        -- categorical: that of top_level
    overall_share double,               -- the same share among all customers
    top_level varchar,                  -- categorical: the segment's most common level
    phrase varchar,                     -- the words for this feature in the name/description
    description_rank integer            -- 1..3 when the description names this feature
);

-- Warehouses written before profiles had shares gain the columns (null in old runs).
alter table segments.profile_history add column if not exists kind varchar;
alter table segments.profile_history add column if not exists label varchar;
alter table segments.profile_history add column if not exists attribute varchar;
alter table segments.profile_history add column if not exists level varchar;
alter table segments.profile_history add column if not exists level_share double;
alter table segments.profile_history add column if not exists overall_share double;
alter table segments.profile_history add column if not exists top_level varchar;
alter table segments.profile_history add column if not exists phrase varchar;
alter table segments.profile_history add column if not exists description_rank integer;

-- Per build and k: the sweep that chose k.
create table if not exists segments.selection_history (
    run_id varchar not null,
    k integer not null,
    inertia double,
    silhouette double,
    davies_bouldin double,
    calinski_harabasz double,
    stability_ari_mean double,
    stability_ari_p10 double,
    stability_ari_min double,
    is_elbow boolean,
    is_chosen boolean
);

-- Per build and feature: bin b covers lower <= value < upper.
create table if not exists segments.bin_edge_history (
    run_id varchar not null,
    feature varchar not null,
    feature_index integer not null,
    bin integer not null,
    lower double,
    upper double,
    n_customers bigint
);

-- Per build, segment and feature: the centroid in binned space.
create table if not exists segments.centroid_history (
    run_id varchar not null,
    segment_id integer not null,
    segment_index integer not null,
    segment_name varchar not null,
    feature varchar not null,
    feature_index integer not null,
    is_binned boolean not null,
    centroid double not null
);

-- Per build: the t-SNE sample with its 2-D coordinates.
create table if not exists segments.tsne_history (
    run_id varchar not null,
    customer_id varchar not null,
    segment_id integer not null,
    x double not null,
    y double not null
);

-- Per customer, what looks back (issue 26): the previous successful build's
-- segment (null for a customer new in the build), since when the customer has
-- had this segment (carried forward from build to build in this row, so
-- trimming the history cannot lose it), and its R, F and M scores (1 = worst;
-- null in customers-only builds) and RFM group under [scores]. Null in rows of
-- builds made before these columns.
alter table segments.segment_history add column if not exists previous_segment_id integer;
alter table segments.segment_history add column if not exists previous_segment_name varchar;
alter table segments.segment_history add column if not exists segment_since date;
alter table segments.segment_history add column if not exists r_score integer;
alter table segments.segment_history add column if not exists f_score integer;
alter table segments.segment_history add column if not exists m_score integer;
alter table segments.segment_history add column if not exists rfm_group varchar;

-- One row per customer whose segment changed between two consecutive successful
-- builds (sql/build/segment_change_rows.sql): moved, new in the build or gone
-- from it. Kept for every build, never trimmed. A CRM sync reads:
--   select * from segments.segment_changes
--   where run_id = (select run_id from segments.latest_run)
create table if not exists segments.segment_changes (
    run_id varchar not null,            -- the newer build
    previous_run_id varchar not null,   -- the successful build before it
    customer_id varchar not null,
    change_type varchar not null,       -- moved, new or gone
    previous_segment_id integer,        -- null for a new customer
    previous_segment_name varchar,
    segment_id integer,                 -- null for a gone customer
    segment_name varchar,
    changed_at date not null            -- the newer build's as-of date
);

-- The random baseline's stability at each k: the mean bootstrap ARI of the
-- same data with each column shuffled on its own (no structure); null when
-- [model] baseline_resamples = 0 and in builds before it.
alter table segments.selection_history add column if not exists stability_baseline double;

-- What each segment is worth, per build: sql/build/segment_kpis.sql. Money is
-- exact (the source's scale, at most 12 places); revenue is never rounded,
-- the averages are rounded half-up once to [features] money_decimals. In a
-- customers-only build (has_transactions false) every money figure is null.
create table if not exists segments.kpi_history (
    run_id varchar not null,
    segment_id integer not null,
    segment_index integer not null,
    segment_name varchar not null,
    has_transactions boolean not null,
    n_customers bigint not null,
    customer_share double not null,     -- of all segmented customers
    n_orders bigint,                    -- distinct order ids where order_id is mapped, else purchase days
    n_purchase_days bigint,
    revenue decimal(38, 12),            -- sum of the used lines' amounts
    revenue_share double,               -- of the segmented customers' revenue
    average_order_value decimal(38, 12),
    revenue_per_customer decimal(38, 12),
    median_days_between_purchases double, -- customers with 2+ purchase days
    one_time_buyer_share double
);

-- One row per build: its backtest (status ran, skipped or off, and why), the
-- lift and AUC with their 95% bootstrap intervals, and what customers new in
-- the horizon spent (not in any segment of the fit).
create table if not exists segments.backtest_run_history (
    run_id varchar not null,
    status varchar not null,            -- ran, skipped or off
    reason varchar,                     -- why it was skipped or off
    backtest_as_of_date date,           -- d = the build's as-of date - horizon
    horizon_days integer not null,
    seconds double,
    n_customers bigint,                 -- segmented as of d
    n_resamples integer,
    confidence double,
    seed bigint,
    lift double,                        -- top-ranked segment's repurchase share / bottom-ranked one's
    lift_low double,
    lift_high double,
    lift_note varchar,                  -- why the lift is null
    auc double,
    auc_low double,
    auc_high double,
    auc_note varchar,
    top_segment_name varchar,
    bottom_segment_name varchar,
    revenue decimal(38, 12),            -- spent in the horizon by the customers segmented at d
    new_customers bigint,               -- first used line in the horizon
    new_customer_revenue decimal(38, 12)
);

-- One row per build and segment of its backtest's fit (as of d): what its
-- customers did in (d, d + horizon], each figure with its 95% bootstrap
-- interval (customers resampled, seeded). lift and auc repeat the build's.
create table if not exists segments.backtest_history (
    run_id varchar not null,
    backtest_as_of_date date not null,
    horizon_days integer not null,
    segment_id integer not null,
    segment_name varchar not null,
    segment_rank integer not null,      -- 1 = expected to buy most (from the centroids alone)
    n_customers bigint not null,
    n_bought_again bigint not null,
    repurchase_share double,
    repurchase_share_low double,
    repurchase_share_high double,
    revenue decimal(38, 12),
    mean_spend decimal(38, 12),
    mean_spend_low decimal(38, 12),
    mean_spend_high decimal(38, 12),
    revenue_share double,               -- of the revenue of customers segmented at d
    revenue_share_low double,
    revenue_share_high double,
    purchase_days bigint,
    purchase_days_per_customer double,
    purchase_days_per_customer_low double,
    purchase_days_per_customer_high double,
    lift double,
    lift_low double,
    lift_high double,
    auc double,
    auc_low double,
    auc_high double
);
