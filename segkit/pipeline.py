"""``segkit build``: the whole pipeline, from source rows to published segments.

The order of a build, and why:

1. take the build lock (builders run one at a time), record the run as
   ``running`` in the journal beside the warehouse (with its pid and start
   time) and remove what killed builds left (their next file, spill folders);
2. compute everything in a private in-memory DuckDB: SQL views, features,
   the model, the t-SNE map (the warehouse file is only ever read);
3. log to MLflow and register the model version;
4. write the next warehouse: a copy of the live file plus every table, view
   and the run row (``write-back``), then render the report from it;
5. swap the next warehouse in with one atomic rename, then write the report
   file. A build that fails or is killed before the rename leaves the live
   file untouched; readers never wait for a build, nor a build for readers.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import importlib
import json
import os
import re
import secrets
import shutil
import socket
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
import polars as pl

from segkit import __version__, warehouse
from segkit.config import Config
from segkit.errors import InputError, SegkitError
from segkit.features import FeatureResult, build_features

if TYPE_CHECKING:  # imported in the background while the SQL stage runs (scikit-learn: ~1.5 s)
    from segkit.model import Segmenter

# Segments whose centroid moved further than this (in bins) get a new id.
SEGMENT_MATCH_DISTANCE = 1.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus a random suffix."""
    return _now().strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


class Progress:
    """Receives stage events; the CLI shows them, the library stays quiet."""

    def start(self, stage: str, description: str) -> None:
        """A stage begins."""

    def done(self, stage: str, seconds: float, detail: str = "") -> None:
        """A stage ended after ``seconds``."""

    def warn(self, message: str) -> None:
        """A degraded but valid result worth telling the user."""


@dataclass
class BuildResult:
    """What a build produced; the same facts are in ``meta.runs``."""

    run_id: str
    warehouse: Path
    report_path: Path | None
    k: int
    silhouette: float
    segment_names: list[str]
    customers: int
    rows_in: int
    rows_used: int
    rows_quarantined: int
    seconds: dict[str, float]
    mlflow_run_id: str | None = None
    model_version: str | None = None
    warnings: list[str] = field(default_factory=list)


