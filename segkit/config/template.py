"""The commented ``segkit.toml`` template that ``segkit init`` writes."""

from __future__ import annotations

from pathlib import Path

from segkit.errors import ConfigError

TEMPLATE = '''\
# segkit configuration. Relative paths are resolved against this file's folder.
# Docs: README.md. Every key but the source columns is optional.

warehouse = "warehouse/segkit.duckdb"   # the DuckDB file segkit writes
reports_dir = "reports"                 # where HTML reports go

[transactions]                # one row per purchase (or purchase line)
path = "data/orders.csv"      # CSV (any delimiter), Parquet, or a glob of them
# ...or exactly one other kind of source instead of path (README "Where the rows are"):
# table = "raw.orders"        # a table/view in the warehouse
# attach = "analytics.duckdb" # with table = "marts.orders": a table in another DuckDB file
# sql = "select ... from read_parquet('orders/*.parquet') o join read_csv('lines.csv') l using (order_id)"
#                             # a query in the engine's SQL; relative paths: this file's folder
# connection = "postgresql://analyst@db.example.com:5432/shop"   # PostgreSQL, with
#                             # table = "sales.orders" or query = "select ..." (PostgreSQL's SQL);
#                             # the password: PGPASSWORD, ~/.pgpass or PGSERVICE, never here
customer_id = "CustomerID"
timestamp = "InvoiceDate"
# timestamp_format = "%d/%m/%y" # strptime format(s); needed where dates are ambiguous
amount = "Revenue"            # or: quantity = "Quantity" and unit_price = "UnitPrice"
# order_id = "InvoiceNo"      # enables de-duplication of repeated export lines
# categorical = ["Country"]   # a customer's most frequent value becomes a feature
# cancellation_prefix = "C"   # opt-in, needs order_id: ids like "C536379" are cancellations.
#                             # Off by default: real ids may start with C ("CA-1001", "CORP-7").
#                             # Lines with a negative quantity are cancellations either way.
# delimiter = ";"             # CSV only; detected when absent
# encoding = "utf-8"          # CSV only; also "latin-1", "utf-16"
# amount_decimals = 4         # decimals kept of text and floating-point amounts (0-12);
#                             # more are rounded half-up and counted. DECIMAL and
#                             # integer columns keep their own scale.

# [customers]                 # optional: one row per customer with attributes
# path = "data/customers.csv"
# customer_id = "ID"
# birth_year = "Year_Birth"   # or birth_date = "...", or age = "..."
# numeric = ["Income"]
# categorical = ["Education", "Marital_Status"]

# [features]
# frequency = "days"          # distinct purchase days, or "orders"
# monetary = "average"        # average spend per purchase day/order, or "total"
# impute = "median"           # missing numeric values; or "mean"
# outliers = "cap"            # winsorize at cap_quantiles; or "remove", "none"
# cap_quantiles = [0.01, 0.99]
# top_levels = 10             # one-hot columns per categorical; the rest fold into "other"
# min_level_share = 0.01
# age_range = [16, 100]       # ages outside become missing (then imputed)
# labels = { Income = "income", recency_days = "days since last order" }
#                             # how names and the report call a column (default: as written)
# money_decimals = 2          # the average spend, rounded half-up once (0 to amount_decimals)

# [model]
# features = ["recency_days", "frequency", "monetary"]
# n_bins = 4                  # quantile groups per feature
# k_min = 2
# k_max = 10
# seed = 0
# stability_threshold = 0.9   # mean bootstrap ARI a k needs to be preferred
# map = true                  # t-SNE map in the report (0.1-0.3 s)
# tsne_sample_size = 5000
# min_customers = 100         # fewer customers to segment is an error (exit 3)
# min_history_days = 90       # less history than this is a warning
# baseline_resamples = 5      # the random baseline next to the stability (0 = off)

# [backtest]                  # fit again as of (as-of date - horizon), then measure
# enabled = true              # what each segment's customers did in the horizon after
# horizon_days = 90           # 0 turns it off (like --backtest-days 0)

# [scores]                    # R, F and M scores and an RFM group per customer
# groups = "shopify"          # Shopify's 11 groups (scores 1-5); or "klaviyo" (6 groups,
#                             # scores 1-3); or your own table of name = "condition":
# [scores.groups]             # every (r, f, m) cell must fall in exactly one group
# Champions = "r >= 4 and (f + m) / 2 >= 4"
# Others = "r < 4 or (f + m) / 2 < 4"
# levels = 5                  # only with your own groups

# [naming]
# vocabulary = "rfm"          # segkit's RFM names; "scores": each segment named after
#                             # its centroid's group in [scores]

# [export]                    # after each successful build, also write the segments to:
# postgres = "postgresql://segkit@db.example.com:5432/crm"   # password: PGPASSWORD/~/.pgpass
# schema = "segkit"
# parquet = "exports/"
# csv = "exports/"

# [duckdb]
# threads = 2
# memory_limit = "4GB"   # DuckDB spills beyond it; "1GB" keeps a 10M-line build under 1.5 GB
# storage_compatibility_version = "v1.0.0"   # readable by DuckDB 1.x clients
# lock_timeout_seconds = 30   # wait this long for another build, then "warehouse busy"
# history_builds = 10         # per-customer history kept for the last N builds (0 = all)

# [engine]                    # where the SQL and the per-customer steps run
# kind = "duckdb"             # or "spark": pip install 'segkit[spark]' (docs/SPARK.md)
# master = "local[2]"         # classic Spark: "local[2]", "spark://host:7077", "yarn"
# remote = "sc://host:15002"  # ...or Spark Connect (Databricks Connect speaks it)
# conf = { "spark.sql.shuffle.partitions" = "8" }   # Spark settings, passed through
# database = "segkit"         # Spark catalog database for per-customer tables
# output_path = "lake/segkit" # ...or Parquet folders here instead of catalog tables

# [mlflow]
# tracking_uri = "http://127.0.0.1:5000"     # default: SQLite beside the warehouse
# registered_model = "segkit"
'''


def write_template(path: str | Path, *, force: bool = False) -> Path:
    """Write the commented template config; refuse to overwrite unless ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it.")
    path.write_text(TEMPLATE, encoding="utf-8")
    return path
