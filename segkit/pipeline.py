"""``segkit build``: the whole pipeline, from source rows to published segments.

The order of a build, and why:

1. take the build lock and register the run as ``running`` (a short write);
2. compute everything in a private in-memory DuckDB: SQL views, features,
   the model, the t-SNE map (the warehouse stays free for readers);
3. log to MLflow and register the model version;
4. publish every table and view in ONE warehouse transaction: a build that
   fails or is killed before this leaves the previous results untouched;
5. render the HTML report from the published tables.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import importlib
import json
import secrets
import shutil
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


def _register_run(cfg: Config, run_id: str, started_at: dt.datetime) -> dict:
    """Mark the run as running; read what the build needs from the last success."""
    with warehouse.transaction(cfg.warehouse, cfg.duckdb) as con:
        # We hold the build lock, so any run still "running" died mid-build.
        con.execute("update meta.runs set status = 'failed', error = 'interrupted: the "
                    "build process stopped before it finished' where status = 'running'")
        con.execute("insert into meta.runs (run_id, started_at, status, config_hash, "
                    "config_json, segkit_version) values (?, ?, 'running', ?, ?, ?)",
                    [run_id, started_at, cfg.config_hash(), json.dumps(cfg.to_dict()),
                     __version__])
        rows = con.execute(
            "select run_id, features from meta.runs where status = 'success' "
            "order by finished_at desc, run_id desc limit 1").fetchall()
        if not rows:
            return {}
        previous = rows[0]
        centroids = con.sql(
            "select segment_id, feature, centroid from segments.centroid_history "
            "where run_id = ? order by segment_index, feature_index", params=[previous[0]]).pl()
        return {"run_id": previous[0], "features": previous[1], "centroids": centroids}


def _mark_failed(cfg: Config, run_id: str, message: str) -> None:
    # Best effort and brief: if the warehouse stays busy, the run keeps status
    # "running" and the next build marks it failed (it holds the build lock).
    timeout = min(cfg.duckdb.lock_timeout_seconds, 5.0)
    with contextlib.suppress(Exception):
        with warehouse.transaction(cfg.warehouse, cfg.duckdb, timeout=timeout) as con:
            # Only a run not yet published: a report that fails after write-back
            # must not take the published segments back.
            con.execute("update meta.runs set status = 'failed', finished_at = ?, error = ? "
                        "where run_id = ? and status = 'running'",
                        [_now(), message[:2000], run_id])


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


def _tables(run_id: str, feats: FeatureResult, model: Segmenter, ids: list[int],
            tsne) -> dict[str, pl.DataFrame]:
    """Every per-run table the build publishes, keyed by its warehouse name."""
    frame = feats.frame
    names = model.segment_names_
    labels = model.labels_
    seg_id = np.asarray(ids)[labels]
    n = frame.height
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
    profile_features = [f for f in feats.numeric_features + feats.onehot_features
                        if f in frame.columns]
    stats = (frame.with_columns(pl.Series("segment_index", labels))
             .group_by("segment_index")
             .agg([pl.len().alias("n_customers")]
                  + [pl.col(f).mean().alias(f"{f}__mean") for f in profile_features]
                  + [pl.col(f).median().alias(f"{f}__median") for f in profile_features])
             .sort("segment_index"))
    rows = []
    for s in stats.iter_rows(named=True):
        i = s["segment_index"]
        for f in profile_features:
            centroid = (float(model.centroids_[i, model.features_.index(f)])
                        if f in model.features_ else None)
            rows.append({"run_id": run_id, "segment_id": ids[i], "segment_index": i,
                         "segment_name": names[i],
                         "description": model.segment_descriptions_[i],
                         "n_customers": s["n_customers"], "share": s["n_customers"] / n,
                         "stability": float(model.segment_stability_[i]), "feature": f,
                         "mean": s[f"{f}__mean"], "median": s[f"{f}__median"],
                         "centroid": centroid})
    tables["segments.profile_history"] = pl.DataFrame(rows)
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
             started: float) -> None:
    """Write everything in one transaction: readers see the old build or the new one.

    ``started`` is when write-back began: its own time is stored as the last
    statement before the commit.
    """
    segment_models, segment_sql = _segment_models(model)
    rendered = {**feats.rendered, **segment_sql}
    with warehouse.transaction(cfg.warehouse, cfg.duckdb) as con:
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
        assignments = ", ".join(f"{c} = ?" for c in run_row)
        con.execute(f"update meta.runs set {assignments} where run_id = ?",
                    [*run_row.values(), run_id])
        _publish_models(con, run_id, feats.models + segment_models, rendered, feats.run_tables)
        stage_seconds = dict(stage_seconds)
        stage_seconds["write-back"] = round(time.perf_counter() - started, 4)
        _insert_stages(con, run_id, stage_seconds)


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
    with warehouse.build_lock(cfg.warehouse, timeout=cfg.duckdb.lock_timeout_seconds):
        # Started once it holds the lock: time spent waiting for another build is not its own.
        previous = _register_run(cfg, run_id, _now())
        try:
            result = _build(cfg, run_id, previous, stages, progress)
        except SegkitError as exc:
            _mark_failed(cfg, run_id, str(exc))
            raise
        except BaseException as exc:
            _mark_failed(cfg, run_id, "".join(traceback.format_exception_only(exc)).strip())
            raise
    return result


def _build(cfg: Config, run_id: str, previous: dict, stages: _Stages,
           progress: Progress) -> BuildResult:
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
                          random_state=m.seed)
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
            tsne = tsne_map(model.binned_, model.labels_, sample_size=m.tsne_sample_size,
                            random_state=m.seed, method="distinct")
            info["detail"] = f"{len(tsne.indices):,} customers sampled"
    ids = _segment_ids(model, previous)
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
    with stages("write-back", "Publishing segment tables to the warehouse"):
        run_row["seconds_total"] = round(sum(stages.seconds.values()), 3)
        _publish(cfg, run_id, feats, model, tables, run_row,
                 _stage_seconds(stages.seconds, feats, model), time.perf_counter())

    with stages("report", "Rendering the HTML report") as info:
        from segkit.reporting import render_report  # altair is slow to import

        path = render_report(cfg, run_id)
        if mlflow_ids:
            tracking.log_report(cfg, mlflow_ids["run_id"], path)
        info["detail"] = str(path)
    # The report cannot hold its own time; meta.run_stages can, in a second short
    # write. Best effort: the build is published and complete either way.
    try:
        with warehouse.transaction(cfg.warehouse, cfg.duckdb) as con:
            _insert_stages(con, run_id, {"report": stages.seconds["report"]})
    except SegkitError as exc:
        progress.warn(f"the report's time was not stored in meta.run_stages: {exc}")

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
