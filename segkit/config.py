"""Read and validate ``segkit.toml`` into a frozen :class:`Config`.

Every default lives here, once. Relative paths in a config file are resolved
against the folder of that file, so a project folder can be moved or run from
anywhere; without a config file segkit builds the bundled CDNOW demo.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from segkit.errors import ConfigError

CONFIG_FILE_NAME = "segkit.toml"
ENGINES = ("duckdb", "spark")
DEMO_DATA = Path(__file__).parent / "data" / "cdnow_transactions.csv"


@dataclass(frozen=True)
class TransactionsConfig:
    """Where the transactions are and which source column means what."""

    customer_id: str
    timestamp: str
    path: str | None = None
    table: str | None = None
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


@dataclass(frozen=True)
class CustomersConfig:
    """An optional table of one row per customer with attributes."""

    customer_id: str
    path: str | None = None
    table: str | None = None
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
        for key in ("source_file", "warehouse", "reports_dir", "engine"):
            data.pop(key, None)
        text = json.dumps(data, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- the schema: key -> (type check, description) per section ----------------

_STR = (str,)
_INT = (int,)
_FLOAT = (int, float)
_BOOL = (bool,)

_SCHEMA: dict[str, dict[str, tuple]] = {
    "": {"warehouse": _STR, "reports_dir": _STR},
    "transactions": {
        "path": _STR, "table": _STR, "customer_id": _STR, "timestamp": _STR,
        "timestamp_format": ("str_or_list",), "amount": _STR, "quantity": _STR,
        "unit_price": _STR, "order_id": _STR, "categorical": ("list",),
        "cancellation_prefix": _STR,
        "delimiter": _STR, "encoding": _STR,
    },
    "customers": {
        "path": _STR, "table": _STR, "customer_id": _STR, "birth_year": _STR,
        "birth_date": _STR, "age": _STR, "numeric": ("list",), "categorical": ("list",),
        "delimiter": _STR, "encoding": _STR,
    },
    "features": {
        "frequency": _STR, "monetary": _STR, "impute": _STR, "outliers": _STR,
        "cap_quantiles": ("pair_float",), "top_levels": _INT, "min_level_share": _FLOAT,
        "age_range": ("pair_int",), "labels": ("labels",),
    },
    "model": {
        "features": ("list",), "n_bins": _INT, "strategy": _STR, "k_min": _INT, "k_max": _INT,
        "k": _INT, "correlation_threshold": _FLOAT, "n_init": _INT, "n_resamples": _INT,
        "stability_threshold": _FLOAT, "seed": _INT, "map": _BOOL, "tsne_sample_size": _INT,
    },
    "duckdb": {"threads": _INT, "memory_limit": _STR, "storage_compatibility_version": _STR,
               "lock_timeout_seconds": _FLOAT, "history_builds": _INT},
    "mlflow": {"enabled": _BOOL, "tracking_uri": _STR, "experiment": _STR, "registered_model": _STR},
    "engine": {"kind": _STR, "master": _STR, "remote": _STR, "conf": ("conf",),
               "database": _STR, "output_path": _STR},
}

_CHOICES = {
    ("features", "frequency"): ("days", "orders"),
    ("features", "monetary"): ("average", "total"),
    ("features", "impute"): ("median", "mean"),
    ("features", "outliers"): ("cap", "remove", "none"),
    ("model", "strategy"): ("quantile", "uniform", "kmeans"),
    ("engine", "kind"): ENGINES,
}


def _where(file: Path | None, section: str) -> str:
    name = file.name if file else CONFIG_FILE_NAME
    return f"{name} [{section}]" if section else name


def _check_type(where: str, key: str, value: Any, kind: tuple) -> Any:
    """Return the value in its internal shape, or raise naming key, value and type."""

    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{where}: {key} = {value!r} is not valid; expected {expected}.")

    tag = kind[0]
    if tag == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail("a list of column names, e.g. [\"Income\"]")
        return tuple(value)
    if tag == "str_or_list":
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise fail("a strptime format such as \"%d/%m/%y\" or a list of them")
    if tag in ("pair_float", "pair_int"):
        types = (int, float) if tag == "pair_float" else (int,)
        if (not isinstance(value, list) or len(value) != 2
                or not all(isinstance(v, types) and not isinstance(v, bool) for v in value)
                or value[0] >= value[1]):
            raise fail("two increasing numbers, e.g. [0.01, 0.99]")
        return tuple(value)
    if tag == "labels":
        if not isinstance(value, dict) or not all(
                isinstance(v, str) and v.strip() for v in value.values()):
            raise fail('a table of column = "label" pairs, e.g. { SpendMeat = "meat spend" }')
        return tuple((str(k), v.strip()) for k, v in value.items())
    if tag == "conf":
        if not isinstance(value, dict) or not all(
                isinstance(v, (str, int, float, bool)) for v in value.values()):
            raise fail('a table of Spark settings, e.g. { "spark.executor.memory" = "4g" }')
        # Spark reads every conf value as text; TOML booleans are spelled as Spark does.
        return tuple((str(k), str(v).lower() if isinstance(v, bool) else str(v))
                     for k, v in value.items())
    if kind == _BOOL:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, kind):
        raise fail({_STR: "a string", _INT: "an integer", _FLOAT: "a number"}[kind])
    return value


# Allowed ranges of numeric settings: (low, high, is the low end included).
# Checked with the config, so a bad value is a config error before any SQL runs.
_RANGES: dict[tuple[str, str], tuple[float | None, float | None, str]] = {
    ("features", "top_levels"): (1, None, "an integer >= 1"),
    ("features", "min_level_share"): (0, 1, "a number in [0, 1)"),
    ("model", "n_bins"): (2, 100, "an integer from 2 to 100"),
    ("model", "k_min"): (2, 100, "an integer from 2 to 100"),
    ("model", "k_max"): (2, 100, "an integer from 2 to 100"),
    ("model", "k"): (2, 100, "an integer from 2 to 100"),
    ("model", "correlation_threshold"): (0, 1, "a number in (0, 1]"),
    ("model", "n_init"): (1, 10_000, "an integer from 1 to 10000"),
    ("model", "n_resamples"): (1, 10_000, "an integer from 1 to 10000"),
    ("model", "stability_threshold"): (0, 1, "a number in [0, 1]"),
    ("model", "seed"): (0, 2**32 - 1, "an integer from 0 to 4294967295"),
    ("model", "tsne_sample_size"): (10, 10_000_000, "an integer from 10 to 10000000"),
    ("duckdb", "threads"): (1, 1024, "an integer from 1 to 1024"),
    ("duckdb", "lock_timeout_seconds"): (0, 86_400, "a number of seconds from 0 to 86400"),
    ("duckdb", "history_builds"): (0, 100_000, "an integer >= 0 (0 keeps every build)"),
}


def _in_range(section: str, key: str, value: Any) -> bool:
    low, high, _ = _RANGES[(section, key)]
    if (section, key) == ("features", "min_level_share"):
        return 0 <= value < 1
    if (section, key) == ("model", "correlation_threshold"):
        return 0 < value <= 1
    return (low is None or value >= low) and (high is None or value <= high)


def _check_ranges(section: str, values: Any, where: str) -> None:
    """Every numeric setting of a section within its range; pairs and limits too."""
    for (sec, key), (_, _, allowed) in _RANGES.items():
        value = getattr(values, key, None) if sec == section else None
        if value is not None and not _in_range(section, key, value):
            raise ConfigError(f"{where}: {key} = {value!r} is out of range; use {allowed}.")
    if section == "model" and values.features is not None and (
            not values.features or len(set(values.features)) != len(values.features)):
        raise ConfigError(f"{where}: features = {list(values.features)} needs at least one "
                          "feature name, each once; remove the key to use the default "
                          "(recency_days, frequency, monetary).")
    if section == "model" and values.k_min > values.k_max:
        raise ConfigError(f"{where}: need k_min <= k_max (got k_min = {values.k_min}, "
                          f"k_max = {values.k_max}).")
    if section == "features":
        low, high = values.cap_quantiles
        if not 0 <= low < high <= 1:
            raise ConfigError(f"{where}: cap_quantiles = {list(values.cap_quantiles)} is out "
                              "of range; use two quantiles 0 <= low < high <= 1, e.g. "
                              "[0.01, 0.99].")
        low, high = values.age_range
        if not 0 <= low < high <= 150:
            raise ConfigError(f"{where}: age_range = {list(values.age_range)} is out of range; "
                              "use two ages 0 <= low < high <= 150, e.g. [16, 100].")
    if section == "duckdb":
        if values.memory_limit is not None and not _MEMORY.fullmatch(values.memory_limit):
            raise ConfigError(f"{where}: memory_limit = {values.memory_limit!r} is not a size; "
                              "use a number and a unit, e.g. \"4GB\" or \"512MiB\".")
        if not _STORAGE_VERSION.fullmatch(values.storage_compatibility_version):
            raise ConfigError(f"{where}: storage_compatibility_version = "
                              f"{values.storage_compatibility_version!r} is not a DuckDB "
                              "version; use e.g. \"v1.0.0\" (readable by every DuckDB 1.x).")


_MEMORY = re.compile(r"\s*\d+(\.\d+)?\s*(B|[KMGT]i?B)\s*", re.IGNORECASE)
_STORAGE_VERSION = re.compile(r"v\d+\.\d+\.\d+|latest")


def check_model_flags(*, k: int | None = None, seed: int | None = None,
                      as_of: str | None = None) -> None:
    """The build's CLI flags, checked like their config keys (a ConfigError, exit 2)."""
    for flag, key, value in (("--k", "k", k), ("--seed", "seed", seed)):
        if value is not None and not _in_range("model", key, value):
            raise ConfigError(f"{flag} {value} is out of range; use "
                              f"{_RANGES[('model', key)][2]}.")
    if as_of is not None:
        try:
            date.fromisoformat(as_of)
        except ValueError:
            raise ConfigError(f'--as-of "{as_of}" is not a date; use YYYY-MM-DD, e.g. '
                              "2024-01-31.") from None


