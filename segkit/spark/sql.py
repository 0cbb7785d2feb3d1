"""The SQL half of a build on Spark: the same ``sql/`` models, rendered for Spark SQL.

Each model is rendered from its file with ``dialect = "spark"`` (the macros of
``sql/macros/dialect.sql`` pick Spark's spelling) and becomes a temporary view
named ``<layer>__<name>`` (views over temporary views must be temporary, and a
temporary view has no database); ``materialized: table`` models are computed
once (:func:`materialize`), as the DuckDB build keeps them as tables. The
render context is the DuckDB engine's, built by the same function: DuckDB reads
only the sources' headers to check the mapping, so a bad column is the same
error on both engines. Spark reads the rows. The models are made in the order
both engines share (:func:`segkit.features.run_models`), by :class:`SparkModels`.

What comes to the driver is small: the as-of date, the row accounting per
reason, the column quality, the numeric bounds, histogram counts and the
categorical levels. Per-customer and per-line rows stay in Spark.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl

from segkit import features as duck_features
from segkit import project
from segkit import sources as kinds
from segkit.config import Config
from segkit.errors import InputError
from segkit.features import AS_OF, RAW_FEATURES, for_dialect, render_context, run_models
from segkit.spark.quality import _accounting, _histograms, _min_max, _small, _warnings

SOURCE_VIEW = "segkit_source_{}"
# Materialized beyond the models DuckDB materializes, each computed once where Spark
# would compute it again for every reader: the features, read by the bin edges, the
# binning, the assignment and the outputs; the RFM columns (with the exact average
# spend of every customer), read by the raw features and four times by the scores
# (features.customer_scores counts each score's distinct values and the customers).
MATERIALIZED = {"features.customer_features", "features.customer_rfm"}
# A model reference outside a string literal: staging.transactions -> staging__transactions.
# Comments are skipped whole: an apostrophe in one ("customer's") would otherwise
# open a literal that swallows the references after it.
_REFERENCE = re.compile(r"--[^\n]*|'(?:[^']|'')*'|\b(staging|cleaning|features|segments)\.(\w+)\b")


def view_name(model: str) -> str:
    """The temporary view of a model: ``cleaning.quarantine`` -> ``cleaning__quarantine``."""
    return model.replace(".", "__")


def materialize(spark, view: str, sql: str) -> None:
    """Compute ``sql`` once into the temporary view ``view``, keeping its rows, not its plan.

    ``localCheckpoint`` cuts the lineage: a query over the view plans against
    the stored rows. A cached view keeps the whole plan of every model below
    it, and Spark analyses, optimizes and matches that growing plan against
    every cache entry on each later query (seconds per statement on the demo).
    """
    spark.sql(sql).localCheckpoint(eager=True).createOrReplaceTempView(view)


def localize(sql: str, names) -> str:
    """SQL whose model references point at the models' temporary views."""
    def swap(match: re.Match) -> str:
        if match.group(1) and f"{match.group(1)}.{match.group(2)}" in names:
            return f"{match.group(1)}__{match.group(2)}"
        return match.group(0)

    return _REFERENCE.sub(swap, sql)


class SparkModels:
    """The models as temporary views of a Spark session, for :func:`segkit.features.run_models`.

    Each model is rendered for Spark from the same file, its references
    pointed at the models' views (:func:`localize`) and its sources at the
    views :func:`read_sources` registered. ``execute(sql)`` takes DuckDB SQL
    over models (the level query the two engines share), transpiles it to
    Spark SQL with SQLGlot and answers ``fetchall()`` with tuples (small
    results only).
    """

    def __init__(self, spark, context: dict[str, Any], sources: dict[str, str]):
        self.spark = spark
        self.context = context  # the one render context: it grows the levels as models run
        self.sources = sources
        self.names: set[str] = set()
        self.spark_sql: dict[str, str] = {}  # what Spark ran, per model

    def prepare(self, models: list[project.Model]) -> None:
        """The model names references are rewritten for."""
        self.names = {m.name for m in models}

    def create(self, model: project.Model, sql: str) -> None:
        """The model as a temporary view (computed once when materialized)."""
        # The warehouse shows (and versions) the DuckDB SQL over the source as
        # configured; Spark runs the Spark SQL over the source it read.
        spark_context = for_dialect(self.context, "spark")
        for name, view in self.sources.items():
            spark_context[name]["source"] = view
        spark_sql = project.render(model, spark_context, dialect="spark")
        self.spark_sql[model.name] = spark_sql = localize(spark_sql, self.names)
        view = view_name(model.name)
        # A session that built before (a notebook, the tests) holds the last build's views.
        self.spark.catalog.dropTempView(view)
        if model.materialized == "table" or model.name in MATERIALIZED:
            materialize(self.spark, view, spark_sql)
        else:
            self.spark.sql(f"create or replace temporary view {view} as\n{spark_sql}")

    def execute(self, sql: str):
        """A small DuckDB-spelled query over the models, run by Spark."""
        import sqlglot

        spark_sql = sqlglot.transpile(sql, read="duckdb", write="spark")[0]
        rows = self.spark.sql(localize(spark_sql, self.names)).collect()
        return _Rows([tuple(r) for r in rows])


class _Rows:
    def __init__(self, rows):
        self.rows = rows

    def fetchall(self):
        return self.rows


# Spark column types a stand-in keeps, so a money column is read as its type says
# (segkit.features.context): exact decimals and integers, floating point; the rest is text.
_STAND_IN_TYPE = re.compile(r"decimal\(\d+,\d+\)|tinyint|smallint|int|bigint|float|double")


