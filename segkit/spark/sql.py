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
import numpy as np
import polars as pl

from segkit import features as duck_features
from segkit import project
from segkit.config import Config, CustomersConfig, TransactionsConfig
from segkit.errors import InputError
from segkit.features.context import (AS_OF, LINE_TABLE, RAW_FEATURES, _categorical_columns,
                                     _labels, project_models, render_context)
from segkit.features.quality import (HISTOGRAM_BINS, _quarantine_warnings,
                                     customer_warnings, with_lost_customers)

SOURCE_VIEW = "segkit_source_{}"
# Materialized beyond the models DuckDB materializes: the features are read by the
# bin edges, the binning, the assignment and the outputs, so Spark computes them once.
MATERIALIZED = {"features.customer_features"}
# A model reference outside a string literal: staging.transactions -> staging__transactions.
_REFERENCE = re.compile(r"'(?:[^']|'')*'|\b(staging|cleaning|features|segments)\.(\w+)\b")


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


class SparkCursor:
    """Just enough of a DuckDB connection for the level query the two engines share.

    ``execute(sql)`` takes DuckDB SQL over models, transpiles it to Spark SQL
    with SQLGlot and answers ``fetchall()`` with tuples (small results only).
    """

    def __init__(self, spark, names):
        self.spark = spark
        self.names = names

    def execute(self, sql: str):
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


def _stand_in(con, spark, section, view: str) -> None:
    """A ``table =`` source is in Spark's catalog: DuckDB checks the mapping on an empty copy."""
    parts = section.table.split(".")
    columns = spark.table(view).columns
    if len(parts) == 2:
        con.execute(f"create schema if not exists {project.quote_ident(parts[0])}")
    qualified = ".".join(project.quote_ident(p) for p in parts)
    body = ", ".join(f"{project.quote_ident(c)} varchar" for c in columns)
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

    rows_in = duck_features.FeatureResult.rows_in
    rows_used = duck_features.FeatureResult.rows_used
    rows_quarantined = duck_features.FeatureResult.rows_quarantined
    primary_source = duck_features.FeatureResult.primary_source

    @property
    def views(self) -> list[project.Model]:
        return self.models


def _sql(spark, names, sql: str):
    return spark.sql(localize(sql, names))


def run_models(spark, cfg: Config) -> tuple[dict[str, Any], list, dict[str, str], dict[str, str],
                                            float]:
    """Render and run staging, cleaning and features in Spark as temporary views.

    Returns the context, the models (upstream first), their DuckDB and Spark
    SQL, and the seconds of the load stage (staging, the line table, the as-of date).
    """
    started = time.perf_counter()
    con = duckdb.connect(":memory:")
    try:
        views = {}
        for name in ("transactions", "customers"):
            section = getattr(cfg, name)
            if section is not None:
                views[name] = read_source(spark, section, name)
                if section.table:
                    _stand_in(con, spark, section, views[name])
        context = render_context(con, cfg)
    finally:
        con.close()
    for name, view in views.items():
        section = getattr(cfg, name)
        if section.table:
            # A Spark catalog table is not readable from the DuckDB warehouse: its
            # published live views read an empty relation of the same columns.
            columns = ", ".join(f"cast(null as varchar) as {project.quote_ident(c)}"
                                for c in spark.table(view).columns)
            context[name]["source"] = f"(select {columns} where false) as spark_table"
    models, rendered = project_models(context, layers=("staging", "cleaning", "features"))
    names = {m.name for m in models}
    loading = [m for m in models if m.layer == "staging" or m.name in (LINE_TABLE, AS_OF)]
    models = loading + [m for m in models if m not in loading]
    spark_sql: dict[str, str] = {}
    load_seconds = None
    for model in models:
        if load_seconds is None and model not in loading:
            load_seconds = round(time.perf_counter() - started, 4)
        rendered[model.name] = project.render(model, context)
        # The warehouse shows (and versions) the DuckDB SQL over the source as
        # configured; Spark runs the Spark SQL over the source it read.
        spark_context = duck_features.for_dialect(context, "spark")
        for name, view in views.items():
            spark_context[name]["source"] = view
        sql = project.render(model, spark_context, dialect="spark")
        spark_sql[model.name] = sql = localize(sql, names)
        view = view_name(model.name)
        # A session that built before (a notebook, the tests) holds the last build's views.
        spark.catalog.dropTempView(view)
        if model.materialized == "table" or model.name in MATERIALIZED:
            materialize(spark, view, sql)
        else:
            spark.sql(f"create or replace temporary view {view} as\n{sql}")
        if model.name == RAW_FEATURES:
            categorical = [c for source in ("transactions", "customers")
                           for c in (context[source] or {}).get("categorical", [])]
            context["categorical_features"] = _categorical_columns(
                SparkCursor(spark, names), categorical, cfg)
    return context, models, rendered, spark_sql, load_seconds or 0.0