class _Stages:
    """Times each stage and forwards it to the progress display."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str, description: str) -> Iterator[dict]:
        info: dict = {}
        self.progress.start(stage, description)
        started = time.perf_counter()
        yield info
        self.seconds[stage] = round(time.perf_counter() - started, 4)
        self.progress.done(stage, self.seconds[stage], info.get("detail", ""))


def _register_run(cfg: Config, run_id: str, started_at: dt.datetime) -> None:
    """Record the run as ``running`` in the journal beside the warehouse.

    Not in the warehouse file: writing it would need the file to ourselves,
    and any open reader would make the build wait. The journal's runs move
    into ``meta.runs`` with the next publish; ``segkit runs`` shows them meanwhile.
    We hold the build lock, so whatever an earlier build left is stale.
    """
    warehouse.remove_leftovers(cfg.warehouse, tmp_root=cfg.warehouse.parent / ".tmp")
    warehouse.journal_append(cfg.warehouse, {
        "run_id": run_id, "status": "running", "pid": os.getpid(),
        "host": socket.gethostname(), "started_at": started_at.isoformat(sep=" "),
        "config_hash": cfg.config_hash(), "config_json": json.dumps(cfg.to_dict()),
        "segkit_version": __version__})


def _previous_run(cfg: Config) -> dict:
    """What the build needs from the last successful build (its centroids), read-only."""
    if not cfg.warehouse.exists():
        return {}
    con = warehouse.connect(cfg.warehouse, cfg.duckdb, read_only=True)
    try:
        if not con.execute("select count(*) from duckdb_tables() where schema_name = 'meta' "
                           "and table_name = 'runs'").fetchall()[0][0]:
            return {}
        rows = con.execute(
            "select run_id, features from meta.runs where status = 'success' "
            "order by finished_at desc, run_id desc limit 1").fetchall()
        if not rows:
            return {}
        previous = rows[0]
        centroids = con.sql(
            "select segment_id, feature, centroid from segments.centroid_history "
            "where run_id = ? order by segment_index, feature_index", params=[previous[0]]).pl()
        # What the last build called its segments: kept ids keep their words.
        # A warehouse written before profiles had phrases has no such columns yet
        # (the publish adds them): its names are then made afresh.
        has_phrases = con.execute(
            "select count(*) from duckdb_columns() where schema_name = 'segments' and "
            "table_name = 'profile_history' and column_name = 'phrase'").fetchall()[0][0]
        words = con.sql(
            "select segment_id, segment_name, description, feature, phrase, description_rank "
            "from segments.profile_history where run_id = ? "
            "order by segment_index, description_rank nulls last, feature",
            params=[previous[0]]).pl() if has_phrases else None
        return {"run_id": previous[0], "features": previous[1], "centroids": centroids,
                "words": words}
    finally:
        con.close()


def _mark_failed(cfg: Config, run_id: str, message: str) -> None:
    # Into the journal (the live file is never written outside a publish); the
    # next publish moves it into meta.runs. Best effort: if even this fails, the
    # run shows as "interrupted", which is also true.
    with contextlib.suppress(Exception):
        warehouse.journal_append(cfg.warehouse, {
            "run_id": run_id, "status": "failed", "finished_at": _now().isoformat(sep=" "),
            "error": message[:2000]})
    with contextlib.suppress(Exception):
        warehouse.NextWarehouse(cfg.warehouse, cfg.duckdb).discard()


def _record_journal_runs(con, cfg: Config, run_id: str) -> set[str]:
    """Move the journal's earlier runs (failed, interrupted) into meta.runs; return their ids."""
    done = set()
    for run in warehouse.pending_runs(cfg.warehouse):
        if run["run_id"] == run_id:
            continue
        if run["status"] == "running":  # we hold the build lock: that build is gone
            run["status"] = "interrupted"
            run["error"] = warehouse.interrupted_message(run)
        done.add(run["run_id"])
        if con.execute("select count(*) from meta.runs where run_id = ?",
                       [run["run_id"]]).fetchall()[0][0]:
            continue  # recorded by a publish that died before cleaning the journal
        con.execute("insert into meta.runs (run_id, started_at, finished_at, status, error, "
                    "config_hash, config_json, segkit_version) values (?, ?, ?, ?, ?, ?, ?, ?)",
                    [run["run_id"], run.get("started_at") or run.get("finished_at") or _now(),
                     run.get("finished_at"),
                     run["status"], run.get("error"), run.get("config_hash"),
                     run.get("config_json"), run.get("segkit_version")])
    return done


def _segment_ids(model: Segmenter, previous: dict) -> list[int]:
    """Keep a segment's id when its centroid barely moved since the last build."""
    from segkit.model import match_segment_ids

    k = model.k_
    if not previous or previous["features"] != ",".join(model.features_):
        return list(range(1, k + 1))
    prev = previous["centroids"]
    ids = prev["segment_id"].unique(maintain_order=True).to_list()
    d = len(model.features_)
    matrix = prev["centroid"].to_numpy().reshape(len(ids), d)
    return [int(i) for i in match_segment_ids(model.centroids_, matrix, ids,
                                              max_distance=SEGMENT_MATCH_DISTANCE)]


def _keep_names(model: Segmenter, ids: list[int], previous: dict) -> None:
    """A segment that kept its id keeps its name and description (and their phrases)."""
    words = previous.get("words")
    if (words is None or words.is_empty()
            or previous.get("features") != ",".join(model.features_)):
        return  # ids were not matched: every segment is named afresh
    kept = {}
    for i, segment_id in enumerate(ids):
        rows = words.filter(pl.col("segment_id") == segment_id)
        # A new id is named afresh; so is a name with a number suffix (" 2"),
        # as builds before distinct names made them.
        if rows.is_empty() or re.search(r" \d+$", rows["segment_name"][0]):
            continue
        key = [(r["feature"], r["phrase"]) for r in rows.iter_rows(named=True)
               if r["description_rank"] is not None and r["phrase"] is not None]
        kept[i] = (rows["segment_name"][0], rows["description"][0] or "", key)
    model.keep_names(kept)