def _validate_section(data: dict, section: str, file: Path | None) -> dict[str, Any]:
    where = _where(file, section)
    allowed = _SCHEMA[section]
    out: dict[str, Any] = {}
    for key, value in data.items():
        if section == "" and key in _SCHEMA and isinstance(value, dict):
            continue
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            known = ", ".join(allowed)
            raise ConfigError(f'{where}: unknown key "{key}"{hint}. Known keys: {known}.')
        value = _check_type(where, key, value, allowed[key])
        choices = _CHOICES.get((section, key))
        if choices and value not in choices:
            raise ConfigError(f"{where}: {key} = {value!r} is not one of {', '.join(choices)}.")
        out[key] = value
    return out


def _resolve_path(base: Path, value: str, where: str, key: str, *, must_exist: bool) -> str:
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base / path
    if must_exist and not glob.has_magic(str(path)) and not path.exists():
        raise ConfigError(f"{where}: {key} = \"{value}\" does not exist (looked for {path}).")
    if must_exist and glob.has_magic(str(path)) and not glob.glob(str(path)):
        raise ConfigError(f"{where}: {key} = \"{value}\" matches no file (looked for {path}).")
    return str(path)


def _check_writable_path(path: Path, value: str, where: str, key: str, *, folder: bool) -> None:
    """Fail early, and clearly, when an output path can never be created."""
    if "\x00" in str(path):
        raise ConfigError(f"{where}: {key} = {value!r} contains a NUL character.")
    # A file where a folder must be: mkdir would only say "File exists".
    for parent in ([path] if folder else []) + list(path.parents):
        if parent.exists() and not parent.is_dir():
            raise ConfigError(f"{where}: {key} = \"{value}\" needs {parent} to be a folder, but "
                              "it is a file. Point the key at a path inside a folder.")
        if parent.exists():
            break
    if not folder and path.is_dir():
        raise ConfigError(f"{where}: {key} = \"{value}\" is a folder; give a file name such "
                          "as \"warehouse/segkit.duckdb\".")