def _duckdb_type(spark_type: str) -> str:
    if not _STAND_IN_TYPE.fullmatch(spark_type):
        return "varchar"
    return {"int": "integer", "float": "real"}.get(spark_type, spark_type)


@dataclass
class SparkFeatures:
    """What the Spark SQL stage hands on: small frames on the driver, big views in Spark.

    The fields the DuckDB engine's :class:`segkit.features.FeatureResult` has,
    except ``frame`` (the features stay in Spark as ``features__customer_features``)
    and ``quarantine`` (``cleaning__quarantine``).
    """

    spark: Any
    n_customers: int
    feature_columns: list[str]
    numeric_features: list[str]
    onehot_features: list[str]
    as_of: Any
    accounting: pl.DataFrame
    column_quality: pl.DataFrame
    histograms: pl.DataFrame
    numeric_bounds: pl.DataFrame
    models: list[project.Model]
    rendered: dict[str, str]  # DuckDB spelling: what the warehouse shows and versions
    spark_sql: dict[str, str]  # what Spark ran
    customers_removed: int = 0
    source: str = ""
    warnings: list[str] = field(default_factory=list)
    load_seconds: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    categoricals: list[dict[str, Any]] = field(default_factory=list)
    example: pl.DataFrame | None = None  # a few feature rows, for MLflow's input example
    # what the warehouse keeps per run: the small tables, and the shape of the
    # per-customer ones (their rows are Spark's outputs)
    run_tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    rows_released: bool = False  # never: the driver holds no per-customer rows

    rows_in = duck_features.FeatureResult.rows_in
    rows_used = duck_features.FeatureResult.rows_used
    rows_quarantined = duck_features.FeatureResult.rows_quarantined
    primary_source = duck_features.FeatureResult.primary_source

    @property
    def views(self) -> list[project.Model]:
        return self.models

    def release_rows(self) -> None:
        """Nothing to let go of: the per-customer rows are in Spark."""


def read_sources(spark, cfg: Config) -> dict[str, str]:
    """Each configured source registered as a temporary view Spark reads; name -> view.

    Each kind reads itself (:meth:`segkit.sources.Source.read_spark`): files
    as DuckDB reads them, a ``table`` from Spark's catalog, ``sql`` as Spark
    SQL, PostgreSQL through JDBC.
    """
    views = {}
    for name, source in kinds.configured(cfg).items():
        source.check_engine("spark", f"[{name}]")
        views[name] = SOURCE_VIEW.format(name)
        source.read_spark(spark, views[name])
    return views


def spark_context(spark, cfg: Config, views: dict[str, str]) -> dict[str, Any]:
    """The render context (the DuckDB engine's, by the same function) for sources in Spark.

    DuckDB checks the mapping on the files' headers. Any other source is read
    by Spark alone (a catalog table, a Spark SQL query, PostgreSQL over JDBC):
    DuckDB checks it on an empty relation of the columns and types Spark
    reads, and the warehouse's live views read that empty relation.
    """
    con = duckdb.connect(":memory:")
    try:
        opened = {}
        for name, source in kinds.configured(cfg).items():
            if isinstance(source, kinds.FileSource):
                opened[name] = source.open(con)
            else:
                shown = kinds.stand_in([(c, _duckdb_type(kind)) for c, kind
                                          in spark.table(views[name]).dtypes])
                opened[name] = kinds.OpenSource(source, shown, shown)
        return render_context(con, cfg, opened)
    finally:
        con.close()


def build_features(spark, cfg: Config, sources: dict[str, str], *,
                   started: float | None = None) -> SparkFeatures:
    """Staging, cleaning and features in Spark with row accounting; see the module docstring.

    ``sources``: the views :func:`read_sources` registered; ``started``: when
    the load stage began (reading the sources is part of it).

    Raises
    ------
    InputError
        A source cannot be read, a mapped column is missing, or no row is usable.
    """
    started = time.perf_counter() if started is None else started
    context = spark_context(spark, cfg, sources)
    models = SparkModels(spark, context, sources)
    run = run_models(cfg, context, models, started=started)
    as_of = spark.sql(f"select as_of_date from {view_name(AS_OF)}").collect()[0][0]
    accounting = _accounting(spark, cfg)
    n_raw = spark.sql(f"select count(*) from {view_name(RAW_FEATURES)}").collect()[0][0]
    if n_raw == 0:
        raise InputError("no customer has usable data: every row was quarantined.")
    numeric = run.numeric_features
    quality = _small(spark, "select * from features__column_quality").sort(
        ["column_kind", "column_name"], descending=[True, False])
    bounds = _small(spark, "select * from features__numeric_bounds")
    n_customers = spark.sql("select count(*) from features__customer_features").collect()[0][0]
    histograms = _histograms(spark, numeric,
                             _min_max(spark, "features__customer_features_raw", numeric),
                             _min_max(spark, "features__customer_features", numeric))
    accounting, warnings = _warnings(spark, cfg, context, accounting, n_raw - n_customers)
    source = next(iter(kinds.configured(cfg).values()))
    return SparkFeatures(
        spark=spark, n_customers=n_customers,
        feature_columns=spark.table("features__customer_features").columns,
        numeric_features=numeric, onehot_features=run.onehot_features, as_of=as_of,
        accounting=accounting, column_quality=quality, histograms=histograms,
        numeric_bounds=bounds, models=run.models, rendered=run.rendered,
        spark_sql=models.spark_sql, customers_removed=n_raw - n_customers,
        source=source.label, warnings=warnings, load_seconds=run.load_seconds,
        labels=run.labels, categoricals=run.categoricals)