def _tables(run_id: str, feats: FeatureResult, model: Segmenter, ids: list[int],
            tsne) -> dict[str, pl.DataFrame]:
    """Every per-run table the build publishes, keyed by its warehouse name."""
    frame = feats.frame
    names = model.segment_names_
    labels = model.labels_
    seg_id = np.asarray(ids)[labels]
    tables: dict[str, pl.DataFrame] = {}
    # Columnar all the way (no Python object per customer): at 10M customers a
    # list of names or run ids would cost gigabytes.
    tables["segments.segment_history"] = pl.DataFrame({
        "customer_id": frame["customer_id"],
        "segment_id": seg_id.astype(np.int32),
        "segment_name": pl.Series(names, dtype=pl.String).gather(labels),
        "distance_to_centroid": model.distances_.astype(float),
        "bins": model.binned_.astype(float),
    }).with_columns(pl.lit(run_id).alias("run_id"))
    tables["segments.profile_history"] = _segment_profiles(feats, model, ids).with_columns(
        pl.lit(run_id).alias("run_id"))
    tables["segments.selection_history"] = model.selection_.with_columns(
        pl.lit(run_id).alias("run_id"))
    edges = []
    for j, f in enumerate(model.features_):
        if f not in model.bin_edges_:
            continue
        e = model.bin_edges_[f]
        counts = np.bincount(model.binned_[:, j].astype(int), minlength=len(e) - 1)
        for b in range(len(e) - 1):
            edges.append({"run_id": run_id, "feature": f, "feature_index": j, "bin": b,
                          "lower": float(e[b]), "upper": float(e[b + 1]),
                          "n_customers": int(counts[b])})
    tables["segments.bin_edge_history"] = pl.DataFrame(edges)
    tables["segments.centroid_history"] = pl.DataFrame([
        {"run_id": run_id, "segment_id": ids[i], "segment_index": i, "segment_name": names[i],
         "feature": f, "feature_index": j, "is_binned": f in model.bin_edges_,
         "centroid": float(model.centroids_[i, j])}
        for i in range(model.k_) for j, f in enumerate(model.features_)])
    if tsne is not None:
        idx = np.asarray(tsne.indices)
        tables["segments.tsne_history"] = pl.DataFrame({
            "run_id": [run_id] * len(idx),
            "customer_id": frame["customer_id"].gather(idx),
            "segment_id": seg_id[idx].astype(np.int32),
            "x": tsne.coords[:, 0].astype(float), "y": tsne.coords[:, 1].astype(float)})
    with_run = lambda df: df.with_columns(pl.lit(run_id).alias("run_id"))  # noqa: E731
    tables["meta.row_accounting"] = with_run(feats.accounting)
    tables["meta.feature_histograms"] = with_run(feats.histograms)
    # meta.column_quality and meta.quarantine_history are run_table models' history:
    # _publish_models stores them.
    return tables


PROFILE_SQL = "build/segment_profile_rows.sql"


