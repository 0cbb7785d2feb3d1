"""The SQL run: stage, clean and build features in the work database, with row accounting."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import duckdb
import polars as pl

from segkit import project, warehouse
from segkit.config import Config
from segkit.config.checks import memory_bytes
from segkit.errors import InputError
from segkit.sources import open_sources, source_for
from segkit.feature_names import RFM_FEATURES
from segkit.features.context import (
    _add_levels,
    _labels,
    AS_OF,
    for_dialect,
    LINE_TABLE,
    project_models,
    RAW_FEATURES,
    render_context,
    segment_context,
)
from segkit.features.quality import (_histograms, _lost_customers, _no_usable_rows, build_warnings,
                                     rounding_counts, with_lost_customers, with_rounded_amounts)


@dataclass
class FeatureResult:
    """What the SQL stage hands to modelling, tracking and the report."""

    frame: pl.DataFrame  # customer_id + features, ordered by customer_id
    numeric_features: list[str]
    onehot_features: list[str]
    as_of: dt.date
    accounting: pl.DataFrame  # source, reason (null = used), n_rows
    column_quality: pl.DataFrame
    histograms: pl.DataFrame
    quarantine: Any  # Arrow table of rejected rows
    models: list[project.Model]  # the enabled models of sql/ up to features, upstream first
    rendered: dict[str, str]  # model -> the SQL this build ran (also what the warehouse shows)
    # run_table models (header published: run_table) -> the rows the build computed,
    # stored per run in the warehouse
    run_tables: dict[str, Any] = field(default_factory=dict)
    customers_removed: int = 0
    source: str = ""
    warnings: list[str] = field(default_factory=list)
    # seconds spent reading and checking the source rows (the "load" stage);
    # the rest of the SQL stage is the "features" stage
    load_seconds: float = 0.0
    # canonical feature -> how people call it: the source column as written, or
    # its [features] labels entry; one-hot columns read "<column>: <level>"
    labels: dict[str, str] = field(default_factory=dict)
    # one per categorical: {"attribute", "label", "levels": [(one-hot column, level)]}
    categoricals: list[dict[str, Any]] = field(default_factory=list)
    # release_rows was called: the run tables hold their columns only
    rows_released: bool = False
    # a few customers' feature rows: the input example MLflow logs with the model
    example: pl.DataFrame | None = None
    # features.customer_scores (customer_id, r/f/m scores, rfm_group); None without
    # transactions
    scores: pl.DataFrame | None = None

    def release_rows(self) -> None:
        """Let go of the per-customer rows once the build has written them.

        The counts (``rows_in``, ``rows_used``, ...) stay; the frame, the
        quarantine and the run tables keep their columns without rows. A publish
        that must replay its writes copies the rows from the file it wrote.
        """
        self.frame = self.frame.clear()
        self.quarantine = self.quarantine.slice(0, 0)
        if self.scores is not None:
            self.scores = self.scores.clear()
        self.run_tables = {name: rows.slice(0, 0) for name, rows in self.run_tables.items()}
        self.rows_released = True

    @property
    def views(self) -> list[project.Model]:
        """The models this build ran (older name, kept for callers)."""
        return self.models

    @property
    def feature_columns(self) -> list[str]:
        """The feature frame's columns (``customer_id`` first); they outlive its rows."""
        return self.frame.columns

    @property
    def n_customers(self) -> int:
        """Customers segmented: the frame's rows (read it before :meth:`release_rows`)."""
        return self.frame.height

    @property
    def rows_in(self) -> int:
        return int(self.accounting.filter(pl.col("source") == self.primary_source)["n_rows"].sum())

    @property
    def rows_used(self) -> int:
        used = self.accounting.filter((pl.col("source") == self.primary_source)
                                      & pl.col("reason").is_null())
        return int(used["n_rows"].sum())

    @property
    def rows_quarantined(self) -> int:
        return self.rows_in - self.rows_used

    @property
    def primary_source(self) -> str:
        sources = set(self.accounting["source"].to_list())
        return "transactions" if "transactions" in sources else "customers"


