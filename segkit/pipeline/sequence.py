"""The build sequence, written once for every engine: SQL, model, map, tracking,
publish, report, in that order.

Each step is a named function; where a step needs the source or per-customer
rows it asks the build's engine (:class:`segkit.engines.Engine`: DuckDB, or
Spark), and never which engine it has.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import time
import traceback
import warnings
from typing import TYPE_CHECKING

import polars as pl

from segkit import __version__, warehouse
from segkit.config import Config
from segkit.engines import DuckDBEngine, Engine
from segkit.errors import InputError, SegkitError
from segkit.pipeline.backtest import run_backtest
from segkit.pipeline.carryover import _keep_names, _name_segments, _segment_ids
from segkit.pipeline.gates import check_data, check_model
from segkit.pipeline.kpis import segment_kpis
from segkit.pipeline.progress import _stage_seconds, _Stages, BuildResult, Progress
from segkit.pipeline.publish import _insert_stages, _publish, EarlyWrite
from segkit.pipeline.runs import _mark_failed, _now, _previous_run, _register_run, new_run_id
from segkit.pipeline.tables import build_tables
from segkit.pipeline.warmup import _start_background_work

if TYPE_CHECKING:  # importing scikit-learn takes seconds: the warm-up thread does it
    from segkit.model import Segmenter


def build(cfg: Config, *, progress: Progress | None = None) -> BuildResult:
    """Run the whole pipeline and publish the results; see the package docstring.

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
    engine = engine_for(cfg)  # before the lock and the journal: a missing extra is no run
    with warehouse.build_lock(cfg.warehouse, timeout=cfg.duckdb.lock_timeout_seconds):
        # Started once it holds the lock: time spent waiting for another build is not its own.
        started_at = _now()
        _register_run(cfg, run_id, started_at)
        try:
            result = _build(cfg, engine, run_id, started_at, _previous_run(cfg), stages,
                            progress)
        except SegkitError as exc:
            _mark_failed(cfg, run_id, str(exc))
            raise
        except BaseException as exc:
            _mark_failed(cfg, run_id, "".join(traceback.format_exception_only(exc)).strip())
            raise
    return result


def engine_for(cfg: Config) -> Engine:
    """The engine ``[engine] kind`` names; Spark's code (and pyspark) is imported only for it.

    Raises
    ------
    ConfigError
        The Spark engine without pyspark installed (names the extra).
    """
    if cfg.engine.kind == "spark":
        from segkit.spark.build import SparkEngine

        return SparkEngine(cfg)
    return DuckDBEngine(cfg)


