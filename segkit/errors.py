"""The exceptions segkit raises for problems a user can fix.

The CLI turns each into one paragraph on stderr and a non-zero exit code. Any
other exception is a bug in segkit and keeps its traceback. Every exception
(and the one warning class) segkit defines lives here and is exported by the
package.
"""


class SegkitError(Exception):
    """Base class: a problem with the user's input, config or environment."""

    exit_code = 1


class ConfigError(SegkitError):
    """segkit.toml (or a flag) is invalid: unknown key, wrong type, missing file."""

    exit_code = 2


class InputError(SegkitError):
    """The source data cannot be used: unreadable file, missing column, no usable rows."""

    exit_code = 3


class WarehouseBusyError(SegkitError):
    """Another process holds the warehouse (or another build is running)."""

    exit_code = 4


class WarehouseError(SegkitError):
    """The warehouse or reports folder cannot be read or written (disk, permissions)."""

    exit_code = 5


class ProjectError(SegkitError):
    """A model file of the SQL project is malformed: a bad header, a parse error, a cycle."""

    exit_code = 2


class TrackingError(SegkitError):
    """MLflow could not be reached or refused a write."""

    exit_code = 6


class GenerateArgumentError(ConfigError, ValueError):
    """An invalid argument to :func:`segkit.generate` (a ``ValueError`` and a ``ConfigError``)."""


class SegmentationWarning(UserWarning):
    """A degraded but usable result (collapsed bins, dropped features, ...)."""
