"""Generations: the previous warehouse kept beside the live one, and putting it back.

Each publish keeps the file it replaces as ``<warehouse>.previous``
(:func:`segkit.warehouse.publishing.keep_previous`). :func:`restore` puts it
back the way a build publishes, under the build lock: the previous file is
read whole (every table of it), copied to the next file and swapped in with one
``os.replace``, so readers get the old file or the restored one, never a
missing name. The file it replaces becomes the previous generation in its
turn: a second restore undoes the first, and a damaged file is kept for
whoever wants to look at it (the next build replaces it).

The run journal (``<warehouse>.runs.jsonl``) is not swapped: it holds runs
that are in neither file yet. Runs recorded only in the replaced file are
carried into it when that file can be read (a build it holds becomes
``failed``, "undone by segkit restore"), so ``segkit runs`` still lists them
and the next build records them in ``meta.runs``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path

import duckdb
import polars as pl

from segkit.errors import InputError, WarehouseBusyError, WarehouseError
from segkit.project import quote_ident
from segkit.warehouse.queries import frame as query_frame, rows as query_rows
from segkit.warehouse.connections import _is_lock_error, build_lock
from segkit.warehouse.faults import _detail, cut_short, previous_path
from segkit.warehouse.journal import journal_append
from segkit.warehouse.publishing import NextWarehouse

# The runs' columns a journal line carries (those the next build records).
_JOURNAL_COLUMNS = ("run_id", "started_at", "finished_at", "status", "error", "config_hash",
                    "config_json", "segkit_version")


@dataclasses.dataclass
class Restored:
    """What :func:`restore` put back, and where the file it replaced went."""

    warehouse: Path
    run_id: str | None  # the restored file's latest successful build
    finished_at: dt.datetime | None
    customers: int | None
    k: int | None
    kept_as: Path | None  # the replaced file, now the previous generation (None: there was none)
    replaced_run_id: str | None  # its latest successful build, when it could be read
    replaced_damaged: bool
    carried_runs: list[str]  # runs recorded only in the replaced file, now in the journal


def restore(path: Path, duckdb_config) -> Restored:
    """Put the previous generation back as the live warehouse; see the module docstring.

    Raises
    ------
    InputError
        No previous generation is kept beside ``path``.
    WarehouseError
        The previous generation cannot be read whole (nothing is changed); the
        disk is full.
    WarehouseBusyError
        A build is running, or a session holds either file for writing.
    """
    live = Path(path)
    previous = previous_path(live)
    with build_lock(live, timeout=duckdb_config.lock_timeout_seconds):
        if not previous.exists():
            raise InputError(
                f"nothing to restore: no previous generation of {live} is kept beside it "
                f"({previous.name} does not exist). Each build keeps the warehouse it replaces "
                "there; a first build, or one made before segkit kept generations, has none.")
        if live.exists() and os.path.samefile(live, previous):
            raise InputError(
                f"nothing to restore: {previous} is a second name of the live file (a "
                "publish stopped between its two renames), so the live file is the previous "
                "generation. Build again to make a new one.")
        latest, restored_runs = _read_whole(previous)
        existed = live.exists()
        replaced, damaged = _runs_of(live)
        # Journaled first: if the swap then fails, the lines name runs the live file
        # still records, which the registry ignores (a recorded run wins).
        carried = (_carry_runs(live, replaced, restored_runs, latest, previous)
                   if replaced is not None else [])
        nxt = NextWarehouse(live, duckdb_config, source=previous)
        try:
            nxt.prepare()
            nxt.write(lambda con: None)  # checkpointed: a WAL beside the previous file is folded in
            nxt.publish()
        except BaseException:
            nxt.discard()
            raise
    replaced_latest = None
    if replaced is not None and not damaged and replaced.height:
        done = replaced.filter(pl.col("status") == "success").sort(
            ["finished_at", "run_id"], descending=True)
        replaced_latest = done["run_id"][0] if done.height else None
    return Restored(
        warehouse=live, run_id=latest[0] if latest else None,
        finished_at=latest[1] if latest else None, customers=latest[2] if latest else None,
        k=latest[3] if latest else None, kept_as=previous if existed else None,
        replaced_run_id=replaced_latest,
        replaced_damaged=damaged, carried_runs=carried)


def _read_whole(path: Path) -> tuple[tuple | None, pl.DataFrame]:
    """Read every table of the file at ``path`` (DuckDB checks each block's checksum as it
    reads); its latest successful build and its runs.

    Raises
    ------
    WarehouseError
        A table or the registry cannot be read: it is damaged, and nothing changes.
    """
    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            problem = cut_short(con, path)
            if problem:
                raise duckdb.IOException(problem)
            for schema, table in query_rows(con, "generations.tables"):
                con.execute(f"select bit_xor(hash(_segkit_row)) from {quote_ident(schema)}."
                            f"{quote_ident(table)} as _segkit_row").fetchall()
            if not query_rows(con, "runs.has_registry")[0][0]:
                return None, pl.DataFrame({"run_id": []}, schema={"run_id": pl.String})
            latest = query_rows(con, "generations.latest_build")
            return (latest[0] if latest else None), query_frame(con, "generations.runs")
        finally:
            con.close()
    except duckdb.Error as exc:
        if _is_lock_error(exc):
            raise WarehouseBusyError(
                f"warehouse busy: {path} is open for writing in another process. Close that "
                "session, then restore again.") from None
        raise WarehouseError(
            f"cannot restore: the previous generation {path} is damaged ({_detail(exc)}), so "
            "nothing was changed and the live warehouse stays as it is. If the live file is "
            "damaged too, move both aside and build again (a new warehouse: the run history "
            "starts over).") from None


def _runs_of(live: Path) -> tuple[pl.DataFrame | None, bool]:
    """The runs recorded in the file about to be replaced (None when they cannot be read),
    and whether it is damaged. A file cut short may still give its runs."""
    if not live.exists():
        return None, False
    try:
        con = duckdb.connect(str(live), read_only=True)
    except duckdb.Error:
        return None, True
    try:
        damaged = cut_short(con, live) is not None
        if not query_rows(con, "runs.has_registry")[0][0]:
            return None, damaged
        return query_frame(con, "generations.runs"), damaged
    except duckdb.Error:
        return None, True
    finally:
        con.close()


def _carry_runs(live: Path, replaced: pl.DataFrame, restored_runs: pl.DataFrame,
                latest: tuple | None, kept_as: Path) -> list[str]:
    """Journal the runs only the replaced file recorded; their ids."""
    known = set(restored_runs["run_id"]) if "run_id" in restored_runs.columns else set()
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    restored_id = latest[0] if latest else "none"
    carried = []
    for run in replaced.filter(~pl.col("run_id").is_in(list(known))).iter_rows(named=True):
        record = {c: run.get(c) for c in _JOURNAL_COLUMNS}
        if record["status"] == "success":
            record["status"] = "failed"
            record["error"] = (f"undone by `segkit restore` at {now:%Y-%m-%d %H:%M:%S} UTC: "
                               "the warehouse went back to the previous generation (build "
                               f"{restored_id}); its tables were kept in {kept_as}")
        journal_append(live, {k: (v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v)
                              for k, v in record.items()})
        carried.append(run["run_id"])
    return carried
