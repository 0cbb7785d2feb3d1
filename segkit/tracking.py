"""MLflow: one run per build, and a registered model version with the alias ``champion``.

The only module that imports mlflow (its import alone takes seconds). By default
the store is a SQLite file beside the warehouse, with artifacts in the same
folder, never the working directory; ``MLFLOW_TRACKING_URI`` or
``[mlflow] tracking_uri`` point it elsewhere (e.g. an ``mlflow server``).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
import warnings
import time
from pathlib import Path

import numpy as np
import polars as pl

from segkit.config import Config
from segkit.errors import TrackingError

# MLflow sends usage telemetry to its servers unless told not to. A local build
# should make no network call its user did not configure (and without internet
# the calls only wait for timeouts). Off unless the user set
# MLFLOW_DISABLE_TELEMETRY=false; it must be set before the import.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow  # noqa: E402
import mlflow.pyfunc  # noqa: E402
from mlflow.entities import Metric  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

CHAMPION_ALIAS = "champion"
# MLflow logs store migrations and registrations at INFO; the CLI shows its own summary.
logging.getLogger("mlflow").setLevel(logging.WARNING)


@contextlib.contextmanager
def using_store(uri: str):
    """MLflow's global store set to ``uri`` for a block, then put back as it was.

    ``mlflow.set_tracking_uri`` also writes ``MLFLOW_TRACKING_URI`` into the
    environment, where the next build in the same process (a notebook building
    two projects) would read it as the user's choice and log to this store.
    """
    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)  # None unsets the variable as well


@contextlib.contextmanager
def _without_mlflow_advice():
    """Drop MLflow's advice to developers (type hints, integer columns) from the terminal.

    A filter cannot do it: MLflow re-enables user warnings inside its own
    ``catch_warnings`` blocks, so the advice is dropped where it is shown.
    """
    show = warnings.showwarning

    def quiet(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if "mlflow" in filename and ("type hint" in text or "integer column" in text):
            return
        show(message, category, filename, lineno, file, line)

    warnings.showwarning = quiet
    try:
        yield
    finally:
        warnings.showwarning = show


# The model's predict takes and returns frames; defining it draws MLflow's advice.
with _without_mlflow_advice():
    class SegmentModel(mlflow.pyfunc.PythonModel):
        """The logged model: the build's fitted pipeline, answering in segment ids.

        The scikit-learn pipeline predicts the canonical segment index (0..k-1) of
        one build; every table speaks ``segment_id``, which stays the same across
        builds whose segments match. So the model maps the index to the build's
        ``segment_id`` and ``segment_name``: the same answer as
        ``segments.live_segments`` for the same feature row.
        """

        def __init__(self, pipeline, features, segment_ids, segment_names):
            self.pipeline = pipeline
            self.features = list(features)
            self.segment_ids = [int(i) for i in segment_ids]
            self.segment_names = list(segment_names)

        def predict(self, context, model_input, params=None):
            """A frame with ``segment_id`` and ``segment_name`` per input row."""
            import pandas as pd

            index = np.asarray(self.pipeline.predict(model_input[self.features]), dtype=int)
            return pd.DataFrame({"segment_id": np.asarray(self.segment_ids)[index],
                                 "segment_name": np.asarray(self.segment_names, dtype=object)[index]})


def tracking_uri(cfg: Config) -> str:
    """Config key, then MLFLOW_TRACKING_URI, then SQLite beside the warehouse."""
    if cfg.mlflow.tracking_uri:
        return cfg.mlflow.tracking_uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    # Four slashes: an absolute path. Three would be relative to the working directory.
    return "sqlite:///" + str((cfg.warehouse.parent / "mlflow.db").resolve())


def _is_local(uri: str) -> bool:
    return uri.startswith("sqlite:") or uri.startswith("file:") or "://" not in uri


def _new_sqlite_store_in_wal_mode(uri: str) -> None:
    """Create a new SQLite store file in WAL mode before MLflow migrates it.

    A new store runs every Alembic migration, each its own commit; in SQLite's
    default rollback-journal mode each commit syncs the file several times.
    WAL mode (stored in the file) needs one sync per commit: 4.0-4.2 s against
    5.2-6.3 s to create a store on a busy 2-core machine, same CPU time
    (docs/BENCHMARKS.md). Only for a file that does not exist yet: an existing
    store keeps whatever mode its owner chose.
    """
    if not uri.startswith("sqlite:///") or uri == "sqlite:///:memory:":
        return
    path = Path(uri[len("sqlite:///"):])
    if path.exists() or not path.parent.is_dir():
        return
    import sqlite3

    with contextlib.suppress(sqlite3.Error):
        con = sqlite3.connect(path)
        try:
            con.execute("pragma journal_mode=wal").fetchall()
        finally:
            con.close()


def _experiment_id(cfg: Config, uri: str) -> str:
    _new_sqlite_store_in_wal_mode(uri)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if _is_local(uri):
        # Without this MLflow writes artifacts to ./mlruns of whatever folder we are in.
        location = (cfg.warehouse.parent / "mlartifacts").resolve().as_uri()
    return client.create_experiment(cfg.mlflow.experiment, artifact_location=location)


def _params(cfg: Config, feats, model) -> dict[str, str]:
    params = {
        "seed": model.seed, "n_bins": model.n_bins, "strategy": model.strategy,
        "k_min": model.k_min, "k_max": model.k_max, "k_range": ",".join(map(str, model.k_range_)),
        "features": ",".join(model.features_), "n_init": model.n_init,
        "n_resamples": model.n_resamples, "stability_threshold": model.stability_threshold,
        "config_hash": cfg.config_hash(), "as_of": str(feats.as_of), "source": feats.source,
    }
    for section in ("features",):
        for key, value in cfg.to_dict()[section].items():
            params[f"{section}.{key}"] = value
    from segkit.project import fingerprint

    for name, sql in feats.rendered.items():
        params[f"view.{name}"] = fingerprint(sql)
    return {k: str(v)[:500] for k, v in params.items()}


def prepare(cfg: Config) -> str:
    """Open (creating if needed) the store and the experiment; return its id.

    The expensive, data-independent half of tracking: MLflow's map of installed
    packages and creating a new SQLite store (MLflow runs every Alembic
    migration, seconds). The build runs it in a background thread while DuckDB
    works, so its cost hides behind the SQL stage.

    Raises
    ------
    TrackingError
        The tracking server or store cannot be used.
    """
    uri = tracking_uri(cfg)
    with _tracking_errors(uri):
        # Neither mlflow.sklearn nor skops: the model is logged as a pyfunc
        # (cloudpickle), and importing skops imports every scikit-learn estimator
        # (1.3-1.5 s of CPU for nothing; tests/e2e/test_tracking.py checks).
        # log_model checks the pinned requirements against the installed packages;
        # the first check maps every installed module to its distribution (0.5 s
        # of importlib.metadata). Same map, built here off the critical path.
        with contextlib.suppress(Exception):
            from mlflow.utils.requirements_utils import _init_modules_to_packages_map

            _init_modules_to_packages_map()
        return _experiment_id(cfg, uri)


@contextlib.contextmanager
def _tracking_errors(uri: str):
    """Turn MLflow's and the network's exceptions into one clear TrackingError."""
    try:
        yield
    except mlflow.exceptions.MlflowException as exc:
        raise TrackingError(f"MLflow at {uri} failed: {exc.message.splitlines()[0]}. "
                            "Check [mlflow] tracking_uri, or set enabled = false to build "
                            "without tracking.") from None
    except OSError as exc:
        raise TrackingError(f"MLflow at {uri} failed: {exc}. Check [mlflow] tracking_uri, "
                            "or set enabled = false to build without tracking.") from None


def log_build(cfg: Config, run_id: str, feats, model, tables: dict[str, pl.DataFrame], *,
              experiment_id: str | None = None, extra_metrics: dict | None = None) -> dict:
    """Log the build as one MLflow run and register its model; return the ids.

    ``experiment_id`` comes from :func:`prepare` when it already ran;
    ``extra_metrics`` (the backtest's ``backtest_lift``, ``backtest_auc``,
    ``backtest_repurchase_<segment id>``, ...) are logged with the build's own.

    Returns
    -------
    dict
        ``run_id`` (MLflow's), ``model_name``, ``model_version``, ``tracking_uri``.

    Raises
    ------
    TrackingError
        The tracking server or store cannot be used.
    """
    uri = tracking_uri(cfg)
    with _tracking_errors(uri):
        return _log_build(cfg, uri, run_id, feats, model, tables, experiment_id,
                          extra_metrics)


def _log_build(cfg, uri, run_id, feats, model, tables, experiment_id=None,
               extra_metrics=None) -> dict:
    with using_store(uri):
        return _log_run(cfg, uri, run_id, feats, model, tables, experiment_id, extra_metrics)


def _log_run(cfg, uri, run_id, feats, model, tables, experiment_id=None,
             extra_metrics=None) -> dict:
    experiment_id = experiment_id or _experiment_id(cfg, uri)
    selection = model.selection_
    chosen = selection.filter(pl.col("is_chosen")).row(0, named=True)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_id) as run:
        mlflow.set_tag("segkit.run_id", run_id)
        mlflow.log_params(_params(cfg, feats, model))
        # One batch: a log_metric call per value is one SQLite commit each (~1.7 s).
        now_ms = int(time.time() * 1000)
        sweep = [Metric(f"sweep.{metric}", float(row[metric]), now_ms, int(row["k"]))
                 for row in selection.iter_rows(named=True)
                 for metric in ("inertia", "silhouette", "davies_bouldin", "calinski_harabasz",
                                "stability_ari_mean", "stability_ari_p10")
                 if row[metric] is not None and np.isfinite(row[metric])]
        MlflowClient(uri).log_batch(run.info.run_id, metrics=sweep)
        mlflow.log_metrics({
            "k": model.k_, "customers": model.n_customers_, "rows_in": feats.rows_in,
            "rows_used": feats.rows_used, "rows_quarantined": feats.rows_quarantined,
            **{m: chosen[m] for m in ("silhouette", "davies_bouldin", "calinski_harabasz",
                                      "stability_ari_mean") if chosen[m] is not None},
            **(extra_metrics or {}),
        })
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            selection.write_csv(folder / "model_selection.csv")
            tables["segments.profile_history"].write_csv(folder / "segment_profiles.csv")
            (folder / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
            mlflow.log_artifacts(str(folder), artifact_path="build")
        # A few customers' feature rows; the Spark engine reads them into `example`.
        example = (feats.example if getattr(feats, "example", None) is not None
                   else feats.frame.head(5)).select(model.features_).to_pandas()
        segments = (tables["segments.centroid_history"].filter(pl.col("feature_index") == 0)
                    .sort("segment_index"))
        segment_model = SegmentModel(model.to_pipeline(), list(model.features_),
                                     segments["segment_id"].to_list(),
                                     segments["segment_name"].to_list())
        # MLflow prints "Successfully registered model ..." to stderr; the CLI says it once.
        with contextlib.redirect_stderr(io.StringIO()), _without_mlflow_advice():
            signature = infer_signature(example, segment_model.predict(None, example))
            info = mlflow.pyfunc.log_model(
                name="model", python_model=segment_model, signature=signature,
                input_example=example,
                registered_model_name=cfg.mlflow.registered_model,
                # Explicit: inferring requirements imports and inspects packages for seconds.
                pip_requirements=_requirements())
        version = str(info.registered_model_version)
        MlflowClient(uri).set_registered_model_alias(cfg.mlflow.registered_model,
                                                     CHAMPION_ALIAS, version)
        return {"run_id": run.info.run_id, "model_name": cfg.mlflow.registered_model,
                "model_version": version, "tracking_uri": uri}


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("scikit-learn", "numpy", "scipy", "pandas")]


def log_report(cfg: Config, mlflow_run_id: str, report: Path) -> None:
    """Attach the rendered HTML report to the build's MLflow run."""
    uri = tracking_uri(cfg)
    with _tracking_errors(uri):
        MlflowClient(uri).log_artifact(mlflow_run_id, str(report), artifact_path="report")


def load_champion(cfg: Config):
    """The registered model with the alias ``champion`` (for ``segkit score``).

    Its ``predict(frame)`` returns a frame of ``segment_id`` and ``segment_name``.
    """
    with using_store(tracking_uri(cfg)):
        return mlflow.pyfunc.load_model(
            f"models:/{cfg.mlflow.registered_model}@{CHAMPION_ALIAS}")