def _build(cfg: Config, engine: Engine, run_id: str, started_at: dt.datetime, previous: dict,
           stages: _Stages, progress: Progress) -> BuildResult:
    """The build sequence, one named step per stage; nothing is visible before ``publish``."""
    tracking_ready = _start_background_work(cfg)  # imports and the MLflow store, meanwhile
    engine.start(stages)
    feats = engine.run_sql(run_id, stages)
    check_data(cfg, feats, previous)  # too few customers: exit 3 before anything is written
    customers = feats.n_customers
    early = EarlyWrite(cfg, run_id, feats)  # the next warehouse, filled beside the model
    try:
        model = _fit_model(cfg, engine, feats, stages)
        feats.warnings += check_model(cfg, model)
        _name_segments(cfg, model, previous)
        ids = _segment_ids(model, previous)
        _keep_names(model, ids, previous)
        engine.assign(model, ids, stages)
        tsne, points = _draw_map(cfg, engine, feats, model, ids, stages)
        tables = build_tables(engine, run_id, feats, model, ids, tsne, points, previous)
        tables["segments.kpi_history"] = segment_kpis(cfg, engine, run_id, feats, model, ids)
        backtest = run_backtest(cfg, engine, feats, run_id, stages)
        tables.update(backtest.tables(run_id))
        engine.release_purchases()
        chosen = model.selection_.filter(pl.col("is_chosen")).row(0, named=True)
        build_warnings = feats.warnings + list(model.warnings_)
        if backtest.message:
            build_warnings.append(backtest.message)
        for message in build_warnings:
            progress.warn(message)
        engine.write_outputs(run_id, stages)
        mlflow_ids = _track(cfg, engine, run_id, feats, model, tables, tracking_ready, stages,
                            backtest.metrics())
        run_row = _run_row(cfg, started_at, feats, model, chosen, tsne, build_warnings,
                           mlflow_ids)
        with stages("write-back", "Writing the next warehouse beside the live one") as info:
            run_row["seconds_total"] = round(sum(stages.seconds.values()), 3)
            nxt, journal_ids = _publish(cfg, run_id, feats, model, tables, run_row,
                                        _stage_seconds(stages.seconds, feats, model),
                                        time.perf_counter(), early)
            info["detail"] = (f"run tables written beside the model in "
                              f"{early.seconds:.2f} s")
        # The per-customer rows are in the next warehouse now: let them go before the
        # report reads it. At 100M lines a full collection also frees gigabytes that
        # releasing alone does not (cause not found): the rebuild's report peaked at
        # 5.5 GB of RSS, 5.2 with the release alone, 3.6 with the collection. It costs
        # ~0.2 s, so small builds skip it.
        del tables
        feats.release_rows()
        if customers >= 1_000_000 and feats.rows_released:
            gc.collect()
        html, report_error = _render_report(cfg, run_id, nxt, stages)
        nxt.write(lambda con: _insert_stages(con, run_id, {"report": stages.seconds["report"]}))
        engine.publish_outputs()  # the engine's own tables first, then the warehouse
    except BaseException as exc:
        engine.discard_outputs()
        early.abandon(wait=not isinstance(exc, KeyboardInterrupt))
        raise
    path = _go_live(cfg, run_id, nxt, journal_ids, html, mlflow_ids, report_error, progress)
    return BuildResult(
        run_id=run_id, warehouse=cfg.warehouse, report_path=path, k=model.k_,
        silhouette=chosen["silhouette"], segment_names=list(model.segment_names_),
        customers=customers, rows_in=feats.rows_in, rows_used=feats.rows_used,
        rows_quarantined=feats.rows_quarantined, seconds=dict(stages.seconds),
        mlflow_run_id=mlflow_ids.get("run_id"), model_version=mlflow_ids.get("model_version"),
        warnings=build_warnings)


def _go_live(cfg: Config, run_id: str, nxt, journal_ids: set, html: str | None,
             mlflow_ids: dict, report_error, progress: Progress):
    """Publish the next warehouse, forget the run's journal lines, write the report; its path.

    Every build ends this way. A report that fails after publishing is a warning:
    the build succeeded and ``segkit report`` renders it again.
    """
    if nxt.publish():
        progress.warn("someone wrote to the warehouse during the build; their change was "
                      "carried into the published file.")
    with contextlib.suppress(Exception):  # the journal is only cleaned up: runs are recorded
        warehouse.journal_forget(cfg.warehouse, {run_id} | journal_ids)
    path, report_error = _write_report(cfg, run_id, html, mlflow_ids, report_error)
    if report_error is not None:
        reason = (str(report_error) if isinstance(report_error, SegkitError)
                  else f"{type(report_error).__name__}: {report_error}")
        progress.warn(f"the build {run_id} is published, but its report failed: {reason} "
                      f"Render it again with `python -m segkit report {run_id}`.")
    return path


