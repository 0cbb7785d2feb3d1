"""The shape of ``segkit.toml``: one frozen dataclass per section, and :class:`Config`.

Every default lives here, once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_FILE_NAME = "segkit.toml"
ENGINES = ("duckdb", "spark")
# The most decimals an amount keeps (README "Features"): a line's amount is
# DECIMAL(14 + s, s) and a customer's total DECIMAL(38, s), so a total keeps at
# least 26 digits before the point and cannot overflow.
MAX_AMOUNT_DECIMALS = 12


@dataclass(frozen=True)
class TransactionsConfig:
    """Where the transactions are and which source column means what."""

    customer_id: str
    timestamp: str
    path: str | None = None
    table: str | None = None
    # Other kinds of source (exactly one kind per source; docs in the README):
    attach: str | None = None  # another DuckDB file holding `table` (read-only)
    sql: str | None = None  # a query in the engine's own dialect
    connection: str | None = None  # postgresql://user@host:5432/db, with table or query
    query: str | None = None  # run by the database of `connection`
    timestamp_format: tuple[str, ...] = ()
    amount: str | None = None
    quantity: str | None = None
    unit_price: str | None = None
    order_id: str | None = None
    # Per-customer attributes carried on transaction lines (e.g. Country): the
    # customer's most frequent value becomes a categorical feature.
    categorical: tuple[str, ...] = ()
    # Opt-in: order ids that start with it are cancellations. No default,
    # because real order ids start with a "C" for other reasons ("CA-1001").
    # Lines with a negative quantity are cancellations either way.
    cancellation_prefix: str | None = None
    delimiter: str | None = None
    encoding: str = "utf-8"
    # Decimals an amount keeps when the source does not declare them (text, a
    # floating-point column): more are rounded half-up, and counted. A DECIMAL
    # or integer column keeps its own scale.
    amount_decimals: int = 4


@dataclass(frozen=True)
class CustomersConfig:
    """An optional table of one row per customer with attributes."""

    customer_id: str
    path: str | None = None
    table: str | None = None
    attach: str | None = None
    sql: str | None = None
    connection: str | None = None
    query: str | None = None
    birth_year: str | None = None
    birth_date: str | None = None
    age: str | None = None
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    delimiter: str | None = None
    encoding: str = "utf-8"


@dataclass(frozen=True)
class FeaturesConfig:
    """How per-customer features are computed, imputed, capped and encoded."""

    frequency: str = "days"  # distinct purchase days, or "orders"
    monetary: str = "average"  # average spend per purchase, or "total"
    impute: str = "median"  # or "mean"
    outliers: str = "cap"  # winsorize; "remove" drops the customer; "none"
    cap_quantiles: tuple[float, float] = (0.01, 0.99)
    top_levels: int = 10  # one-hot columns per categorical before folding into "other"
    min_level_share: float = 0.01  # levels rarer than this are folded into "other"
    age_range: tuple[int, int] = (16, 100)  # ages outside become missing, then imputed
    # (column, label) pairs: how segment names and the report call a column;
    # by default the source column name as written
    labels: tuple[tuple[str, str], ...] = ()
    # Decimals a quotient of money keeps (the average spend), rounded half-up once
    money_decimals: int = 2


@dataclass(frozen=True)
class ModelConfig:
    """Discretization, the K-Means sweep, stability and the t-SNE map."""

    features: tuple[str, ...] | None = None
    n_bins: int = 4
    strategy: str = "quantile"
    k_min: int = 2
    k_max: int = 10
    k: int | None = None
    correlation_threshold: float = 0.95
    n_init: int = 100
    n_resamples: int = 50
    stability_threshold: float = 0.9
    seed: int = 0
    map: bool = True
    tsne_sample_size: int = 5000
    # Data gates, before the model runs: fewer customers is an error (exit 3),
    # less history than this a warning.
    min_customers: int = 100
    min_history_days: int = 90
    # Resamples of the random stability baseline (columns shuffled on their own);
    # 0 turns it off.
    baseline_resamples: int = 5


@dataclass(frozen=True)
class BacktestConfig:
    """The backtest: the build fitted again as of (as-of date - horizon), then what each
    segment's customers did in the horizon after."""

    enabled: bool = True
    horizon_days: int = 90  # 0 turns it off, like enabled = false


