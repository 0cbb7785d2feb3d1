"""``segkit build`` on Spark: the build of :mod:`segkit.pipeline` with Spark for every
per-customer step.

1. the ``sql/`` models run as Spark SQL (:mod:`segkit.spark.sql`);
2. bin edges, binning and the distinct binned vectors with counts in Spark;
   K-Means, the k sweep, stability and naming in Python on that weighted set
   (:mod:`segkit.spark.model`);
3. every customer assigned in Spark SQL by the one assignment rule; the t-SNE
   map drawn from the DuckDB build's sample, which Spark picks out; MLflow
   tracking by the DuckDB build's step (the logged pipeline is
   ``Segmenter.fit_binned``'s, built from the Spark edges);
4. per-customer tables written by Spark (catalog tables or Parquet), new ones
   first and then swapped in; the small tables (runs, model selection,
   profiles, bin edges, centroids, row accounting, stages) published to the
   local DuckDB warehouse as a DuckDB build publishes them, so ``segkit runs``,
   ``segkit report`` and the HTML report work unchanged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import polars as pl

from segkit.pipeline.carryover import _keep_names, _segment_ids
from segkit.pipeline.progress import BuildResult, _stage_seconds
from segkit.pipeline.publish import _insert_stages, _publish
from segkit.pipeline.sequence import _go_live, _render_report, _run_row, _track
from segkit.pipeline.tables import PROFILE_SQL, _profile_context, segment_tables
from segkit.pipeline.warmup import _start_background_work
from segkit.config import Config
from segkit.errors import InputError
from segkit.spark import model as smodel
from segkit.spark import session
from segkit.spark import sql as ssql

# Per-customer outputs: name -> the Spark view whose rows it holds (plus run_id).
OUTPUTS = {
    "customer_segments": smodel.ASSIGNED,
    "customer_features": smodel.FEATURES,
    "quarantine": "cleaning__quarantine",
}
HISTORY = "segment_history"  # every build's customer_segments, keyed by run_id


def _tag(run_id: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", run_id.lower())


def _profile_rows(spark, feats: ssql.SparkFeatures, model, ids: list[int]) -> pl.DataFrame:
    """``segments.profile_history`` rows: the DuckDB build's profile SQL, fed per-segment
    aggregates that Spark computes (means, medians, counts per segment: k rows)."""
    from segkit import warehouse

    profiled, numeric, frames = _profile_context(feats, model, ids, feats.feature_columns)
    # Spark: one row per segment with count, the avg of every profiled column and
    # the median of every numeric one (the profile has no median for one-hot columns).
    aggregates = ", ".join(
        [f"avg(cast(f.`{f}` as double)) as `mean__{f}`" for f in profiled]
        + [f"median(cast(f.`{f}` as double)) as `median__{f}`" for f in numeric])
    index = {int(ids[i]): i for i in range(model.k_)}
    case = " ".join(f"when {sid} then {i}" for sid, i in index.items())
    wide = pl.from_arrow(spark.sql(
        f"select case a.segment_id {case} end as segment_index, count(*) as n_customers, "
        f"{aggregates} from {smodel.ASSIGNED} a join {smodel.FEATURES} f "
        "on f.customer_id = a.customer_id group by a.segment_id").toArrow())
    sql = (warehouse.sql_dir() / PROFILE_SQL).read_text(encoding="utf-8")
    import duckdb
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")
    means = " union all ".join(
        f"select segment_index, '{f}' as feature, `mean__{f}` as mean from wide" for f in profiled)
    medians = " union all ".join(
        f"select segment_index, '{f}' as feature, `median__{f}` as median from wide"
        for f in numeric)
    replace = {
        "segment_means_wide": "select segment_index, n_customers from wide",
        "segment_means": means.replace("`", '"'),
        "segment_medians": medians.replace("`", '"'),
    }
    for cte in tree.find_all(exp.CTE):
        if cte.alias in replace:
            cte.set("this", sqlglot.parse_one(replace[cte.alias], read="duckdb"))
    members = pl.DataFrame({"segment_index": pl.Series([], dtype=pl.Int32)})
    con = duckdb.connect(":memory:", config={"threads": 1})
    try:
        for name, frame in {"segment_members": members, "segment_numeric_members": members,
                            **frames, "wide": wide}.items():
            con.register(name, frame)
        return con.sql(tree.sql(dialect="duckdb")).pl().drop("position")
    finally:
        con.close()


def _empty(spark, view: str) -> pl.DataFrame:
    """A view's columns with no rows: the warehouse keeps the shape, Spark the rows."""
    return pl.from_arrow(spark.sql(f"select * from {view} limit 0").toArrow())


