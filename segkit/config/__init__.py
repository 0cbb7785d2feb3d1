"""Read and validate ``segkit.toml`` into a frozen :class:`Config`.

One module per job: ``sections`` (the frozen dataclass of each section),
``checks`` (value types, choices, ranges, labels, paths, CLI flags), ``load``
(segkit.toml or the demo -> Config) and ``template`` (``segkit init``).
"""

from segkit.config.checks import check_engine_flag, check_model_flags
from segkit.config.load import DEMO_DATA, demo_config, load_config
from segkit.config.sections import (
    CONFIG_FILE_NAME,
    ENGINES,
    BacktestConfig,
    ExportConfig,
    NamingConfig,
    ScoresConfig,
    MAX_AMOUNT_DECIMALS,
    Config,
    CustomersConfig,
    DuckDBConfig,
    EngineConfig,
    FeaturesConfig,
    MLflowConfig,
    ModelConfig,
    TransactionsConfig,
)
from segkit.config.template import TEMPLATE, write_template
from segkit.errors import ConfigError

__all__ = [
    "CONFIG_FILE_NAME",
    "DEMO_DATA",
    "ENGINES",
    "MAX_AMOUNT_DECIMALS",
    "TEMPLATE",
    "BacktestConfig",
    "Config",
    "ConfigError",
    "ExportConfig",
    "NamingConfig",
    "ScoresConfig",
    "CustomersConfig",
    "DuckDBConfig",
    "EngineConfig",
    "FeaturesConfig",
    "MLflowConfig",
    "ModelConfig",
    "TransactionsConfig",
    "check_engine_flag",
    "check_model_flags",
    "demo_config",
    "load_config",
    "write_template",
]
