"""The run registry: run ids, the journal of running and failed builds, the previous build."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import socket

from segkit import __version__, warehouse
from segkit.config import Config


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