def _profile_frames(feats: FeatureResult, model: Segmenter,
                    ids: list[int]) -> dict[str, pl.DataFrame]:
    """The four frames the profile query reads (see its header)."""
    frame = feats.frame
    levels = {column: (c["attribute"], c["label"], level)
              for c in feats.categoricals for column, level in c["levels"]}
    profiled = [f for f in feats.numeric_features + feats.onehot_features if f in frame.columns]
    catalog = pl.DataFrame(
        [{"feature": f, "kind": "onehot" if f in levels else "numeric",
          "label": feats.labels.get(f, f), "attribute": levels.get(f, (None,) * 3)[0],
          "attribute_label": levels.get(f, (None,) * 3)[1], "level": levels.get(f, (None,) * 3)[2],
          "position": i} for i, f in enumerate(profiled)],
        schema={"feature": pl.String, "kind": pl.String, "label": pl.String,
                "attribute": pl.String, "attribute_label": pl.String, "level": pl.String,
                "position": pl.Int32})
    k = model.k_
    segments = pl.DataFrame({
        "segment_index": pl.Series(range(k), dtype=pl.Int32),
        "segment_id": pl.Series(ids, dtype=pl.Int32),
        "segment_name": model.segment_names_, "description": model.segment_descriptions_,
        "stability": model.segment_stability_.astype(float)})
    rank = [{f: r for r, (f, _) in enumerate(key, 1)} for key in model.segment_key_features_]
    phrase = [dict(key) for key in model.segment_key_features_]
    centroids = pl.DataFrame(
        [{"segment_index": i, "feature": f, "centroid": float(model.centroids_[i, j]),
          "phrase": phrase[i].get(f), "description_rank": rank[i].get(f)}
         for i in range(k) for j, f in enumerate(model.features_)],
        schema={"segment_index": pl.Int32, "feature": pl.String, "centroid": pl.Float64,
                "phrase": pl.String, "description_rank": pl.Int32})
    # Columnar, no copy of the features: the segment index is one more column.
    members = frame.select(profiled).with_columns(
        pl.Series("segment_index", model.labels_, dtype=pl.Int32))
    return {"segment_members": members, "profile_features": catalog,
            "fitted_segments": segments, "segment_features": centroids}


def _segment_profiles(feats: FeatureResult, model: Segmenter, ids: list[int]) -> pl.DataFrame:
    """The rows of ``segments.profile_history`` (without ``run_id``), from SQL.

    ``sql/build/segment_profile_rows.sql`` runs in a short in-memory DuckDB over
    the build's frames (DuckDB reads Polars frames through Arrow, without a
    copy). Not the work database: that is closed (its memory freed) before the
    model runs, and the segments exist only here until they are published.
    """
    import duckdb  # noqa: PLC0415 - the warehouse module owns connections to files

    sql = (warehouse.sql_dir() / PROFILE_SQL).read_text(encoding="utf-8")
    # One thread: a parallel float avg can differ in its last bits between runs,
    # and the same input must give identical tables.
    con = duckdb.connect(":memory:", config={"threads": 1})
    try:
        for name, frame in _profile_frames(feats, model, ids).items():
            con.register(name, frame)
        return con.sql(sql).pl().drop("position")
    finally:
        con.close()


def _segment_models(model: Segmenter) -> tuple[list, dict[str, str]]:
    """The segments models rendered for this build's clustered features."""
    from segkit.features import segment_context

    context = {**segment_context(model.features_), "from_run_id": None, "to_run_id": None}
    models = [m for m in warehouse.load_models() if m.layer == "segments"]
    return models, {m.name: warehouse.render(m, context) for m in models}


def _store_run_table(con, run_id: str, model, rows) -> None:
    """Append a run_table model's rows to its history and point the current view at them.

    The history table gains any column this build has and earlier ones lacked
    (a config change adds a feature); the current view shows this build's columns.
    """
    history = model.history_table
    con.register("_segkit_rows", rows)
    try:
        con.execute(f"create table if not exists {history} as select cast(null as varchar) "
                    "as run_id, * from _segkit_rows limit 0")
        existing = {r[0] for r in con.execute(f"describe {history}").fetchall()}
        described = con.execute("describe select * from _segkit_rows").fetchall()
        for name, kind, *_ in described:
            if name not in existing:
                con.execute(f"alter table {history} add column "
                            f"{warehouse.quote_ident(name)} {kind}")
        con.execute(f"insert into {history} by name select ? as run_id, * from _segkit_rows",
                    [run_id])
    finally:
        con.unregister("_segkit_rows")
    columns = ", ".join(warehouse.quote_ident(r[0]) for r in described)
    con.execute(f"create or replace view {model.name} as\nselect {columns}\nfrom {history}\n"
                "where run_id = (select run_id from segments.latest_run)")


