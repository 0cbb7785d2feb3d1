"""Publishing: every table, model and the run row written into the next warehouse."""

from __future__ import annotations

import concurrent.futures
import time
from typing import TYPE_CHECKING

import polars as pl

from segkit import warehouse
from segkit.config import Config
from segkit.features import FeatureResult
from segkit.pipeline.runs import _record_journal_runs

if TYPE_CHECKING:  # importing scikit-learn takes seconds: the warm-up thread does it
    from segkit.model import Segmenter


def _segment_models(model: Segmenter) -> tuple[list, dict[str, str]]:
    """The segments models rendered for this build's clustered features."""
    from segkit.features import segment_context

    context = {**segment_context(model.features_), "from_run_id": None, "to_run_id": None}
    models = [m for m in warehouse.load_models() if m.layer == "segments"]
    return models, {m.name: warehouse.render(m, context) for m in models}


def _publish_models(con, models: list, rendered: dict[str, str], run_tables: dict) -> None:
    """Every model in the warehouse, by its header's ``published``.

    ``live`` models are their rendered SQL (they read the configured source);
    ``run_table`` models answer from the rows this build computed (stored by
    :func:`_store_run_rows`), with the rendered SQL beside them as
    ``live_<name>``; ``view`` models read run-keyed tables. The run registry's
    views come first: the current views read them.
    """
    from segkit.project import order

    ordered = order(models, rendered)
    registry = ("segments.successful_runs", "segments.latest_run", "segments.previous_run")
    first = [m for m in ordered if m.name in registry]
    for model in first + [m for m in ordered if m not in first]:
        if model.published == "run_table":
            warehouse.point_run_view(con, run_tables[model.name],
                                     history=model.history_table, view=model.name)
        con.execute(warehouse.create_sql(model.live_name, rendered[model.name]))


def _store_run_rows(con, run_id: str, feats: FeatureResult) -> None:
    """The run tables' rows (features, quarantine, ...) appended to their history tables.

    Once the build has let go of them (:meth:`FeatureResult.release_rows`), a
    replayed write copies them from the file it built.
    """
    history = {m.name: m.history_table for m in feats.models if m.published == "run_table"}
    for name, rows in feats.run_tables.items():
        warehouse.append_run_rows(con, run_id, rows, history=history[name],
                                  released=feats.rows_released)


class EarlyWrite:
    """The next warehouse, started on a thread while the model stage runs.

    The SQL stage's per-customer rows (the feature matrix, the quarantine) are
    most of write-back from millions of lines on, and need nothing from the
    model: they are written beside it, on one DuckDB thread (DuckDB releases
    the GIL; the model takes the other core). 10M lines: write-back 1.2 -> 0.6 s
    and the build ~0.7 s shorter. With two threads the model stage slowed down
    as much, and at 100M the peak rose to 5.3 GB (4.9 with one). It is its own
    transaction in the next file; nothing is visible before the swap.
    :func:`_publish` writes the rest. (Writing the segment tables beside MLflow
    as well gained nothing: this write is still under way then.)
    """

    def __init__(self, cfg: Config, run_id: str, feats: FeatureResult):
        self.nxt = warehouse.NextWarehouse(cfg.warehouse, cfg.duckdb)
        self.seconds = 0.0  # the write's own time, once done
        thread = concurrent.futures.ThreadPoolExecutor(1, "segkit-write")
        self._done = thread.submit(self._write, run_id, feats)
        thread.shutdown(wait=False)  # its thread ends with this one write

    def _write(self, run_id: str, feats: FeatureResult) -> None:
        def write(con) -> None:
            con.execute("set threads = 1")  # the other core is the model's
            _store_run_rows(con, run_id, feats)

        started = time.perf_counter()
        self.nxt.prepare()
        self.nxt.write(write)
        self.seconds = time.perf_counter() - started

    def finish(self) -> warehouse.NextWarehouse:
        """Wait for the write (raising its error, if any); the next warehouse."""
        self._done.result()
        return self.nxt

    def abandon(self, *, wait: bool = True) -> None:
        """The build failed: wait for the write, then remove the next file.

        ``wait=False`` (Ctrl-C): return at once; the write may still create the
        file, and the next build removes it (it is never read before a swap).
        """
        if wait:
            concurrent.futures.wait([self._done])
        self.nxt.discard()


def _publish(cfg: Config, run_id: str, feats: FeatureResult, model: Segmenter,
             tables: dict[str, pl.DataFrame], run_row: dict, stage_seconds: dict,
             started: float, early: EarlyWrite | None = None
             ) -> tuple[warehouse.NextWarehouse, set[str]]:
    """Write everything into the next warehouse (not yet visible) in one transaction.

    ``early``: the next warehouse holding the run tables' rows already; without
    it this transaction writes them too.
    ``run_row`` holds every ``meta.runs`` column of this run. ``started`` is when
    write-back began: its own time is stored as the last statement. The caller
    swaps the returned next warehouse in (:meth:`NextWarehouse.publish`), then
    forgets the returned journal runs, which the write recorded in ``meta.runs``.
    """
    segment_models, segment_sql = _segment_models(model)
    rendered = {**feats.rendered, **segment_sql}
    journal_ids: set[str] = set()

    def write(con) -> None:
        if early is None:
            _store_run_rows(con, run_id, feats)
        versions = warehouse.version_views(con, rendered)
        warehouse.replace_schemas(con, warehouse.LAYERS)
        for table, frame in tables.items():
            warehouse.insert_frame(con, table, frame)
        warehouse.insert_frame(con, "meta.run_views", pl.DataFrame(
            [{"run_id": run_id, "view_name": n, "version": v, "sql_hash": h, "sql": rendered[n]}
             for n, (v, h) in versions.items()]))
        journal_ids.update(_record_journal_runs(con, cfg, run_id))
        warehouse.insert_row(con, "meta.runs", {"run_id": run_id, **run_row})
        _publish_models(con, feats.models + segment_models, rendered, feats.run_tables)
        warehouse.trim_history(con, cfg.duckdb.history_builds)
        seconds = dict(stage_seconds)
        seconds["write-back"] = round(time.perf_counter() - started, 4)
        _insert_stages(con, run_id, seconds)

    if early is None:
        nxt = warehouse.NextWarehouse(cfg.warehouse, cfg.duckdb)
        nxt.prepare()
    else:
        nxt = early.finish()
    nxt.write(write)
    return nxt, journal_ids


def _insert_stages(con, run_id: str, stage_seconds: dict[str, float]) -> None:
    warehouse.insert_frame(con, "meta.run_stages", pl.DataFrame(
        [{"run_id": run_id, "stage": s, "seconds": t} for s, t in stage_seconds.items()],
        schema={"run_id": pl.String, "stage": pl.String, "seconds": pl.Float64}))