def build_features(con: duckdb.DuckDBPyConnection, cfg: Config,
                   opened: dict | None = None, *, keep=None) -> FeatureResult:
    """Apply the SQL pipeline in the work database and return the feature matrix.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The build's work database (see :func:`segkit.warehouse.connect_work`).
    cfg : Config
    opened : dict, default=None
        The sources made readable in ``con`` (:func:`segkit.sources.open_sources`,
        which runs when it is None).
    keep : callable, default=None
        ``keep(con, context, as_of)``, called once the models are made and
        before the line groups are let go, with the render context as it was
        before the levels were found (the backtest keeps its purchases so).

    Raises
    ------
    InputError
        A source cannot be read, a mapped column is missing, or no row is usable.
    """
    opened = open_sources(con, cfg) if opened is None else opened
    context = render_context(con, cfg, opened)
    reads = {name: o.read for name, o in opened.items() if o.read != o.shown}
    before_levels = dict(context)  # run_models replaces the levels' key, never edits it
    run = run_models(cfg, context, DuckDBModels(con, reads, context))
    as_of = con.execute(f"select as_of_date from {AS_OF}").fetchall()[0][0]
    if keep is not None:
        keep(con, before_levels, as_of)
    accounting = _accounting(con, cfg)
    n_raw = con.execute(f"select count(*) from {RAW_FEATURES}").fetchall()[0][0]
    if n_raw == 0:
        raise InputError("no customer has usable data: every row was quarantined.")
    quality = con.sql("select * from features.column_quality order by column_kind desc, "
                      "column_name").pl()
    if cfg.transactions:
        # Everything left reads customer-grain tables: free the line groups
        # before the per-customer frames come to Python (matters at 100M lines),
        # leaving the view in its place.
        con.execute(f"drop table {LINE_TABLE}")
        con.execute(project.create_sql(LINE_TABLE, run.rendered[LINE_TABLE]))
    frame, quarantine = _fetch_results(con, cfg)
    scores = (con.sql("select * from features.customer_scores").pl()
              if "features.customer_scores" in run.rendered else None)
    histograms = _histograms(con, frame, run.numeric_features)
    lost = (_lost_customers(con, quarantine) if cfg.transactions
            else pl.DataFrame(schema={"reason": pl.String, "n_customers": pl.Int64,
                                      "example": pl.String}))
    accounting = with_rounded_amounts(with_lost_customers(accounting, lost), rounding_counts(con))
    removed = n_raw - frame.height
    warnings = build_warnings(con, cfg, context, accounting, quarantine, lost, removed)
    # What the warehouse keeps per run: the build's own rows, not a view of the source.
    run_tables = {"features.customer_features": frame, "features.column_quality": quality,
                  "cleaning.quarantine": quarantine,
                  "features.numeric_bounds": con.sql("select * from features.numeric_bounds").pl()}
    return FeatureResult(
        frame=frame, numeric_features=run.numeric_features,
        onehot_features=run.onehot_features, as_of=as_of,
        accounting=accounting, column_quality=quality,
        histograms=histograms, quarantine=quarantine, models=run.models,
        rendered=run.rendered, run_tables=run_tables, customers_removed=removed,
        source=opened["transactions" if cfg.transactions else "customers"].source.label,
        warnings=warnings, load_seconds=run.load_seconds, labels=run.labels,
        categoricals=run.categoricals, scores=scores)


# DuckDB's memory limit while the stage's results are fetched (see _fetch_results).
FETCH_MEMORY_LIMIT = 256 * 2**20


def _fetch_results(con: duckdb.DuckDBPyConnection, cfg: Config):
    """The feature frame (Polars) and the quarantine (Arrow), fetched while DuckDB holds little.

    DuckDB keeps the memory of the stage's earlier queries (up to its limit)
    after they end, and these results (1.2 GB and 0.4 GB at 100M lines) would
    come on top of it. A small limit during the fetch makes DuckDB give that
    memory back (its tables move to the temp folder; the fetch streams): at
    100M lines under a 4GB limit, 5.0 -> 2.2 GB of RSS when the frame has
    arrived. The configured limit applies again for the rest of the stage.
    """
    def fetch():
        return (con.sql("select * from features.customer_features").pl(),
                con.sql("select * from cleaning.quarantine").to_arrow_table())

    configured = cfg.duckdb.memory_limit
    if configured and memory_bytes(configured) <= FETCH_MEMORY_LIMIT:
        return fetch()
    try:
        con.execute(f"set memory_limit = '{FETCH_MEMORY_LIMIT}B'")
        return fetch()
    except duckdb.OutOfMemoryException:
        # Many threads can pin more than the small limit: fetch as configured.
        _restore_memory_limit(con, configured)
        return fetch()
    finally:
        _restore_memory_limit(con, configured)


