"""What the report shows, read from the warehouse for one run (the report's only reads)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from segkit import warehouse
from segkit.config import Config
from segkit.errors import InputError
from segkit.project import render_model


@dataclass
class ReportData:
    """Everything the report shows, read from the warehouse for one run."""

    run_id: str
    run: dict[str, Any]
    is_latest: bool
    warehouse_path: Path
    n_bins: int | None
    stages: pl.DataFrame
    views: pl.DataFrame
    accounting: pl.DataFrame
    column_quality: pl.DataFrame
    histograms: pl.DataFrame
    bin_edges: pl.DataFrame
    selection: pl.DataFrame
    profiles: pl.DataFrame
    centroids: pl.DataFrame
    tsne: pl.DataFrame
    previous_run_id: str | None = None
    migration: pl.DataFrame = field(default_factory=pl.DataFrame)
    # When the warehouse was read: the page's "generated on", so rendering the
    # same data twice gives the same bytes.
    read_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))


def _q(con, sql: str, params: list | None = None) -> pl.DataFrame:
    return con.sql(sql, params=params or []).pl()


def load_report_data(cfg: Config, run_id: str | None) -> ReportData:
    """Read one run's tables; the connection is closed before anything renders."""
    if not cfg.warehouse.exists():
        raise InputError(f"no warehouse at {cfg.warehouse} yet; run `python -m segkit build` "
                         "first.")
    con = warehouse.connect(cfg.warehouse, cfg.duckdb, read_only=True)
    try:
        return _read(con, cfg, run_id)
    finally:
        con.close()


# The report's per-run tables: ReportData field -> its query, for one run id.
_PER_RUN = {
    "stages": "select stage, seconds from meta.run_stages where run_id = ?",
    "views": "select view_name, version, sql_hash from meta.run_views "
             "where run_id = ? order by view_name",
    "accounting": "select source, reason, n_rows from meta.row_accounting "
                  "where run_id = ? order by source, reason nulls first",
    "column_quality": "select * exclude (run_id) from meta.column_quality "
                      "where run_id = ? order by column_kind desc, column_name",
    "histograms": "select feature, stage, bin_lower, bin_upper, n_customers "
                  "from meta.feature_histograms where run_id = ? "
                  "order by feature, stage, bin_lower",
    "bin_edges": "select feature, feature_index, bin, lower, upper, n_customers "
                 "from segments.bin_edge_history where run_id = ? "
                 "order by feature_index, bin",
    "selection": "select * exclude (run_id) from segments.selection_history "
                 "where run_id = ? order by k",
    "profiles": "select * exclude (run_id) from segments.profile_history "
                "where run_id = ? order by segment_index, feature",
    "centroids": "select segment_id, segment_index, segment_name, feature, "
                 "feature_index, is_binned, centroid from segments.centroid_history "
                 "where run_id = ? order by segment_index, feature_index",
    "tsne": "select customer_id, segment_id, x, y from segments.tsne_history "
            "where run_id = ? order by customer_id",
}


def _read(con, cfg: Config, run_id: str | None) -> ReportData:
    run_id, latest_id, run = _successful_run(con, cfg, run_id)
    previous_id, migration = _migration(con, run_id)
    return ReportData(
        run_id=run_id, run=run, is_latest=run_id == latest_id, warehouse_path=cfg.warehouse,
        n_bins=_n_bins(run), previous_run_id=previous_id, migration=migration,
        **{field: _q(con, sql, [run_id]) for field, sql in _PER_RUN.items()})


def _successful_run(con, cfg: Config, run_id: str | None) -> tuple[str, str | None, dict]:
    """The run to report (the latest when None), the latest run id and its meta.runs row."""
    # "Latest" and "previous" have one definition: segments.successful_runs.
    latest = _q(con, "select run_id from segments.latest_run")
    latest_id = latest["run_id"][0] if latest.height else None
    if run_id is None:
        if latest_id is None:
            raise InputError(f"the warehouse {cfg.warehouse} has no successful build yet; run "
                             "`python -m segkit build`, or list the builds with "
                             "`python -m segkit runs`.")
        run_id = latest_id
    runs = _q(con, "select * from meta.runs where run_id = ?", [run_id])
    if not runs.height:
        raise InputError(f"no build with run id {run_id!r} in {cfg.warehouse}. List the "
                         "builds and their run ids with `python -m segkit runs`.")
    run = runs.row(0, named=True)
    if run["status"] != "success":
        why = f": {run['error']}" if run.get("error") else ""
        raise InputError(f"build {run_id} did not succeed (status {run['status']}{why}), so "
                         "it has no segments to report. Pick a successful build from "
                         "`python -m segkit runs`.")
    return run_id, latest_id, run


def _migration(con, run_id: str) -> tuple[str | None, pl.DataFrame]:
    """The previous successful run and the customers' moves from it (empty when none)."""
    previous = _q(con, "select previous_run_id from segments.successful_runs where run_id = ?",
                  [run_id])
    previous_id = previous["previous_run_id"][0] if previous.height else None
    migration = pl.DataFrame()
    if previous_id is not None:
        # The one migration query (sql/segments/migration.sql), for these two runs;
        # aggregated in DuckDB: one row per (before, after) pair, never per customer.
        migration = _q(con, render_model("segments.migration", {
            "from_run_id": warehouse.quote_literal(previous_id),
            "to_run_id": warehouse.quote_literal(run_id)}))
    return previous_id, migration


def _n_bins(run: dict) -> int | None:
    """The build's ``[model] n_bins`` from its recorded config (None when not recorded)."""
    try:
        return int(json.loads(run.get("config_json") or "{}").get("model", {})["n_bins"])
    except (ValueError, KeyError, TypeError):
        return None