@dataclass(frozen=True)
class ScoresConfig:
    """R, F and M scores and the RFM group of every customer."""

    # "shopify" (5 levels, 11 groups), "klaviyo" (3 levels, 6 groups), or the
    # user's own groups: (name, condition on r, f, m) pairs, in order
    groups: str | tuple[tuple[str, str], ...] = "shopify"
    levels: int | None = None  # only with the user's own groups (default 5)


@dataclass(frozen=True)
class NamingConfig:
    """How segments are named: segkit's RFM rule, or the score vocabulary's groups."""

    vocabulary: str = "rfm"  # or "scores": each segment after its centroid's RFM group


@dataclass(frozen=True)
class ExportConfig:
    """Where a successful build's per-customer tables are also written."""

    postgres: str | None = None  # postgresql://user@host:5432/db (password from libpq)
    schema: str = "segkit"  # the PostgreSQL schema the tables go to
    parquet: str | None = None  # a folder
    csv: str | None = None  # a folder


@dataclass(frozen=True)
class DuckDBConfig:
    """Resources of the build's DuckDB and the file format of the warehouse."""

    threads: int | None = None  # DuckDB's default: every core
    memory_limit: str | None = None  # DuckDB's default: 80% of RAM
    # v1.0.0 storage is readable by every DuckDB from 1.0 on (CLI, DBeaver, notebooks).
    storage_compatibility_version: str = "v1.0.0"
    # How long a build waits for the warehouse file or another build's lock
    # before it reports "warehouse busy".
    lock_timeout_seconds: float = 30.0
    # Per-customer history (segment_history, tsne_history, quarantine_history)
    # is kept for the last N successful builds; 0 keeps every build. The run
    # registry and the per-segment tables are always kept.
    history_builds: int = 10


@dataclass(frozen=True)
class MLflowConfig:
    """Where builds are tracked; by default a SQLite store beside the warehouse."""

    enabled: bool = True
    tracking_uri: str | None = None
    experiment: str = "segkit"
    registered_model: str = "segkit"


@dataclass(frozen=True)
class EngineConfig:
    """Which engine runs the SQL and the per-customer steps (docs/SPARK.md)."""

    kind: str = "duckdb"  # or "spark" (pip install 'segkit[spark]')
    master: str | None = None  # classic Spark: "local[2]", "spark://host:7077", "yarn"
    remote: str | None = None  # Spark Connect: "sc://host:15002" (Databricks Connect too)
    # Spark conf entries passed through as they are (spark.executor.memory = "4g")
    conf: tuple[tuple[str, str], ...] = ()
    # where per-customer tables go on Spark: this catalog database, or Parquet
    # folders under output_path when it is set
    database: str = "segkit"
    output_path: str | None = None


@dataclass(frozen=True)
class Config:
    """A validated segkit configuration. Build one with :func:`load_config`."""

    warehouse: Path
    reports_dir: Path
    transactions: TransactionsConfig | None
    customers: CustomersConfig | None
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    duckdb: DuckDBConfig = field(default_factory=DuckDBConfig)
    mlflow: MLflowConfig = field(default_factory=MLflowConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    scores: ScoresConfig = field(default_factory=ScoresConfig)
    naming: NamingConfig = field(default_factory=NamingConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    source_file: Path | None = None  # the segkit.toml read, if any
    as_of: str | None = None  # set by --as-of; None means the last date in the data

    def replace(self, **changes: Any) -> "Config":
        """A copy with top-level fields changed (used by CLI flags)."""
        return dataclasses.replace(self, **changes)

    def replace_model(self, **changes: Any) -> "Config":
        """A copy with ``[model]`` fields changed (``--k``, ``--seed``, ``--no-map``)."""
        return dataclasses.replace(self, model=dataclasses.replace(self.model, **changes))

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for hashing, MLflow parameters and the report."""

        def plain(value: Any) -> Any:
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, tuple):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value

        return plain(dataclasses.asdict(self))

    def config_hash(self) -> str:
        """A short fingerprint of everything that shapes the result."""
        data = self.to_dict()
        # Where results are written, and which engine computes them, does not
        # shape them (the engines give identical results, tested).
        for key in ("source_file", "warehouse", "reports_dir", "engine", "export"):
            data.pop(key, None)
        text = json.dumps(data, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
