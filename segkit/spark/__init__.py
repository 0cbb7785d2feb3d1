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

from segkit.config import EngineConfig
from segkit.errors import ConfigError

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
    """
    require_pyspark()
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
        if not engine.remote:
            spark.sparkContext.setLogLevel("ERROR")
        return spark
    except Exception as exc:  # noqa: BLE001 - JVM/connection errors have many types
        where = f"remote = {engine.remote!r}" if engine.remote else \
            f"master = {engine.master or 'local[2]'!r}"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot start a Spark session ([engine] {where}): {first}. Check "
                          "the address and that Java 17 is installed (java -version).") from None
