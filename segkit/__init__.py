"""segkit: customer segmentation that lives in SQL.

Each CLI command is one function here with the same name and arguments:
``segkit build --as-of 2024-01-01`` is ``segkit.build(as_of="2024-01-01")``.
"""

__version__ = "0.1.0"

from segkit.api import (  # noqa: E402
    build, export, generate, init, report, restore, runs, score, sql_list, sql_render,
)
from segkit.errors import (  # noqa: E402
    ConfigError,
    GenerateArgumentError,
    InputError,
    ProjectError,
    SegkitError,
    SegmentationWarning,
    TrackingError,
    WarehouseBusyError,
    WarehouseError,
)

__all__ = [
    "build", "export", "generate", "init", "report", "restore", "runs", "score",
    "SegkitError", "ConfigError", "InputError", "WarehouseBusyError", "WarehouseError",
    "ProjectError", "TrackingError", "GenerateArgumentError", "SegmentationWarning",
]
