"""Warm-up: imports and the MLflow store prepared beside the SQL stage, on a daemon thread."""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib
import threading

from segkit.config import Config


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