def _restore_memory_limit(con: duckdb.DuckDBPyConnection, configured: str | None) -> None:
    if configured:  # checked by the config: a number and a unit, nothing to escape
        con.execute(f"set memory_limit = '{configured.strip()}'")
    else:
        con.execute("reset memory_limit")


class ModelRunner(Protocol):
    """How an engine makes the SQL project's models; :func:`run_models` keeps the order."""

    def prepare(self, models: list[project.Model]) -> None:
        """The models about to be made, in the order they will be (called once, first)."""

    def create(self, model: project.Model, sql: str) -> None:
        """Make one model from its rendered SQL (DuckDB's spelling)."""

    def execute(self, sql: str) -> Any:
        """A small query over the models, in DuckDB's spelling; the result has ``fetchall()``."""


class DuckDBModels:
    """The models as views (or tables: ``materialized: table``) of a DuckDB database.

    ``reads``: source name -> the relation the models read in place of the one
    the render context shows (a source the warehouse's clients cannot read:
    the build reads its rows, the warehouse's views an empty stand-in).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, reads: dict[str, str] | None = None,
                 context: dict[str, Any] | None = None):
        self.con = con
        self.reads = reads or {}
        self.context = context  # the one render context (it grows the levels as models run)

    def prepare(self, models: list[project.Model]) -> None:
        """Nothing to prepare: DuckDB reads models by their own names."""

    def create(self, model: project.Model, sql: str) -> None:
        """``create view`` (or ``create table`` for a ``materialized: table`` model)."""
        if self.reads:
            context = {**self.context, **{name: {**self.context[name], "source": read}
                                          for name, read in self.reads.items()}}
            sql = project.render(model, context)
        self.con.execute(project.create_sql(model.name, sql,
                                            materialize=model.materialized == "table"))

    def execute(self, sql: str) -> Any:
        """The query on the connection."""
        return self.con.execute(sql)


@dataclass
class SqlRun:
    """The SQL project's models, made by an engine: what either engine's SQL stage builds on."""

    context: dict[str, Any]  # the render context, with the categorical levels found
    models: list[project.Model]  # upstream first, the load stage's models first
    rendered: dict[str, str]  # model -> its SQL in DuckDB's spelling (what the warehouse shows)
    load_seconds: float  # staging, the line groups and the as-of date
    numeric_features: list[str]
    onehot_features: list[str]
    labels: dict[str, str]  # see FeatureResult.labels
    categoricals: list[dict[str, Any]]  # see FeatureResult.categoricals


def run_models(cfg: Config, context: dict[str, Any], runner: ModelRunner, *,
               started: float | None = None, only=None) -> SqlRun:
    """Make every model up to features with ``runner``, in the one order both engines use.

    The "load" stage first: staging, the line groups and the as-of date (they
    read only each other, so running them first keeps the order valid). The
    categorical levels are data: found once ``features.customer_features_raw``
    exists, and the models after it render with them. ``started`` (default:
    now) is when the load stage began. ``only(models, rendered)``, when
    given, names the models to make (the backtest's fit makes those after the
    build's purchases: :func:`segkit.features.backtest_fit.fit_model_names`).
    """
    started = time.perf_counter() if started is None else started
    models, rendered = project_models(context, layers=("staging", "cleaning", "features"))
    if only is not None:
        names = only(models, rendered)
        models = [m for m in models if m.name in names]
    loading = [m for m in models if m.layer == "staging" or m.name in (LINE_TABLE, AS_OF)]
    models = loading + [m for m in models if m not in loading]
    runner.prepare(models)
    load_seconds = None
    for model in models:
        if load_seconds is None and model not in loading:
            load_seconds = round(time.perf_counter() - started, 4)
        # Rendered again where the context grew (the levels); same SQL otherwise.
        sql = rendered[model.name] = project.render(model, context)
        runner.create(model, sql)
        if model.name == RAW_FEATURES:
            _add_levels(runner, context, cfg)
    labels, categoricals = _labels(context, cfg)
    return SqlRun(
        context=context, models=models, rendered=rendered, load_seconds=load_seconds or 0.0,
        numeric_features=[c["plain"] for c in context["numeric_features"]],
        onehot_features=[name for c in context["categorical_features"] for name in c["onehot"]],
        labels=labels, categoricals=categoricals)


def _accounting(con: duckdb.DuckDBPyConnection, cfg: Config) -> pl.DataFrame:
    """Rows per source and quarantine reason (null = used); no usable transaction is an error.

    A transaction line is used or in the quarantine (cleaning.transactions_checked
    gives every line one reason or none), so the reasons are counted on the
    quarantine's rows, and the used lines without a pass over every line: each
    line its own checks let through (the line groups' lines) is used unless a
    later check rejects it, as a duplicate or as after the as-of date, and those
    lines are all among the lines set aside. (Counting the used lines of the
    days not set aside instead took a join of every line group: 0.07 s at 10M
    lines, seconds at 100M.)
    """
    accounting_sql = []
    if cfg.transactions:
        accounting_sql.append(f"""
            select 'transactions' as source, reason, count(*) as n_rows
            from cleaning.quarantine where source = 'transactions' group by all
            union all
            select * from (
                select 'transactions' as source, null as reason, cast(
                    (select coalesce(sum(n_lines), 0) from {LINE_TABLE})
                    - (select count(*) from cleaning.transactions_set_aside
                       where quarantine_reason in ('exact duplicate of an earlier row',
                                                   'timestamp after the as-of date'))
                    as bigint) as n_rows
            ) where n_rows > 0""")
    if cfg.customers:
        accounting_sql.append("select 'customers' as source, quarantine_reason as reason, "
                              "count(*) as n_rows from cleaning.customers_checked group by all")
    accounting = con.sql(" union all ".join(accounting_sql)
                         + " order by source, reason nulls first").pl()
    if cfg.transactions:
        label = source_for(cfg.transactions, "transactions").short_label
        rows_in = int(accounting.filter(pl.col("source") == "transactions")["n_rows"].sum())
        used = accounting.filter((pl.col("source") == "transactions") & pl.col("reason").is_null())
        if used.is_empty():
            raise _no_usable_rows(con, label, rows_in)
    return accounting


def _clustered_features(cfg: Config) -> list[str]:
    """The features the segments models name: the latest build's, else the config's."""
    if cfg.warehouse.exists():
        wh = warehouse.connect(cfg.warehouse, cfg.duckdb, read_only=True)
        try:
            rows = wh.execute("select r.features from segments.latest_run l "
                              "join meta.runs r using (run_id)").fetchall()
        except duckdb.Error:  # no build yet
            rows = []
        finally:
            wh.close()
        if rows and rows[0][0]:
            return rows[0][0].split(",")
    return list(cfg.model.features or RFM_FEATURES)


def compile_project(con: duckdb.DuckDBPyConnection, cfg: Config, *,
                    dialect: str = "duckdb") -> tuple[list[project.Model], dict[str, str]]:
    """Every enabled model rendered for the current config, upstream first.

    With categorical columns configured, the levels are data: the models up to
    ``features.customer_features_raw`` run in ``con`` (DuckDB) to find them.
    """
    context = render_context(con, cfg)
    context.update(segment_context(_clustered_features(cfg)))
    models, rendered = project_models(context)
    if context["categorical_features"]:
        for model in models:
            if model.layer == "segments":
                continue
            con.execute(project.create_sql(model.name, project.render(model, context),
                                           materialize=model.materialized == "table"))
            if model.name == RAW_FEATURES:
                _add_levels(con, context, cfg)
                break
    context = for_dialect(context, dialect)
    rendered = {m.name: project.render(m, context, dialect=dialect) for m in models}
    return models, rendered