class Outputs:
    """Per-customer tables written by Spark, new ones first, swapped in at the end.

    Catalog: each build writes ``<database>.<table>_<run>`` tables; the swap
    points the view ``<database>.<table>`` at them and drops the build's
    predecessors. Parquet (``output_path``): each table is written to a hidden
    folder, then renamed into place.
    """

    def __init__(self, spark, cfg: Config, run_id: str):
        self.spark, self.engine, self.run_id = spark, cfg.engine, run_id
        self.tag = _tag(run_id)
        self.written: list[str] = []
        # `catalog`.`database` (Unity Catalog) or `database`
        self.db = ".".join(f"`{part}`" for part in cfg.engine.database.split("."))

    # -- write ---------------------------------------------------------------
    def write(self) -> None:
        spark, run = self.spark, self.run_id.replace("'", "''")
        frames = {name: spark.sql(f"select *, '{run}' as run_id from {view}")
                  for name, view in OUTPUTS.items()}
        previous = self._previous_history()
        history = frames["customer_segments"]
        if previous is not None:
            history = previous.unionByName(history, allowMissingColumns=True)
        frames[HISTORY] = history
        for name, frame in frames.items():
            self._write_one(name, frame)

    def _previous_history(self):
        with contextlib.suppress(Exception):  # no earlier build: no history yet
            if self.engine.output_path:
                path = self._path(HISTORY)
                if "://" in path or Path(path).exists():
                    return self.spark.read.parquet(path)
                return None
            return self.spark.table(f"{self.db}.`{HISTORY}`")
        return None

    def _path(self, name: str) -> str:
        return f"{self.engine.output_path.rstrip('/')}/{name}"

    def _write_one(self, name: str, frame) -> None:
        if self.engine.output_path:
            target = self._path(f".next-{self.tag}/{name}")
            frame.write.mode("overwrite").parquet(target)
        else:
            self.spark.sql(f"create database if not exists {self.db}")
            frame.write.format("parquet").mode("overwrite").saveAsTable(
                f"{self.db}.`{name}_{self.tag}`")
        self.written.append(name)

    # -- swap ----------------------------------------------------------------
    def swap(self) -> None:
        if self.engine.output_path:
            base = self.engine.output_path.rstrip("/")
            if "://" in base:  # a cluster file system: the folders are replaced in place
                for name in self.written:
                    self.spark.read.parquet(self._path(f".next-{self.tag}/{name}")) \
                        .write.mode("overwrite").parquet(self._path(name))
                return
            old = Path(base) / f".old-{self.tag}"
            for name in self.written:
                final = Path(base) / name
                if final.exists():
                    old.mkdir(parents=True, exist_ok=True)
                    final.rename(old / name)
                (Path(base) / f".next-{self.tag}" / name).rename(final)
            shutil.rmtree(Path(base) / f".next-{self.tag}", ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
            return
        db = self.db
        for name in self.written:
            self.spark.sql(f"create or replace view {db}.`{name}` as "
                           f"select * from {db}.`{name}_{self.tag}`")
            for row in self.spark.sql(f"show tables in {db} like '{name}_*'").collect():
                table = row["tableName"]
                if table != f"{name}_{self.tag}" and re.fullmatch(
                        rf"{name}_\d{{8}}t\d{{6}}z_[0-9a-f]+", table):
                    self.spark.sql(f"drop table if exists {db}.`{table}`")

    def discard(self) -> None:
        """A failed build: remove what it wrote; the previous outputs stay as they were."""
        with contextlib.suppress(Exception):
            if self.engine.output_path and "://" not in self.engine.output_path:
                shutil.rmtree(Path(self.engine.output_path) / f".next-{self.tag}",
                              ignore_errors=True)
            elif not self.engine.output_path:
                for name in self.written:
                    self.spark.sql(f"drop table if exists {self.db}.`{name}_{self.tag}`")

    def where(self) -> str:
        if self.engine.output_path:
            return f"Parquet under {self.engine.output_path}"
        return f"Spark catalog database {self.engine.database}"


def build_on_spark(cfg: Config, run_id: str, started_at: dt.datetime, previous: dict,
                   stages, progress) -> BuildResult:
    """:func:`segkit.pipeline.sequence._build` with Spark for the per-customer steps."""
    tracking_ready = _start_background_work(cfg)  # imports and the MLflow store, meanwhile
    spark = _start_session(cfg, stages)
    feats = _run_sql(spark, cfg, stages)
    model = _fit_model(spark, cfg, feats, stages)
    ids = _segment_ids(model, previous)
    _keep_names(model, ids, previous)
    outputs = Outputs(spark, cfg, run_id)
    try:
        with stages("assign", "Assigning every customer in Spark SQL") as info:
            smodel.assign(spark, model, ids)
            info["detail"] = smodel.ASSIGNED
        tsne = _draw_map(spark, cfg, feats, model, ids, stages)
        tables = _tables(spark, run_id, feats, model, ids, tsne)
        build_warnings = feats.warnings + list(model.warnings_)
        for message in build_warnings:
            progress.warn(message)
        with stages("spark-write", "Writing the per-customer tables with Spark") as info:
            outputs.write()
            info["detail"] = outputs.where()
        if cfg.mlflow.enabled:  # the input example MLflow logs: five customers' rows
            feats.example = smodel.example_rows(spark, model.features_)
        mlflow_ids = _track(cfg, run_id, feats, model, tables, tracking_ready, stages)
        chosen = model.selection_.filter(pl.col("is_chosen")).row(0, named=True)
        run_row = _run_row(cfg, started_at, feats, model, chosen, tsne, build_warnings,
                           mlflow_ids)
        nxt, journal_ids = _write_back(spark, cfg, run_id, feats, model, tables, run_row,
                                       stages)
        html, report_error = _render_report(cfg, run_id, nxt, stages)
        nxt.write(lambda con: _insert_stages(
            con, run_id, {"report": stages.seconds["report"]}))
        # Spark's tables first, then the warehouse: a build that fails before
        # here leaves both as they were.
        outputs.swap()
    except BaseException:
        outputs.discard()
        raise
    path = _go_live(cfg, run_id, nxt, journal_ids, html, mlflow_ids, report_error, progress)
    return BuildResult(
        run_id=run_id, warehouse=cfg.warehouse, report_path=path, k=model.k_,
        silhouette=chosen["silhouette"], segment_names=list(model.segment_names_),
        customers=feats.n_customers, rows_in=feats.rows_in, rows_used=feats.rows_used,
        rows_quarantined=feats.rows_quarantined, seconds=dict(stages.seconds),
        mlflow_run_id=mlflow_ids.get("run_id"), model_version=mlflow_ids.get("model_version"),
        warnings=build_warnings)


def _start_session(cfg: Config, stages):
    """Stage ``session``: the Spark session of ``[engine]``."""
    with stages("session", "Starting the Spark session") as info:
        spark = session(cfg.engine)
        info["detail"] = (f"remote {cfg.engine.remote}" if cfg.engine.remote
                          else f"master {cfg.engine.master or 'local[2]'}")
    return spark


def _run_sql(spark, cfg: Config, stages) -> ssql.SparkFeatures:
    """Stage ``sql``: the SQL project as Spark SQL (:func:`segkit.spark.sql.build_features`)."""
    with stages("sql", "Loading and cleaning the source in Spark") as info:
        feats = ssql.build_features(spark, cfg)
        info["detail"] = (f"{feats.rows_in:,} rows in, {feats.rows_quarantined:,} "
                          f"quarantined, {feats.n_customers:,} customers "
                          f"(load {feats.load_seconds:.2f} s)")
    return feats


def _fit_model(spark, cfg: Config, feats: ssql.SparkFeatures, stages):
    """Stage ``model``: edges and distinct vectors in Spark, the Segmenter on that weighted set."""
    m = cfg.model
    with stages("model", "Bin edges and distinct vectors in Spark; K-Means sweep") as info:
        from segkit.model import SegmentationWarning, Segmenter

        types = dict(spark.table(smodel.FEATURES).dtypes)
        model = Segmenter(features=list(m.features) if m.features else None, n_bins=m.n_bins,
                          strategy=m.strategy, k_min=m.k_min, k_max=m.k_max, k=m.k,
                          correlation_threshold=m.correlation_threshold, n_init=m.n_init,
                          n_resamples=m.n_resamples, stability_threshold=m.stability_threshold,
                          labels=feats.labels, seed=m.seed)
        try:
            if m.strategy != "quantile":
                raise ValueError(f"[model] strategy = {m.strategy!r} runs on the DuckDB engine "
                                 "only; the Spark engine bins by quantiles")
            binned, onehot = smodel.candidates(types, model.features)
            if feats.n_customers < 2:
                raise ValueError(f"need at least 2 customers to segment, got {feats.n_customers}")
            t0 = time.perf_counter()
            edges = smodel.bin_edges(spark, binned, m.n_bins)
            distinct, counts = smodel.distinct_vectors(spark, edges, onehot)
            spark_seconds = time.perf_counter() - t0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SegmentationWarning)
                model.fit_binned(distinct, counts, bin_edges=edges, onehot=onehot)
        except ValueError as exc:
            raise InputError(f"cannot segment {feats.source}: {exc}") from None
        # The edges and vectors came from Spark: count them as the discretize stage.
        model.timings_["discretize"] += spark_seconds
        info["detail"] = (f"k = {model.k_}, {model.n_distinct_} distinct vectors "
                          f"(edges and vectors in Spark {spark_seconds:.2f} s)")
    return model


