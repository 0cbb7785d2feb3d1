"""The checks on each value of ``segkit.toml``: keys, types, choices, ranges, labels, paths.

The build's CLI flags (``--k``, ``--seed``, ``--as-of``, ``--engine``) are checked
here too, like the config keys they stand for.
"""

from __future__ import annotations

import difflib
import glob
import re
from datetime import date
from pathlib import Path
from typing import Any

from segkit.config.sections import (CONFIG_FILE_NAME, ENGINES, MAX_AMOUNT_DECIMALS,
                                    FeaturesConfig)
from segkit.errors import ConfigError

# -- the schema: key -> (type check, description) per section ----------------

_STR = (str,)
_INT = (int,)
_FLOAT = (int, float)
_BOOL = (bool,)

_SCHEMA: dict[str, dict[str, tuple]] = {
    "": {"warehouse": _STR, "reports_dir": _STR},
    "transactions": {
        "path": _STR, "table": _STR, "attach": _STR, "sql": _STR, "connection": _STR,
        "query": _STR, "customer_id": _STR, "timestamp": _STR,
        "timestamp_format": ("str_or_list",), "amount": _STR, "quantity": _STR,
        "unit_price": _STR, "order_id": _STR, "categorical": ("list",),
        "cancellation_prefix": _STR,
        "delimiter": _STR, "encoding": _STR, "amount_decimals": _INT,
    },
    "customers": {
        "path": _STR, "table": _STR, "attach": _STR, "sql": _STR, "connection": _STR,
        "query": _STR, "customer_id": _STR, "birth_year": _STR,
        "birth_date": _STR, "age": _STR, "numeric": ("list",), "categorical": ("list",),
        "delimiter": _STR, "encoding": _STR,
    },
    "features": {
        "frequency": _STR, "monetary": _STR, "impute": _STR, "outliers": _STR,
        "cap_quantiles": ("pair_float",), "top_levels": _INT, "min_level_share": _FLOAT,
        "age_range": ("pair_int",), "labels": ("labels",), "money_decimals": _INT,
    },
    "model": {
        "features": ("list",), "n_bins": _INT, "strategy": _STR, "k_min": _INT, "k_max": _INT,
        "k": _INT, "correlation_threshold": _FLOAT, "n_init": _INT, "n_resamples": _INT,
        "stability_threshold": _FLOAT, "seed": _INT, "map": _BOOL, "tsne_sample_size": _INT,
        "min_customers": _INT, "min_history_days": _INT, "baseline_resamples": _INT,
    },
    "backtest": {"enabled": _BOOL, "horizon_days": _INT},
    "scores": {"groups": ("groups",), "levels": _INT},
    "naming": {"vocabulary": _STR},
    "export": {"postgres": _STR, "schema": _STR, "parquet": _STR, "csv": _STR},
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
    ("naming", "vocabulary"): ("rfm", "scores"),
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
    if tag == "groups":
        if isinstance(value, str):
            return value
        if not isinstance(value, dict) or not value or not all(
                isinstance(v, str) and v.strip() for v in value.values()):
            raise fail('"shopify", "klaviyo" or a table of your own groups, e.g. '
                       '{ Champions = "r >= 4 and (f + m) / 2 >= 4", Others = "r < 4 or '
                       '(f + m) / 2 < 4" }')
        return tuple((str(k), v) for k, v in value.items())
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
    ("transactions", "amount_decimals"): (0, MAX_AMOUNT_DECIMALS,
                                          f"an integer from 0 to {MAX_AMOUNT_DECIMALS}"),
    ("features", "money_decimals"): (0, MAX_AMOUNT_DECIMALS,
                                     f"an integer from 0 to {MAX_AMOUNT_DECIMALS}"),
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
    ("model", "min_customers"): (2, None, "an integer >= 2"),
    ("model", "min_history_days"): (0, None, "an integer >= 0"),
    ("model", "baseline_resamples"): (0, 1_000, "an integer from 0 to 1000 (0 turns it off)"),
    ("backtest", "horizon_days"): (0, 3_650, "an integer from 0 to 3650 (0 turns it off)"),
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


_MEMORY = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(B|[KMGT]i?B)\s*", re.IGNORECASE)
# DuckDB's units: KB, MB, ... are powers of 1000, KiB, MiB, ... of 1024.
_MEMORY_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
                 "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def memory_bytes(size: str) -> float:
    """Bytes of a ``[duckdb] memory_limit`` that the checks accepted ("4GB", "512MiB")."""
    number, unit = _MEMORY.fullmatch(size).groups()
    return float(number) * _MEMORY_UNITS[unit.lower()]


_STORAGE_VERSION = re.compile(r"v\d+\.\d+\.\d+|latest")


def check_model_flags(*, k: int | None = None, seed: int | None = None,
                      as_of: str | None = None, backtest_days: int | None = None) -> None:
    """The build's CLI flags, checked like their config keys (a ConfigError, exit 2)."""
    for flag, section, key, value in (("--k", "model", "k", k), ("--seed", "model", "seed", seed),
                                      ("--backtest-days", "backtest", "horizon_days",
                                       backtest_days)):
        if value is not None and not _in_range(section, key, value):
            raise ConfigError(f"{flag} {value} is out of range; use "
                              f"{_RANGES[(section, key)][2]}.")
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


def check_engine_flag(engine: str | None) -> None:
    """``--engine``, checked like ``[engine] kind`` (a ConfigError, exit 2)."""
    if engine is not None and engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r}: use one of {', '.join(ENGINES)}.")


def _check_money(features: FeaturesConfig, transactions, file: Path | None) -> None:
    """[features] money_decimals keeps no more decimals than [transactions] amount_decimals."""
    if transactions is None or features.money_decimals <= transactions.amount_decimals:
        return
    raise ConfigError(
        f"{_where(file, 'features')}: money_decimals = {features.money_decimals} is more than "
        f"[transactions] amount_decimals = {transactions.amount_decimals}: an average spend "
        "keeps no more decimals than the amounts it averages. Use an integer from 0 to "
        f"{transactions.amount_decimals}, or raise amount_decimals.")


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