def _publish_models(con, run_id: str, models: list, rendered: dict[str, str],
                    run_tables: dict) -> None:
    """Every model in the warehouse, by its header's ``published``.

    ``live`` models are their rendered SQL (they read the configured source);
    ``run_table`` models answer from the rows this build computed, with the
    rendered SQL beside them as ``live_<name>``; ``view`` models read run-keyed
    tables. The run registry's views come first: the current views read them.
    """
    from segkit.project import order

    ordered = order(models, rendered)
    registry = ("segments.successful_runs", "segments.latest_run", "segments.previous_run")
    first = [m for m in ordered if m.name in registry]
    for model in first + [m for m in ordered if m not in first]:
        if model.published == "run_table":
            _store_run_table(con, run_id, model, run_tables[model.name])
        con.execute(warehouse.create_sql(model.live_name, rendered[model.name]))


def _publish(cfg: Config, run_id: str, feats: FeatureResult, model: Segmenter,
             tables: dict[str, pl.DataFrame], run_row: dict, stage_seconds: dict,
             started: float) -> tuple[warehouse.NextWarehouse, set[str]]:
    """Write everything into the next warehouse (not yet visible) in one transaction.

    ``run_row`` holds every ``meta.runs`` column of this run. ``started`` is when
    write-back began: its own time is stored as the last statement. The caller
    swaps the returned next warehouse in (:meth:`NextWarehouse.publish`), then
    forgets the returned journal runs, which the write recorded in ``meta.runs``.
    """
    segment_models, segment_sql = _segment_models(model)
    rendered = {**feats.rendered, **segment_sql}
    journal_ids: set[str] = set()

    def write(con) -> None:
        versions = warehouse.version_views(con, rendered)
        for schema in ("staging", "cleaning", "features", "segments"):
            con.execute(f"create schema if not exists {schema}")
        # Drop views of sources no longer configured, so none points at stale files.
        for name, in con.execute("select schema_name || '.' || view_name from duckdb_views() "
                                 "where not internal and schema_name in "
                                 "('staging', 'cleaning', 'features', 'segments')").fetchall():
            con.execute(f"drop view if exists {name} cascade")
        for table, frame in tables.items():
            warehouse.insert_frame(con, table, frame)
        warehouse.insert_frame(con, "meta.run_views", pl.DataFrame(
            [{"run_id": run_id, "view_name": n, "version": v, "sql_hash": h, "sql": rendered[n]}
             for n, (v, h) in versions.items()]))
        journal_ids.update(_record_journal_runs(con, cfg, run_id))
        columns = ", ".join(["run_id", *run_row])
        marks = ", ".join("?" * (len(run_row) + 1))
        con.execute(f"insert into meta.runs ({columns}) values ({marks})",
                    [run_id, *run_row.values()])
        _publish_models(con, run_id, feats.models + segment_models, rendered, feats.run_tables)
        warehouse.trim_history(con, cfg.duckdb.history_builds)
        seconds = dict(stage_seconds)
        seconds["write-back"] = round(time.perf_counter() - started, 4)
        _insert_stages(con, run_id, seconds)

    nxt = warehouse.NextWarehouse(cfg.warehouse, cfg.duckdb)
    nxt.prepare()
    nxt.write(write)
    return nxt, journal_ids


def _insert_stages(con, run_id: str, stage_seconds: dict[str, float]) -> None:
    warehouse.insert_frame(con, "meta.run_stages", pl.DataFrame(
        [{"run_id": run_id, "stage": s, "seconds": t} for s, t in stage_seconds.items()],
        schema={"run_id": pl.String, "stage": pl.String, "seconds": pl.Float64}))