def _histograms(spark, names: list[str], raw: dict[str, tuple], capped: dict[str, tuple]
                ) -> pl.DataFrame:
    """Equal-width histograms before and after capping, counted in Spark.

    The edges are numpy's (``np.histogram``'s) for the column's min and max; a
    value goes to the last bin whose lower edge it reaches, the maximum to the last.
    """
    rows = []
    for name in names:
        for stage, relation, bounds in (("raw", "features__customer_features_raw", raw),
                                        ("capped", "features__customer_features", capped)):
            low, high = bounds[name]
            if low is None:
                continue
            edges = np.histogram_bin_edges(np.array([low, high], dtype=float),
                                           bins=HISTOGRAM_BINS)
            column = f"cast(`{name}` as double)"
            index = " + ".join(f"case when {column} >= {float(e)!r} then 1 else 0 end"
                               for e in edges[1:-1])
            counts = dict(tuple(r) for r in spark.sql(
                f"select {index} as b, count(*) from {relation} where {column} is not null "
                f"and not isnan({column}) and abs({column}) != double('inf') group by 1"
            ).collect())
            rows += [{"feature": name, "stage": stage, "bin_lower": float(edges[i]),
                      "bin_upper": float(edges[i + 1]), "n_customers": int(counts.get(i, 0))}
                     for i in range(HISTOGRAM_BINS)]
    schema = {"feature": pl.String, "stage": pl.String, "bin_lower": pl.Float64,
              "bin_upper": pl.Float64, "n_customers": pl.Int64}
    return pl.DataFrame(rows, schema=schema)


def _min_max(spark, relation: str, names: list[str]) -> dict[str, tuple]:
    if not names:
        return {}
    parts = []
    for n in names:
        column = f"cast(`{n}` as double)"
        finite = f"case when not isnan({column}) and abs({column}) != double('inf') then {column} end"
        parts += [f"min({finite})", f"max({finite})"]
    row = spark.sql(f"select {', '.join(parts)} from {relation}").collect()[0]
    return {n: (row[2 * i], row[2 * i + 1]) for i, n in enumerate(names)}


def _small(spark, sql: str) -> pl.DataFrame:
    """A small Spark result as Polars, through Arrow (no pandas)."""
    return pl.from_arrow(spark.sql(sql).toArrow())


def build_features(spark, cfg: Config) -> SparkFeatures:
    """Staging, cleaning and features in Spark with row accounting; see the module docstring.

    Raises
    ------
    InputError
        A source cannot be read, a mapped column is missing, or no row is usable.
    """
    context, models, rendered, spark_sql, load_seconds = run_models(spark, cfg)
    as_of = spark.sql(f"select as_of_date from {view_name(AS_OF)}").collect()[0][0]
    accounting = _accounting(spark, cfg)
    n_raw = spark.sql(f"select count(*) from {view_name(RAW_FEATURES)}").collect()[0][0]
    if n_raw == 0:
        raise InputError("no customer has usable data: every row was quarantined.")
    numeric = [c["plain"] for c in context["numeric_features"]]
    onehot = [name for c in context["categorical_features"] for name in c["onehot"]]
    quality = _small(spark, "select * from features__column_quality").sort(
        ["column_kind", "column_name"], descending=[True, False])
    bounds = _small(spark, "select * from features__numeric_bounds")
    n_customers = spark.sql("select count(*) from features__customer_features").collect()[0][0]
    histograms = _histograms(spark, numeric,
                             _min_max(spark, "features__customer_features_raw", numeric),
                             _min_max(spark, "features__customer_features", numeric))
    accounting, warnings = _warnings(spark, cfg, context, accounting, n_raw - n_customers)
    source = cfg.transactions or cfg.customers
    labels, categoricals = _labels(context, cfg)
    return SparkFeatures(
        spark=spark, n_customers=n_customers,
        feature_columns=spark.table("features__customer_features").columns,
        numeric_features=numeric, onehot_features=onehot, as_of=as_of,
        accounting=accounting, column_quality=quality, histograms=histograms,
        numeric_bounds=bounds, models=models, rendered=rendered, spark_sql=spark_sql,
        customers_removed=n_raw - n_customers, source=source.path or source.table,
        warnings=warnings, load_seconds=load_seconds, labels=labels, categoricals=categoricals)


