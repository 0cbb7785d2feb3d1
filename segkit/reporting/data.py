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
from segkit.reporting.customers import load_customer_data
from segkit.warehouse import queries


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
    # segkit/reporting/customers.py: segments against RFM groups, the changes
    # since the previous build, segment_since per segment
    rfm_crosstab: pl.DataFrame = field(default_factory=pl.DataFrame)
    change_counts: pl.DataFrame = field(default_factory=pl.DataFrame)
    changed_customers: pl.DataFrame = field(default_factory=pl.DataFrame)
    segment_since: pl.DataFrame = field(default_factory=pl.DataFrame)
    # segment KPIs and the backtest: frames "kpis", "backtest", "backtest_run"
    worth: dict[str, pl.DataFrame] = field(default_factory=dict)
    # When the warehouse was read: the page's "generated on", so rendering the
    # same data twice gives the same bytes.
    read_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))


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


# The report's per-run tables: each ReportData field is the query of that name in
# sql/queries/report.sql, for one run id.
_PER_RUN = ("stages", "views", "accounting", "column_quality", "histograms", "bin_edges",
            "selection", "profiles", "centroids", "tsne")


def _read(con, cfg: Config, run_id: str | None) -> ReportData:
    run_id, latest_id, run = _successful_run(con, cfg, run_id)
    previous_id, migration = _migration(con, run_id)
    return ReportData(
        run_id=run_id, run=run, is_latest=run_id == latest_id, warehouse_path=cfg.warehouse,
        n_bins=_n_bins(run), previous_run_id=previous_id, migration=migration,
        **load_customer_data(con, run_id),
        worth=_read_worth(con, run_id),
        **{name: queries.frame(con, f"report.{name}", [run_id]) for name in _PER_RUN})


def _successful_run(con, cfg: Config, run_id: str | None) -> tuple[str, str | None, dict]:
    """The run to report (the latest when None), the latest run id and its meta.runs row."""
    # "Latest" and "previous" have one definition: segments.successful_runs.
    latest = queries.frame(con, "report.latest_run")
    latest_id = latest["run_id"][0] if latest.height else None
    if run_id is None:
        if latest_id is None:
            raise InputError(f"the warehouse {cfg.warehouse} has no successful build yet; run "
                             "`python -m segkit build`, or list the builds with "
                             "`python -m segkit runs`.")
        run_id = latest_id
    runs = queries.frame(con, "report.run", [run_id])
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
    previous = queries.frame(con, "report.previous_run", [run_id])
    previous_id = previous["previous_run_id"][0] if previous.height else None
    migration = pl.DataFrame()
    if previous_id is not None:
        # The one migration query (sql/segments/migration.sql), for these two runs;
        # aggregated in DuckDB: one row per (before, after) pair, never per customer.
        migration = con.sql(render_model("segments.migration", {
            "from_run_id": warehouse.quote_literal(previous_id),
            "to_run_id": warehouse.quote_literal(run_id)})).pl()
    return previous_id, migration


def _n_bins(run: dict) -> int | None:
    """The build's ``[model] n_bins`` from its recorded config (None when not recorded)."""
    try:
        return int(json.loads(run.get("config_json") or "{}").get("model", {})["n_bins"])
    except (ValueError, KeyError, TypeError):
        return None


def _read_worth(con, run_id: str) -> dict[str, pl.DataFrame]:
    """The run's segment KPIs and backtest rows (segkit/reporting/worth.py shows them);
    empty frames in a warehouse written before those tables."""
    out = {}
    for name in ("kpis", "backtest", "backtest_run"):
        try:
            out[name] = queries.frame(con, f"report.{name}", [run_id])
        except Exception:  # noqa: BLE001 - no such table yet
            out[name] = pl.DataFrame()
    return out