def _stage_seconds(seconds: dict[str, float], feats: FeatureResult,
                   model: Segmenter) -> dict[str, float]:
    """The stored stages: the SQL and model stages split into their parts.

    They add up to the build's time before publishing: load + features = sql,
    discretize + sweep + stability = model.
    """
    rows = {"load": feats.load_seconds,
            "features": round(seconds["sql"] - feats.load_seconds, 4)}
    t = model.timings_
    rows["discretize"] = round(t["discretize"] + t["distinct"], 4)
    stability = round(t.get("stability", 0.0), 4)
    rows["sweep"] = round(seconds["model"] - rows["discretize"] - stability, 4)
    rows["stability"] = stability
    rows.update((stage, s) for stage, s in seconds.items() if stage not in ("sql", "model"))
    return rows


def build(cfg: Config, *, progress: Progress | None = None) -> BuildResult:
    """Run the whole pipeline and publish the results; see the module docstring.

    Parameters
    ----------
    cfg : Config
        From :func:`segkit.config.load_config`; CLI flags are already applied.
    progress : Progress, default=None
        Receives stage events (the CLI draws them on the terminal).

    Returns
    -------
    BuildResult

    Raises
    ------
    SegkitError
        A user-fixable problem; the previous build's results are untouched.
    """
    progress = progress or Progress()
    stages = _Stages(progress)
    run_id = new_run_id()
    runner = _build
    if cfg.engine.kind == "spark":  # the same build with Spark for the per-customer steps
        from segkit.spark import require_pyspark

        require_pyspark()  # before the lock and the journal: a missing extra is no run
        from segkit.spark.build import build_on_spark as runner
    with warehouse.build_lock(cfg.warehouse, timeout=cfg.duckdb.lock_timeout_seconds):
        # Started once it holds the lock: time spent waiting for another build is not its own.
        started_at = _now()
        _register_run(cfg, run_id, started_at)
        try:
            result = runner(cfg, run_id, started_at, _previous_run(cfg), stages, progress)
        except SegkitError as exc:
            _mark_failed(cfg, run_id, str(exc))
            raise
        except BaseException as exc:
            _mark_failed(cfg, run_id, "".join(traceback.format_exception_only(exc)).strip())
            raise
    return result


