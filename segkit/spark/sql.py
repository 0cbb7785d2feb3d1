"""The SQL half of a build on Spark: the same ``sql/`` models, rendered for Spark SQL.

Each model is rendered from its file with ``dialect = "spark"`` (the macros of
``sql/macros/dialect.sql`` pick Spark's spelling) and becomes a temporary view
named ``<layer>__<name>`` (views over temporary views must be temporary, and a
temporary view has no database); ``materialized: table`` models are computed
once (:func:`materialize`), as the DuckDB build keeps them as tables. The
render context is the DuckDB engine's, built by the same function: DuckDB reads
only the sources' headers to check the mapping, so a bad column is the same
error on both engines. Spark reads the rows.

What comes to the driver is small: the as-of date, the row accounting per
reason, the column quality, the numeric bounds, histogram counts and the
categorical levels. Per-customer and per-line rows stay in Spark.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from segkit import features as duck_features
from segkit import project
from segkit.config import Config, CustomersConfig, TransactionsConfig
from segkit.errors import InputError
from segkit.features import AS_OF, RAW_FEATURES, for_dialect, render_context, run_models
from segkit.spark.quality import _accounting, _histograms, _min_max, _small, _warnings

SOURCE_VIEW = "segkit_source_{}"
# Materialized beyond the models DuckDB materializes: the features are read by the
# bin edges, the binning, the assignment and the outputs, so Spark computes them once.
MATERIALIZED = {"features.customer_features"}
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


def _delimiter(path: str) -> str:
    """The CSV delimiter DuckDB's sniffer finds, so both engines split lines alike."""
    con = duckdb.connect(":memory:")
    try:
        first = sorted(Path().glob(path) if not Path(path).is_absolute()
                       else Path("/").glob(path.lstrip("/")))
        target = str(first[0]) if first else path
        rows = con.execute("select delimiter from sniff_csv(?)", [target]).fetchall()
        return rows[0][0] if rows else ","
    finally:
        con.close()


def read_source(spark, section: TransactionsConfig | CustomersConfig, name: str) -> str:
    """Register the source as a temporary view that Spark reads; return the view's name.

    CSV is read as text (DuckDB's ``all_varchar``) with its header, the same
    delimiter and encoding and RFC 4180 quotes; Parquet keeps its types
    (``mergeSchema``: DuckDB's ``union_by_name``); ``table`` is the Spark
    catalog's table.
    """
    view = SOURCE_VIEW.format(name)
    if section.table:
        frame = spark.table(section.table)
    elif re.search(r"\.(parquet|pq)$", section.path, re.IGNORECASE):
        frame = spark.read.option("mergeSchema", "true").parquet(section.path)
    else:
        frame = (spark.read.option("header", "true").option("inferSchema", "false")
                 .option("sep", section.delimiter or _delimiter(section.path))
                 .option("encoding", section.encoding).option("quote", '"')
                 .option("escape", '"').option("mode", "PERMISSIVE").csv(section.path))
    frame.createOrReplaceTempView(view)
    return view


# Spark column types a stand-in keeps, so a money column is read as its type says
# (segkit.features.context): exact decimals and integers, floating point; the rest is text.
_STAND_IN_TYPE = re.compile(r"decimal\(\d+,\d+\)|tinyint|smallint|int|bigint|float|double")


def _stand_in(con, spark, section, view: str) -> None:
    """A ``table =`` source is in Spark's catalog: DuckDB checks the mapping on an empty copy."""
    parts = section.table.split(".")
    dtypes = spark.table(view).dtypes
    if len(parts) == 2:
        con.execute(f"create schema if not exists {project.quote_ident(parts[0])}")
    qualified = ".".join(project.quote_ident(p) for p in parts)
    body = ", ".join(f"{project.quote_ident(c)} "
                     f"{kind if _STAND_IN_TYPE.fullmatch(kind) else 'varchar'}"
                     for c, kind in dtypes)
    con.execute(f"create table {qualified} ({body})")


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
    """Each configured source registered as a temporary view Spark reads; name -> view."""
    return {name: read_source(spark, getattr(cfg, name), name)
            for name in ("transactions", "customers") if getattr(cfg, name) is not None}


def spark_context(spark, cfg: Config, sources: dict[str, str]) -> dict[str, Any]:
    """The render context (the DuckDB engine's, by the same function) for sources in Spark.

    DuckDB checks the mapping on the files' headers; a ``table =`` source is in
    Spark's catalog, so it checks an empty copy of its columns. A Spark catalog
    table is not readable from the DuckDB warehouse: its published live views
    read an empty relation of the same columns.
    """
    con = duckdb.connect(":memory:")
    try:
        for name, view in sources.items():
            if getattr(cfg, name).table:
                _stand_in(con, spark, getattr(cfg, name), view)
        context = render_context(con, cfg)
    finally:
        con.close()
    for name, view in sources.items():
        if getattr(cfg, name).table:
            columns = ", ".join(f"cast(null as varchar) as {project.quote_ident(c)}"
                                for c in spark.table(view).columns)
            context[name]["source"] = f"(select {columns} where false) as spark_table"
    return context


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
    source = cfg.transactions or cfg.customers
    return SparkFeatures(
        spark=spark, n_customers=n_customers,
        feature_columns=spark.table("features__customer_features").columns,
        numeric_features=numeric, onehot_features=run.onehot_features, as_of=as_of,
        accounting=accounting, column_quality=quality, histograms=histograms,
        numeric_bounds=bounds, models=run.models, rendered=run.rendered,
        spark_sql=models.spark_sql, customers_removed=n_raw - n_customers,
        source=source.path or source.table, warnings=warnings, load_seconds=run.load_seconds,
        labels=run.labels, categoricals=run.categoricals)