def _accounting(spark, cfg: Config) -> pl.DataFrame:
    """Rows per (source, quarantine reason); stops when no transaction line is usable."""
    parts = []
    if cfg.transactions:
        parts.append("select 'transactions' as source, quarantine_reason as reason, "
                     "count(*) as n_rows from cleaning__transactions_checked "
                     "group by quarantine_reason")
    if cfg.customers:
        parts.append("select 'customers' as source, quarantine_reason as reason, "
                     "count(*) as n_rows from cleaning__customers_checked "
                     "group by quarantine_reason")
    accounting = _small(spark, " union all ".join(parts)).with_columns(
        pl.col("n_rows").cast(pl.Int64)).sort(["source", "reason"], nulls_last=False)
    if cfg.transactions:
        label = Path(cfg.transactions.path).name if cfg.transactions.path else cfg.transactions.table
        tx = accounting.filter(pl.col("source") == "transactions")
        if tx.filter(pl.col("reason").is_null()).is_empty():
            rows_in = int(tx["n_rows"].sum())
            if rows_in == 0:
                raise InputError(f"{label} has no data rows (only a header, or nothing). "
                                 "Point [transactions] at a file with transactions.")
            top = tx.sort("n_rows", descending=True).row(0, named=True)
            raise InputError(f"none of the {rows_in:,} rows in {label} can be used: "
                             f"{top['n_rows']:,} have '{top['reason']}'.")
    return accounting


def _warnings(spark, cfg: Config, context: dict, accounting: pl.DataFrame,
              removed: int) -> tuple[pl.DataFrame, list[str]]:
    """The accounting with the lost customers, and the build's warnings about the data."""
    lost = _small(spark, _LOST_SQL) if cfg.transactions else pl.DataFrame(
        schema={"reason": pl.String, "n_customers": pl.Int64, "example": pl.String})
    lost = lost.with_columns(pl.col("n_customers").cast(pl.Int64))
    accounting = with_lost_customers(accounting, lost)
    hints: dict[str, dict[str, str]] = {}
    for source, reason, hint in spark.sql(
            "select source, reason, hint from cleaning__quarantine_reasons").collect():
        hints.setdefault(source, {})[reason] = hint
    samples = {(s, r): v for s, r, v in spark.sql(_SAMPLES_SQL).collect() if v is not None}
    warnings = _quarantine_warnings(accounting, hints, samples, lost)
    n_absurd = 0
    if context["customers"] and context["customers"]["has_age"]:
        n_absurd = spark.sql("select count(*) from cleaning__customers "
                             "where is_age_impossible").collect()[0][0]
    return accounting, warnings + customer_warnings(cfg, n_absurd, removed)


# The DuckDB engine's _lost_customers and _quarantine_samples, in Spark SQL.
_LOST_SQL = """
with lines as (
    select customer_id, reason, count(*) as n_lines
    from cleaning__quarantine
    where source = 'transactions' and customer_id is not null
    group by customer_id, reason
),
lost as (
    select * from lines
    where customer_id not in (select customer_id from features__customer_features_raw)
),
ranked as (
    select *, row_number() over (partition by customer_id
                                 order by n_lines desc, reason) as rank
    from lost
)
select reason, count(*) as n_customers, min(customer_id) as example
from ranked where rank = 1 group by reason order by reason
"""

_SAMPLES_SQL = """
select source, reason,
       min(coalesce(case reason
                        when 'missing or unparseable timestamp' then ordered_at_text
                        when 'amount missing or not a number' then amount_text
                        when 'amount zero or negative' then amount_text
                        when 'timestamp after the as-of date' then ordered_at_text
                    end, order_id, customer_id, ordered_at_text, amount_text))
from cleaning__quarantine group by source, reason
"""