def _fit_model(cfg: Config, engine: Engine, feats, stages: _Stages) -> Segmenter:
    """Stage ``model``: the Segmenter, fitted by the engine (see segkit/model/segmenter.py)."""
    m = cfg.model
    with stages("model", engine.model_description) as info:
        # Normally imported already by the warm-up thread, during the SQL stage.
        from segkit.model import SegmentationWarning, Segmenter

        model = Segmenter(features=list(m.features) if m.features else None, n_bins=m.n_bins,
                          strategy=m.strategy, k_min=m.k_min, k_max=m.k_max, k=m.k,
                          correlation_threshold=m.correlation_threshold, n_init=m.n_init,
                          n_resamples=m.n_resamples, stability_threshold=m.stability_threshold,
                          baseline_resamples=m.baseline_resamples, labels=feats.labels,
                          seed=m.seed)
        try:
            with warnings.catch_warnings():
                # Shown once through the progress display and stored in meta.runs.
                warnings.simplefilter("ignore", SegmentationWarning)
                info["detail"] = engine.fit(model, feats)
        except ValueError as exc:
            raise InputError(f"cannot segment {feats.source}: {exc}") from None
    return model


def _draw_map(cfg: Config, engine: Engine, feats, model: Segmenter, ids: list[int],
              stages: _Stages):
    """Stage ``tsne`` (when ``[model] map``): the 2-D map of a bounded sample and its
    customers, or ``(None, None)``."""
    m = cfg.model
    if not m.map:
        return None, None
    with stages("tsne", "Drawing the t-SNE map") as info:
        try:
            tsne, points = engine.map_sample(feats, model, ids, m.tsne_sample_size, m.seed)
        except ValueError as exc:
            raise InputError(f"cannot draw the map of {feats.source}: {exc}. Set "
                             "[model] map = false (or --no-map) to build without it.") \
                from None
        info["detail"] = f"{len(tsne.indices):,} customers sampled"
    return tsne, points


def _track(cfg: Config, engine: Engine, run_id: str, feats, model: Segmenter, tables: dict,
           tracking_ready, stages: _Stages, extra_metrics: dict | None = None) -> dict:
    """Stage ``mlflow`` (when enabled): params, metrics, artifacts and the model version."""
    if not cfg.mlflow.enabled:
        return {}
    from segkit import tracking  # mlflow is slow to import: only when tracking

    feats.example = engine.example_rows(feats, model.features_)
    with stages("mlflow", "Logging to MLflow and registering the model") as info:
        mlflow_ids = tracking.log_build(cfg, run_id, feats, model, tables,
                                        experiment_id=tracking_ready.result(),
                                        extra_metrics=extra_metrics)
        info["detail"] = f"model {mlflow_ids['model_name']} v{mlflow_ids['model_version']}"
    return mlflow_ids


def _run_row(cfg: Config, started_at: dt.datetime, feats, model: Segmenter,
             chosen: dict, tsne, build_warnings: list[str], mlflow_ids: dict) -> dict:
    """This build's ``meta.runs`` row (without ``run_id`` and ``seconds_total``)."""
    return {
        "started_at": started_at, "config_hash": cfg.config_hash(),
        "config_json": json.dumps(cfg.to_dict()), "segkit_version": __version__,
        "finished_at": _now(), "status": "success", "source": feats.source,
        "as_of_date": feats.as_of, "rows_in": feats.rows_in, "rows_used": feats.rows_used,
        "rows_quarantined": feats.rows_quarantined, "customers": model.n_customers_,
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


def _render_report(cfg: Config, run_id: str, nxt, stages: _Stages):
    """Stage ``report``: the HTML from the next warehouse, before the swap; ``(html, error)``.

    Its time is stored with the build; the file is written only once the build is live.
    """
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
    return html, report_error


def _write_report(cfg: Config, run_id: str, html: str | None, mlflow_ids: dict,
                  report_error: Exception | None):
    """The report file (and MLflow's copy) of the build just published; ``(path, error)``."""
    path = None
    if html is None:
        return path, report_error
    try:
        from segkit import reporting

        path = reporting.write_report(cfg.reports_dir, run_id, html)
        if mlflow_ids:
            from segkit import tracking

            tracking.log_report(cfg, mlflow_ids["run_id"], path)
    except Exception as exc:  # noqa: BLE001
        report_error = exc
    return path, report_error