def _source_section(raw: dict, section: str, file: Path | None, base: Path) -> dict[str, Any]:
    where = _where(file, section)
    values = _validate_section(raw, section, file)
    if ("path" in values) == ("table" in values):
        raise ConfigError(f"{where}: give exactly one of path (a CSV/Parquet file or glob) "
                          "or table (an existing table in the warehouse).")
    for key in ("customer_id",) + (("timestamp",) if section == "transactions" else ()):
        if key not in values:
            raise ConfigError(f'{where}: missing required key "{key}" (the source column '
                              f"that holds the {key.replace('_', ' ')}).")
    if "path" in values:
        values["path"] = _resolve_path(base, values["path"], where, "path", must_exist=True)
    return values


def _from_dict(raw: dict, file: Path | None, base: Path) -> Config:
    top = _validate_section(raw, "", file)
    for section, value in raw.items():
        if section in _SCHEMA and section and not isinstance(value, dict):
            raise ConfigError(f"{_where(file, '')}: {section} must be a [{section}] table.")

    transactions = customers = None
    if "transactions" in raw:
        values = _source_section(raw["transactions"], "transactions", file, base)
        has_amount = "amount" in values
        has_product = "quantity" in values and "unit_price" in values
        if has_amount == has_product:
            raise ConfigError(
                f"{_where(file, 'transactions')}: give either amount = \"<column>\" or both "
                "quantity = \"<column>\" and unit_price = \"<column>\".")
        transactions = TransactionsConfig(**values)
    if "customers" in raw:
        values = _source_section(raw["customers"], "customers", file, base)
        age_keys = [k for k in ("birth_year", "birth_date", "age") if k in values]
        if len(age_keys) > 1:
            raise ConfigError(f"{_where(file, 'customers')}: give at most one of birth_year, "
                              f"birth_date and age (got {', '.join(age_keys)}).")
        customers = CustomersConfig(**values)
    if transactions is None and customers is None:
        raise ConfigError(f"{_where(file, '')}: nothing to segment. Add a [transactions] "
                          "table, or a [customers] table with numeric columns.")
    if transactions is None and not (customers.numeric or customers.birth_year
                                     or customers.birth_date or customers.age):
        raise ConfigError(f"{_where(file, 'customers')}: without [transactions], the customers "
                          "table needs numeric columns to segment on (numeric = [...]).")

    sections = {}
    for name, cls in (("features", FeaturesConfig), ("model", ModelConfig),
                      ("duckdb", DuckDBConfig), ("mlflow", MLflowConfig)):
        sections[name] = cls(**_validate_section(raw.get(name, {}), name, file))
    sections["engine"] = _engine_section(raw.get("engine", {}), file, base)
    _check_labels(sections["features"], transactions, customers, file)
    for name in ("features", "model", "duckdb"):
        _check_ranges(name, sections[name], _where(file, name))
    if transactions is not None and transactions.cancellation_prefix is not None:
        if not transactions.cancellation_prefix.strip():
            raise ConfigError(f"{_where(file, 'transactions')}: cancellation_prefix = "
                              f"{transactions.cancellation_prefix!r} would mark every order "
                              "as cancelled; give the prefix of cancellation ids, e.g. \"C\", "
                              "or remove the key.")
        if transactions.order_id is None:
            raise ConfigError(f"{_where(file, 'transactions')}: cancellation_prefix needs "
                              "order_id (the column the prefix is looked for in).")

    warehouse = _resolve_path(base, top.get("warehouse", "warehouse/segkit.duckdb"),
                              _where(file, ""), "warehouse", must_exist=False)
    reports = _resolve_path(base, top.get("reports_dir", "reports"), _where(file, ""),
                            "reports_dir", must_exist=False)
    _check_writable_path(Path(warehouse), top.get("warehouse", "warehouse/segkit.duckdb"),
                         _where(file, ""), "warehouse", folder=False)
    _check_writable_path(Path(reports), top.get("reports_dir", "reports"), _where(file, ""),
                         "reports_dir", folder=True)
    return Config(warehouse=Path(warehouse), reports_dir=Path(reports),
                  transactions=transactions, customers=customers, source_file=file, **sections)