def _draw_map(spark, cfg: Config, feats: ssql.SparkFeatures, model, ids: list[int], stages):
    """Stage ``tsne`` (when ``[model] map``): the DuckDB build's map, sampled in Spark."""
    m = cfg.model
    if not m.map:
        return None
    with stages("tsne", "Drawing the t-SNE map") as info:
        try:
            tsne, sample = smodel.map_sample(spark, model, ids, m.tsne_sample_size, m.seed)
        except ValueError as exc:
            raise InputError(f"cannot draw the map of {feats.source}: {exc}. Set "
                             "[model] map = false (or --no-map) to build without it.") \
                from None
        tsne.sample = sample
        info["detail"] = f"{len(tsne.indices):,} customers sampled"
    return tsne


def _tables(spark, run_id: str, feats: ssql.SparkFeatures, model, ids: list[int],
            tsne) -> dict[str, pl.DataFrame]:
    """The per-run tables of :func:`segkit.pipeline.tables._tables` that are not per customer,
    and the map's sample."""
    tables = segment_tables(run_id, feats, model, ids, _profile_rows(spark, feats, model, ids))
    if tsne is not None:
        sample = tsne.sample[np.asarray(tsne.indices)]
        tables["segments.tsne_history"] = pl.DataFrame({
            "run_id": [run_id] * sample.height, "customer_id": sample["customer_id"],
            "segment_id": sample["segment_id"].cast(pl.Int32),
            "x": tsne.coords[:, 0].astype(float), "y": tsne.coords[:, 1].astype(float)})
    return tables


def _write_back(spark, cfg: Config, run_id: str, feats: ssql.SparkFeatures, model,
                tables: dict, run_row: dict, stages):
    """Stage ``write-back``: the small tables into the next warehouse; ``(nxt, journal ids)``."""
    # The warehouse keeps the run tables' shape; their rows are in Spark.
    feats.run_tables = {
        "features.customer_features": _empty(spark, smodel.FEATURES),
        "cleaning.quarantine": _empty(spark, "cleaning__quarantine"),
        "features.column_quality": feats.column_quality,
        "features.numeric_bounds": feats.numeric_bounds,
    }
    stage_rows = _stage_seconds(dict(stages.seconds), feats, model)
    with stages("write-back", "Writing the next warehouse beside the live one"):
        run_row["seconds_total"] = round(sum(stages.seconds.values()), 3)
        return _publish(cfg, run_id, feats, model, tables, run_row, stage_rows,
                        time.perf_counter())
