"""Reading ``segkit.toml`` (or the bundled demo) into a validated :class:`Config`.

Relative paths in a config file are resolved against the folder of that file, so
a project folder can be moved or run from anywhere; without a config file segkit
builds the bundled CDNOW demo.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any

from segkit.config.checks import (
    _check_labels,
    _check_money,
    _check_ranges,
    _check_writable_path,
    _resolve_path,
    _SCHEMA,
    _validate_section,
    _where,
)
from segkit.config.sections import (CONFIG_FILE_NAME, Config, CustomersConfig, DuckDBConfig,
                                    EngineConfig, FeaturesConfig, MLflowConfig, ModelConfig,
                                    TransactionsConfig, BacktestConfig, ExportConfig,
                                    NamingConfig, ScoresConfig)
from segkit import sources
from segkit.errors import ConfigError

DEMO_DATA = Path(__file__).parent.parent / "data" / "cdnow_transactions.csv"


def _source_section(raw: dict, section: str, file: Path | None, base: Path) -> dict[str, Any]:
    """A [transactions] or [customers] section: its source's kind checks its keys
    (:func:`segkit.sources.check_section`), then the mapping's required columns."""
    where = _where(file, section)
    values = _validate_section(raw, section, file)

    def resolve(key: str, *, must_exist: bool) -> str:
        return _resolve_path(base, values[key], where, key, must_exist=must_exist)

    values = sources.check_section(values, where, base, resolve)
    for key in ("customer_id",) + (("timestamp",) if section == "transactions" else ()):
        if key not in values:
            raise ConfigError(f'{where}: missing required key "{key}" (the source column '
                              f"that holds the {key.replace('_', ' ')}).")
    return values


def _engine_sources(engine: EngineConfig, transactions, customers,
                    file: Path | None) -> EngineConfig:
    """The sources against ``[engine]``: a kind the engine cannot read is an error;
    a PostgreSQL source puts the JDBC driver on a classic Spark session's jars
    (``[engine] conf`` is Spark's alone, so the DuckDB engine ignores it)."""
    for name, section in (("transactions", transactions), ("customers", customers)):
        if section is None:
            continue
        source = sources.source_for(section, name)
        source.check_engine(engine.kind, _where(file, name))
        if isinstance(source, sources.PostgresSource):
            if engine.kind == "duckdb" and not sources.postgres.driver_installed():
                raise ConfigError(f"{_where(file, name)}: a PostgreSQL source needs the ADBC "
                                  "PostgreSQL driver, which is not installed. Install the "
                                  f"extra: {sources.postgres.EXTRA}.")
            if not engine.remote and sources.postgres.JDBC_JAR.exists():
                engine = dataclasses.replace(
                    engine, conf=sources.postgres.spark_jars(engine.conf, engine.remote,
                                                             _where(file, "engine")))
    return engine


def _from_dict(raw: dict, file: Path | None, base: Path) -> Config:
    top = _validate_section(raw, "", file)
    for section, value in raw.items():
        if section in _SCHEMA and section and not isinstance(value, dict):
            raise ConfigError(f"{_where(file, '')}: {section} must be a [{section}] table.")
    transactions, customers = _sources(raw, file, base)

    sections = {}
    for name, cls in (("features", FeaturesConfig), ("model", ModelConfig),
                      ("duckdb", DuckDBConfig), ("mlflow", MLflowConfig),
                      ("backtest", BacktestConfig), ("naming", NamingConfig)):
        sections[name] = cls(**_validate_section(raw.get(name, {}), name, file))
    sections["scores"] = _scores_section(raw.get("scores", {}), file)
    sections["export"] = _export_section(raw.get("export", {}), file, base)
    sections["engine"] = _engine_section(raw.get("engine", {}), file, base)
    sections["engine"] = _engine_sources(sections["engine"], transactions, customers, file)
    _check_labels(sections["features"], transactions, customers, file)
    for name in ("features", "model", "duckdb", "backtest"):
        _check_ranges(name, sections[name], _where(file, name))
    if transactions is not None:
        _check_ranges("transactions", transactions, _where(file, "transactions"))
    _check_money(sections["features"], transactions, file)
    _check_cancellation(transactions, file)

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


def _sources(raw: dict, file: Path | None, base: Path) -> tuple:
    """The [transactions] and [customers] sections: at least one, each complete."""
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
    return transactions, customers


def _check_cancellation(transactions: TransactionsConfig | None, file: Path | None) -> None:
    """A cancellation_prefix must be a real prefix, of an order_id column."""
    if transactions is not None and transactions.cancellation_prefix is not None:
        if not transactions.cancellation_prefix.strip():
            raise ConfigError(f"{_where(file, 'transactions')}: cancellation_prefix = "
                              f"{transactions.cancellation_prefix!r} would mark every order "
                              "as cancelled; give the prefix of cancellation ids, e.g. \"C\", "
                              "or remove the key.")
        if transactions.order_id is None:
            raise ConfigError(f"{_where(file, 'transactions')}: cancellation_prefix needs "
                              "order_id (the column the prefix is looked for in).")


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


def _scores_section(raw: dict, file: Path | None) -> ScoresConfig:
    """[scores]: a vocabulary or the user's grid, checked on every score cell now,
    before any SQL runs (a gap or an overlap names the cells)."""
    from segkit.scores import resolve  # the vocabularies and the grid check

    values = _validate_section(raw, "scores", file)
    scores = ScoresConfig(**values)
    groups = scores.groups if isinstance(scores.groups, str) else dict(scores.groups)
    try:
        resolve(groups, scores.levels)
    except ConfigError as exc:
        # the message names the key ("[scores] groups ...") and the cells
        raise ConfigError(f"{file.name if file else CONFIG_FILE_NAME} {exc}") from None
    return scores


def _export_section(raw: dict, file: Path | None, base: Path) -> ExportConfig:
    """[export]: folders relative to the config; a PostgreSQL URL without a password."""
    where = _where(file, "export")
    values = _validate_section(raw, "export", file)
    for key in ("parquet", "csv"):
        if key in values and "://" not in values[key]:
            values[key] = _resolve_path(base, values[key], where, key, must_exist=False)
    return ExportConfig(**values)


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
