"""segkit on Apache Spark: the same SQL models and segments, computed by Spark.

``[engine] kind = "spark"`` (or ``segkit build --engine spark``) runs the
``sql/`` models as Spark SQL (rendered for the Spark dialect from the same
files), computes the bin edges, the binning and the distinct binned vectors
in Spark, fits the model in Python on that small weighted set, and assigns
every customer in Spark SQL with the one assignment rule. No per-customer row
comes to the driver, but for bounded samples: the t-SNE map's (as the DuckDB
build stores it) and MLflow's five-row input example. See docs/SPARK.md.
"""

from __future__ import annotations

import contextlib
import re
import socket
import warnings
from urllib.parse import urlparse

from segkit.config import EngineConfig
from segkit.errors import ConfigError, InputError, SegkitError

EXTRA = "pip install 'segkit[spark]'"


def require_pyspark() -> None:
    """A clear error naming the extra when pyspark is not installed."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ConfigError("the Spark engine ([engine] kind = \"spark\" or --engine spark) "
                          f"needs pyspark, which is not installed. Install the extra: {EXTRA} "
                          "(and Java 17), or build with the DuckDB engine (--engine duckdb)."
                          ) from None


def session(engine: EngineConfig):
    """The Spark session the config asks for: classic (``master``) or Spark Connect (``remote``).

    Without either, the session already running (a notebook or job on a
    cluster), else a local classic session on two cores (``local[2]``).

    Raises
    ------
    ConfigError
        The session cannot start, or nothing answers at the Spark Connect address.
    """
    require_pyspark()
    if engine.remote and engine.remote.startswith("sc://"):
        _reach(engine.remote)
    with _quiet():
        from pyspark.sql import SparkSession

        if not engine.master and not engine.remote:
            active = SparkSession.getActiveSession()
            if active is not None:  # a notebook or job on a cluster: its own session
                for key, value in engine.conf:
                    active.conf.set(key, value)
                return active
        builder = SparkSession.builder.appName("segkit")
        if engine.remote:
            builder = builder.remote(engine.remote)
        else:
            builder = builder.master(engine.master or "local[2]")
            # A local session needs no web UI or progress bars; conf entries can turn them on.
            builder = builder.config("spark.ui.enabled", "false")
            builder = builder.config("spark.ui.showConsoleProgress", "false")
        if (engine.remote or engine.master or "local").startswith("local"):
            # Spark's default of 200 shuffle partitions is for clusters: on one
            # machine each tiny task costs more than its rows (the demo's SQL
            # stage: 100 s with 200, under 40 s with 4, on a loaded 2-core box).
            builder = builder.config("spark.sql.shuffle.partitions", "4")
        for key, value in engine.conf:
            builder = builder.config(key, value)
        try:
            spark = builder.getOrCreate()
            if engine.remote:
                # A Spark Connect client connects on its first request: make it
                # now, so a server that refuses the session is this error.
                spark.version  # noqa: B018
            else:
                spark.sparkContext.setLogLevel("ERROR")
            return spark
        except Exception as exc:  # noqa: BLE001 - JVM/connection errors have many types
            raise ConfigError(f"cannot start a Spark session ([engine] {_where(engine)}): "
                              f"{_first_line(exc)}. Check the address and that Java 17 is "
                              "installed (java -version).") from None


def _reach(remote: str) -> None:
    """Fail now when nothing listens at a Spark Connect address.

    The client retries an unreachable server for ten minutes before it gives
    up (its retries are for a server that answers but is busy, as a starting
    Databricks cluster is); nothing listening at all is a wrong address.
    """
    try:
        parsed = urlparse(remote)
        host, port = parsed.hostname, parsed.port or 15002
    except ValueError:  # a malformed address: pyspark names the problem
        return
    if not host:
        return
    try:
        socket.create_connection((host, port), timeout=30).close()
    except OSError as exc:
        raise ConfigError(f"cannot start a Spark session ([engine] remote = "
                          f"{_address(remote)!r}): nothing answers at {host}:{port} "
                          f"({exc.strerror or exc}). Start the Spark Connect server "
                          "(sbin/start-connect-server.sh of a Spark install) or fix the host "
                          "and port.") from None


@contextlib.contextmanager
def _quiet():
    """Without pyspark's warnings that do not concern segkit: pandas 3 (the Spark path
    uses Arrow and Polars, not pandas) and the note before a retry error (the error
    says it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
        warnings.filterwarnings("ignore", message=r"\[RETRIES_EXCEEDED\]")
        yield


def _address(remote: str) -> str:
    """A Spark Connect address without its secrets (``token=...`` becomes ``token=***``)."""
    return re.sub(r"(?i)(token=)[^;]*", r"\1***", remote)


def _where(engine: EngineConfig) -> str:
    return (f"remote = {_address(engine.remote)!r}" if engine.remote
            else f"master = {engine.master or 'local[2]'!r}")


def _first_line(exc: BaseException, limit: int = 400) -> str:
    """The first line of an exception's message (a JVM's goes on for pages), shortened;
    for a gRPC error, its details."""
    text = str(exc).strip()
    details = re.search(r'details = "([^"]*)"', text)
    if details:
        text = details.group(1)
    first = text.splitlines()[0].strip().rstrip(".") if text else type(exc).__name__
    return first if len(first) <= limit else first[:limit].rstrip() + " ..."


def _from_spark(exc: BaseException) -> bool:
    """Raised by pyspark, its JVM bridge (py4j) or its Spark Connect channel (grpc)."""
    from pyspark.errors import PySparkException

    module = type(exc).__module__ or ""
    return isinstance(exc, PySparkException) or module.split(".")[0] in ("py4j", "grpc")


def _lost_connection(exc: BaseException) -> bool:
    """The engine cannot be reached any more: the server, the JVM or the network is gone."""
    from pyspark.errors import PySparkException

    text = str(exc)
    if type(exc).__name__ in ("Py4JNetworkError", "RetriesExceeded"):
        return True
    if isinstance(exc, PySparkException) and exc.getCondition() in (
            "RETRIES_EXCEEDED", "CANNOT_CONFIGURE_SPARK_CONNECT"):
        return True
    return any(marker in text for marker in (
        "StatusCode.UNAVAILABLE", "Connection refused", "failed to connect",
        "Answer from Java side is empty", "Error while sending or receiving"))


@contextlib.contextmanager
def spark_errors(engine: EngineConfig, doing: str):
    """Spark's exceptions as one paragraph with segkit's exit codes.

    A lost connection to the engine (the Spark Connect server, the cluster or
    the local JVM) is a :class:`ConfigError` (exit 2, as when it cannot
    start); any other error Spark raises while reading or computing is about
    the data or the source (a missing table or file, a bad value): an
    :class:`InputError` (exit 3). The JVM's stack trace stays in Spark's log.
    Exceptions that did not come from Spark pass unchanged.
    """
    try:
        with _quiet():
            yield
    except SegkitError:
        raise
    except Exception as exc:
        if not _from_spark(exc):
            raise
        if _lost_connection(exc):
            raise ConfigError(f"lost the Spark engine ([engine] {_where(engine)}) while "
                              f"{doing}: {_first_line(exc)}. Check that the Spark Connect "
                              "server or cluster is running and reachable, then build "
                              "again; the previous build's results are untouched.") from None
        raise InputError(f"Spark failed while {doing} ([engine] {_where(engine)}): "
                         f"{_first_line(exc)}. Check the source ([transactions], "
                         "[customers]) and the [engine] settings named there; the previous "
                         "build's results are untouched.") from None