def _build(cfg: Config, run_id: str, started_at: dt.datetime, previous: dict,
           stages: _Stages, progress: Progress) -> BuildResult:
    tracking_ready = _start_background_work(cfg)
    work_tmp = cfg.warehouse.parent / ".tmp" / run_id
    con = warehouse.connect_work(cfg.duckdb, work_tmp)
    try:
        with stages("sql", "Loading and cleaning the source in DuckDB") as info:
            _alias_warehouse_tables(con, cfg)
            feats = build_features(con, cfg)
            info["detail"] = (f"{feats.rows_in:,} rows in, {feats.rows_quarantined:,} "
                              f"quarantined, {feats.frame.height:,} customers "
                              f"(load {feats.load_seconds:.2f} s)")
    finally:
        con.close()
        shutil.rmtree(work_tmp, ignore_errors=True)
    m = cfg.model
    with stages("model", "Discretizing and sweeping k (K-Means, stability)") as info:
        # Normally imported already by the warm-up thread, during the SQL stage.
        from segkit.model import SegmentationWarning, Segmenter, tsne_map

        model = Segmenter(features=list(m.features) if m.features else None, n_bins=m.n_bins,
                          strategy=m.strategy, k_min=m.k_min, k_max=m.k_max, k=m.k,
                          correlation_threshold=m.correlation_threshold, n_init=m.n_init,
                          n_resamples=m.n_resamples, stability_threshold=m.stability_threshold,
                          labels=feats.labels, random_state=m.seed)
        try:
            with warnings.catch_warnings():
                # Shown once through the progress display and stored in meta.runs.
                warnings.simplefilter("ignore", SegmentationWarning)
                model.fit(feats.frame)
        except ValueError as exc:
            raise InputError(f"cannot segment {feats.source}: {exc}") from None
        t = model.timings_
        info["detail"] = (f"k = {model.k_}, silhouette {model.selection_.filter(pl.col('is_chosen'))['silhouette'][0]:.3f}, "
                          f"{model.n_distinct_} distinct vectors "
                          f"(discretize {t['discretize'] + t['distinct']:.2f} s, "
                          f"stability {t.get('stability', 0.0):.2f} s)")
    tsne = None
    if m.map:
        with stages("tsne", "Drawing the t-SNE map") as info:
            # "distinct": t-SNE of the <= 4^d distinct binned vectors of the sample,
            # customers placed around their vector: ~0.1-0.3 s, against 20-40 s for
            # the 5,000 jittered points, with the same islands (bench/tsne_options.py).
            try:
                tsne = tsne_map(model.binned_, model.labels_, sample_size=m.tsne_sample_size,
                                random_state=m.seed, method="distinct")
            except ValueError as exc:
                raise InputError(f"cannot draw the map of {feats.source}: {exc}. Set "
                                 "[model] map = false (or --no-map) to build without it.") \
                    from None
            info["detail"] = f"{len(tsne.indices):,} customers sampled"
    ids = _segment_ids(model, previous)
    _keep_names(model, ids, previous)
    tables = _tables(run_id, feats, model, ids, tsne)
    chosen = model.selection_.filter(pl.col("is_chosen")).row(0, named=True)
    build_warnings = feats.warnings + list(model.warnings_)
    for message in build_warnings:
        progress.warn(message)

    mlflow_ids: dict = {}
    if cfg.mlflow.enabled:
        from segkit import tracking  # mlflow is slow to import: only when tracking

        with stages("mlflow", "Logging to MLflow and registering the model") as info:
            mlflow_ids = tracking.log_build(cfg, run_id, feats, model, tables,
                                            experiment_id=tracking_ready.result())
            info["detail"] = f"model {mlflow_ids['model_name']} v{mlflow_ids['model_version']}"

    run_row = {
        "started_at": started_at, "config_hash": cfg.config_hash(),
        "config_json": json.dumps(cfg.to_dict()), "segkit_version": __version__,
        "finished_at": _now(), "status": "success", "source": feats.source,
        "as_of_date": feats.as_of, "rows_in": feats.rows_in, "rows_used": feats.rows_used,
        "rows_quarantined": feats.rows_quarantined, "customers": feats.frame.height,
        "customers_removed": feats.customers_removed, "distinct_vectors": model.n_distinct_,
        "features": ",".join(model.features_), "k": model.k_, "k_rule": model.k_rule_,
        "silhouette": chosen["silhouette"], "davies_bouldin": chosen["davies_bouldin"],
        "calinski_harabasz": chosen["calinski_harabasz"],
        "stability_ari_mean": chosen["stability_ari_mean"],
        "tsne_method": json.dumps(tsne.info) if tsne is not None else None,
        "warnings": "\n".join(build_warnings) or None,
        "mlflow_run_id": mlflow_ids.get("run_id"), "model_name": mlflow_ids.get("model_name"),
        "model_version": mlflow_ids.get("model_version"),
    }
    with stages("write-back", "Writing the next warehouse beside the live one"):
        run_row["seconds_total"] = round(sum(stages.seconds.values()), 3)
        nxt, journal_ids = _publish(cfg, run_id, feats, model, tables, run_row,
                                    _stage_seconds(stages.seconds, feats, model),
                                    time.perf_counter())

    # The report is rendered from the next warehouse before the swap, so its time
    # is stored with the build; the file is written only once the build is live.
    html, report_error = None, None
    with stages("report", "Rendering the HTML report") as info:
        try:
            from segkit import reporting  # altair is slow to import

            data = reporting.load_report_data(cfg.replace(warehouse=nxt.path), run_id)
            data.warehouse_path = cfg.warehouse
            html = reporting.render_html(data)
        except Exception as exc:  # noqa: BLE001 - the build publishes either way
            report_error = exc
        info["detail"] = (str(cfg.reports_dir / f"{run_id}.html") if html is not None
                          else "failed (see the warning below)")
    nxt.write(lambda con: _insert_stages(con, run_id, {"report": stages.seconds["report"]}))
    if nxt.publish():
        progress.warn("someone wrote to the warehouse during the build; their change was "
                      "carried into the published file.")
    with contextlib.suppress(Exception):  # the journal is only cleaned up: runs are recorded
        warehouse.journal_forget(cfg.warehouse, {run_id} | journal_ids)

    path = None
    if html is not None:
        try:
            path = reporting.write_report(cfg.reports_dir, run_id, html)
            if mlflow_ids:
                tracking.log_report(cfg, mlflow_ids["run_id"], path)
        except Exception as exc:  # noqa: BLE001
            report_error = exc
    if report_error is not None:
        reason = (str(report_error) if isinstance(report_error, SegkitError)
                  else f"{type(report_error).__name__}: {report_error}")
        progress.warn(f"the build {run_id} is published, but its report failed: {reason} "
                      f"Render it again with `python -m segkit report {run_id}`.")

    return BuildResult(
        run_id=run_id, warehouse=cfg.warehouse, report_path=path, k=model.k_,
        silhouette=chosen["silhouette"], segment_names=list(model.segment_names_),
        customers=feats.frame.height, rows_in=feats.rows_in, rows_used=feats.rows_used,
        rows_quarantined=feats.rows_quarantined, seconds=dict(stages.seconds),
        mlflow_run_id=mlflow_ids.get("run_id"), model_version=mlflow_ids.get("model_version"),
        warnings=build_warnings)