# a database, or catalog.database (Unity Catalog: "main.segkit")
_DATABASE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def _engine_section(raw: dict, file: Path | None, base: Path) -> EngineConfig:
    where = _where(file, "engine")
    values = _validate_section(raw, "engine", file)
    if values.get("master") and values.get("remote"):
        raise ConfigError(f"{where}: give master (classic Spark, e.g. \"local[2]\") or remote "
                          "(Spark Connect, e.g. \"sc://host:15002\"), not both.")
    if values.get("remote") is not None and not values["remote"].strip():
        raise ConfigError(f"{where}: remote = \"\" names no server; give e.g. "
                          "\"sc://host:15002\", or remove the key.")
    if "database" in values and not _DATABASE.fullmatch(values["database"]):
        raise ConfigError(f"{where}: database = {values['database']!r} is not a plain "
                          "database name; use letters, digits and _ (e.g. \"segkit\"), or "
                          "catalog.database (\"main.segkit\").")
    if "output_path" in values and "://" not in values["output_path"]:
        # A local folder is relative to the config; a URI (s3://, dbfs:/) is the cluster's.
        values["output_path"] = _resolve_path(base, values["output_path"], where,
                                              "output_path", must_exist=False)
    return EngineConfig(**values)


def check_engine_flag(engine: str | None) -> None:
    """``--engine``, checked like ``[engine] kind`` (a ConfigError, exit 2)."""
    if engine is not None and engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r}: use one of {', '.join(ENGINES)}.")


