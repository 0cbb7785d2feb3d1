"""Publishing: every table, model and the run row written into the next warehouse."""

from __future__ import annotations

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


def _publish_models(con, run_id: str, models: list, rendered: dict[str, str],
                    run_tables: dict, *, released: bool = False) -> None:
    """Every model in the warehouse, by its header's ``published``.

    ``live`` models are their rendered SQL (they read the configured source);
    ``run_table`` models answer from the rows this build computed, with the
    rendered SQL beside them as ``live_<name>``; ``view`` models read run-keyed
    tables. The run registry's views come first: the current views read them.
    ``released``: the run tables hold their columns only (see
    :meth:`FeatureResult.release_rows`); a replayed write copies the rows.
    """
    from segkit.project import order

    ordered = order(models, rendered)
    registry = ("segments.successful_runs", "segments.latest_run", "segments.previous_run")
    first = [m for m in ordered if m.name in registry]
    for model in first + [m for m in ordered if m not in first]:
        if model.published == "run_table":
            warehouse.store_run_rows(con, run_id, run_tables[model.name],
                                     history=model.history_table, view=model.name,
                                     released=released)
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
        warehouse.replace_schemas(con, warehouse.LAYERS)
        for table, frame in tables.items():
            warehouse.insert_frame(con, table, frame)
        warehouse.insert_frame(con, "meta.run_views", pl.DataFrame(
            [{"run_id": run_id, "view_name": n, "version": v, "sql_hash": h, "sql": rendered[n]}
             for n, (v, h) in versions.items()]))
        journal_ids.update(_record_journal_runs(con, cfg, run_id))
        warehouse.insert_row(con, "meta.runs", {"run_id": run_id, **run_row})
        _publish_models(con, run_id, feats.models + segment_models, rendered, feats.run_tables,
                        released=feats.rows_released)
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
