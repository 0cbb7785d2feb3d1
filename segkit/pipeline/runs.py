"""The run registry: run ids, the journal of running and failed builds, the previous build."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import socket

import polars as pl

from segkit import __version__, warehouse
from segkit.config import Config
from segkit.pipeline.carryover import naming_rule
from segkit.warehouse import queries


def _now() -> dt.datetime:
    # Microseconds kept: "latest build" orders by finished_at, and two small
    # builds can finish within the same second.
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus a random suffix."""
    return _now().strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


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
    """What the build needs from the last successful build, read-only: its centroids and
    words, its as-of date and its customers' segments (:func:`previous_customers`)."""
    if not cfg.warehouse.exists():
        return {}
    con = warehouse.connect(cfg.warehouse, cfg.duckdb, read_only=True)
    try:
        if not queries.rows(con, "runs.has_registry")[0][0]:
            return {}
        rows = queries.rows(con, "runs.last_success")
        if not rows:
            return {}
        run_id, features = rows[0]
        # What the last build called its segments: kept ids keep their words
        # (made afresh when its warehouse predates the phrases).
        has_phrases = queries.rows(con, "runs.has_phrases")[0][0]
        return {"run_id": run_id, "features": features,
                "centroids": queries.frame(con, "runs.centroids", [run_id]),
                "words": queries.frame(con, "runs.words", [run_id]) if has_phrases else None,
                "as_of": queries.rows(con, "history.run_as_of", [run_id])[0][0],
                "naming": naming_rule(json.loads(
                    queries.rows(con, "history.run_config", [run_id])[0][0] or "{}")),
                "customers": previous_customers(con, run_id)}
    finally:
        con.close()


PREVIOUS_CUSTOMERS_SCHEMA = {"customer_id": pl.String, "segment_id": pl.Int32,
                             "segment_name": pl.String, "segment_since": pl.Date}


def previous_customers(con, run_id: str) -> pl.DataFrame:
    """The customers of build ``run_id`` in ``segments.segment_history``: customer_id,
    segment_id, segment_name and segment_since (no rows when its history is not kept,
    e.g. a Spark build, whose per-customer tables are its own).

    A warehouse whose history predates segment_since gets it rebuilt from the
    history kept (:func:`backfilled_customers`), once: from then on every
    build carries it forward in its rows.
    """
    backfill = (not queries.rows(con, "history.has_since")[0][0]
                or queries.rows(con, "history.since_missing", [run_id])[0][0] > 0)
    if backfill:
        return backfilled_customers(con, run_id)
    return queries.frame(con, "history.previous_rows", [run_id]).cast(PREVIOUS_CUSTOMERS_SCHEMA)


BACKFILL_SQL = "build/segment_since_backfill.sql"


def backfilled_customers(con, run_id: str) -> pl.DataFrame:
    """:func:`previous_customers` rebuilt from the history kept: the rows of build
    ``run_id`` that ``sql/build/segment_since_backfill.sql`` gives, over the
    warehouse's history (``history.kept_history``) and its builds in the order
    they ran (``history.kept_builds``); the Spark engine runs the same file."""
    for name in ("kept_history", "kept_builds"):
        # temporary views: the connection is read-only, and they go with it
        con.execute(f"create or replace temp view {name} as\n"
                    + queries.sql(f"history.{name}"))
    backfill = (warehouse.sql_dir() / BACKFILL_SQL).read_text(encoding="utf-8")
    return con.sql(f"select customer_id, segment_id, segment_name, segment_since "
                   f"from ({backfill}) where run_id = ?", params=[run_id]
                   ).pl().cast(PREVIOUS_CUSTOMERS_SCHEMA)


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
        if queries.rows(con, "runs.is_recorded", [run["run_id"]])[0][0]:
            continue  # recorded by a publish that died before cleaning the journal
        warehouse.insert_row(con, "meta.runs", {
            "run_id": run["run_id"],
            "started_at": run.get("started_at") or run.get("finished_at") or _now(),
            "finished_at": run.get("finished_at"), "status": run["status"],
            "error": run.get("error"), "config_hash": run.get("config_hash"),
            "config_json": run.get("config_json"), "segkit_version": run.get("segkit_version")})
    return done