def _prepare_tracking(cfg: Config) -> str:
    from segkit import tracking

    return tracking.prepare(cfg)


def _import_quietly(module: str) -> None:
    with contextlib.suppress(Exception):  # a broken import fails later, in its own stage
        importlib.import_module(module)


def _start_background_work(cfg: Config) -> concurrent.futures.Future | None:
    """Start the data-independent slow parts beside the SQL stage; return MLflow's.

    Importing scikit-learn, MLflow and altair and creating a new MLflow store
    (its Alembic migrations) take seconds of Python while DuckDB, which releases
    the GIL, scans the source. Results stay deterministic: nothing here touches the data.
    """
    ready: concurrent.futures.Future | None = (
        concurrent.futures.Future() if cfg.mlflow.enabled else None)

    def warm_up() -> None:
        _import_quietly("segkit.model")
        if ready is not None:
            try:
                ready.set_result(_prepare_tracking(cfg))
            except BaseException as exc:  # re-raised where the result is used
                ready.set_exception(exc)
        _import_quietly("segkit.reporting")

    # A daemon thread: a build that stops early on a user error exits at once
    # instead of waiting seconds for imports nobody needs any more.
    threading.Thread(target=warm_up, name="segkit-warmup", daemon=True).start()
    return ready


def _alias_warehouse_tables(con, cfg: Config) -> None:
    """Make ``table =`` sources readable in the work database under the same name.

    The warehouse is attached read-only just long enough to materialize them.
    """
    tables = [s.table for s in (cfg.transactions, cfg.customers) if s is not None and s.table]
    if not tables:
        return
    if not cfg.warehouse.exists():
        raise InputError(f"table = \"{tables[0]}\" names a warehouse table, but the warehouse "
                         f"{cfg.warehouse} does not exist yet.")
    con.execute(f"attach {warehouse.quote_literal(str(cfg.warehouse))} as source_warehouse "
                "(read_only)")
    for table in tables:
        parts = table.split(".")
        schema = parts[0] if len(parts) == 2 else "main"
        if schema != "main":
            con.execute(f"create schema if not exists {warehouse.quote_ident(schema)}")
        qualified = ".".join(warehouse.quote_ident(p) for p in parts)
        con.execute(f"create or replace view {qualified} as select * from source_warehouse."
                    f"{qualified if len(parts) == 2 else 'main.' + qualified}")