# Features the SQL derives under these names; a label can rename them too.
_DERIVED_FEATURES = ("recency_days", "frequency", "monetary", "tenure_days", "age")


def _check_labels(features: FeaturesConfig, transactions, customers, file: Path | None) -> None:
    """Each [features] labels key must name a column the build turns into a feature."""
    columns = list(_DERIVED_FEATURES)
    for section, keys in ((transactions, ("categorical",)), (customers, ("numeric", "categorical"))):
        for key in keys if section is not None else ():
            columns += [c for c in getattr(section, key) if c not in columns]
    for column, _ in features.labels:
        if column not in columns:
            close = difflib.get_close_matches(column, columns, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            raise ConfigError(
                f'{_where(file, "features")}: labels names "{column}"{hint}, which is not a '
                f"feature column. Label one of: {', '.join(columns)}.")


def demo_config(base: Path | None = None) -> Config:
    """The configuration used when there is no segkit.toml: the bundled CDNOW data."""
    raw = {
        "transactions": {
            "path": str(DEMO_DATA),
            "customer_id": "customer_id",
            "timestamp": "purchase_date",
            "amount": "dollar_value",
        }
    }
    return _from_dict(raw, None, base or Path.cwd())


def load_config(path: str | Path | None = None) -> Config:
    """Load ``segkit.toml``.

    Parameters
    ----------
    path : str or Path, default=None
        The config file. ``None`` looks for ``segkit.toml`` in the working
        directory and falls back to the bundled demo (CDNOW) when there is none.

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        The file is missing, is not valid TOML, or a key is unknown, of the wrong
        type, missing, or names a file that does not exist.
    """
    if path is None:
        candidate = Path.cwd() / CONFIG_FILE_NAME
        if not candidate.exists():
            return demo_config()
        path = candidate
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist. Run `python -m segkit init` "
                          "to write a commented template.")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name} is not valid TOML: {exc}.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path.name} is not UTF-8 text.") from None
    return _from_dict(raw, path, path.parent)


TEMPLATE = '''\
# segkit configuration. Relative paths are resolved against this file's folder.
# Docs: README.md. Every key but the source columns is optional.

warehouse = "warehouse/segkit.duckdb"   # the DuckDB file segkit writes
reports_dir = "reports"                 # where HTML reports go

[transactions]                # one row per purchase (or purchase line)
path = "data/orders.csv"      # CSV (any delimiter), Parquet, or a glob of them
# table = "raw.orders"        # ...or an existing table/view in the warehouse instead of path
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

# [model]
# features = ["recency_days", "frequency", "monetary"]
# n_bins = 4                  # quantile groups per feature
# k_min = 2
# k_max = 10
# seed = 0
# stability_threshold = 0.9   # mean bootstrap ARI a k needs to be preferred
# map = true                  # t-SNE map in the report (0.1-0.3 s)
# tsne_sample_size = 5000

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
