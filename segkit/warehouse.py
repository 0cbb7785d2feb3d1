"""DuckDB: connections, the versioned SQL views, and atomic write-back.

A build computes in a private in-memory DuckDB (the *work* database) and holds
the warehouse file only for two short windows: registering the run, and
publishing its results in one transaction. People can query the warehouse
while a build runs, and a build that dies leaves the previous results intact.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Any, Iterator

import duckdb

from segkit.errors import WarehouseBusyError, WarehouseError

LOCK_TIMEOUT_SECONDS = 30.0

# The SQL project (headers, rendering, versions) lives in segkit.project; these
# names stay importable from here for callers that used them.
from segkit.project import (  # noqa: E402
    LAYERS, Model, View, create_sql, load_models, quote_ident, quote_literal, render, sql_dir,
)

load_views = load_models


# -- connections ---------------------------------------------------------------

def _settings(duckdb_config) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if duckdb_config.threads:
        settings["threads"] = duckdb_config.threads
    if duckdb_config.memory_limit:
        settings["memory_limit"] = duckdb_config.memory_limit
    return settings


def connect_work(duckdb_config, temp_directory: Path) -> duckdb.DuckDBPyConnection:
    """The build's private in-memory database; it spills to ``temp_directory``."""
    temp_directory.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(":memory:", config=_settings(duckdb_config))
    # Without this DuckDB spills to ./.tmp of whatever folder the user is in.
    con.execute("set temp_directory = ?", [str(temp_directory)])
    # The CLI draws its own per-stage progress; DuckDB's bar would interleave with it.
    con.execute("set enable_progress_bar = false")
    for schema in ("staging", "cleaning", "features", "segments", "meta"):
        con.execute(f"create schema if not exists {schema}")
    return con


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def _timeout(duckdb_config, timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    return getattr(duckdb_config, "lock_timeout_seconds", LOCK_TIMEOUT_SECONDS)


def _folder_error(folder: Path, exc: OSError, what: str) -> WarehouseError:
    """Say which path is in the way instead of a bare "File exists"."""
    blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        return WarehouseError(f"cannot create {what} {folder}: {blocker} is a file, not a "
                              "folder. Point the warehouse at a path inside a folder.")
    return WarehouseError(f"cannot create {what} {folder}: {exc.strerror}. Check that the "
                          "folder is writable and the disk is not full.")


def connect(path: Path, duckdb_config, *, read_only: bool = False,
            timeout: float | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file, retrying while another process holds it.

    DuckDB lets one process at a time open a file for writing, and no other
    process can open it at all meanwhile, not even read-only. Readers should
    open through this function too (``read_only=True``): it retries for up to
    ``timeout`` seconds (default ``[duckdb] lock_timeout_seconds``).

    Raises
    ------
    WarehouseBusyError
        Another process still holds the file after ``timeout`` seconds.
    WarehouseError
        The file or its folder cannot be created, read or written.
    """
    path = Path(path)
    timeout = _timeout(duckdb_config, timeout)
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _folder_error(path.parent, exc, "the warehouse folder") from None
    settings = _settings(duckdb_config)
    if not read_only:
        settings["storage_compatibility_version"] = duckdb_config.storage_compatibility_version
    deadline = time.monotonic() + timeout
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=settings)
        except duckdb.Error as exc:
            if _is_lock_error(exc):
                if time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                raise WarehouseBusyError(
                    f"warehouse busy: {path} is held by another process (a running build "
                    f"or an open client) and stayed locked for {timeout:g} s. Close other "
                    "DuckDB sessions on it, or wait for the other build, then retry.") from None
            raise WarehouseError(f"cannot open the warehouse {path}: {exc}") from None


@contextlib.contextmanager
def build_lock(path: Path, *, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Let one build at a time run against a warehouse; others wait, then give up."""
    lock_path = Path(str(path) + ".build.lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _folder_error(lock_path.parent, exc, "the warehouse folder") from None
    try:
        handle = open(lock_path, "a+")
    except OSError as exc:
        raise WarehouseError(f"cannot write beside the warehouse ({lock_path}): "
                             f"{exc.strerror}. Check the folder's permissions.") from None
    deadline = time.monotonic() + timeout
    with handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseBusyError(
                        f"warehouse busy: another build on {path} is still running after "
                        f"{timeout:g} s. Wait for it to finish, then retry.") from None
                time.sleep(0.2)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the contract tables (``sql/tables.sql``) where they are missing."""
    con.execute((sql_dir() / "tables.sql").read_text(encoding="utf-8"))


@contextlib.contextmanager
def transaction(path: Path, duckdb_config, *,
                timeout: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short write window on the warehouse: all of it commits, or none of it."""
    con = connect(path, duckdb_config, timeout=timeout)
    try:
        con.execute("begin transaction")
        ensure_tables(con)
        yield con
        con.execute("commit")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("rollback")
        raise
    finally:
        con.close()


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame) -> None:
    """Append a Polars/Arrow frame to a table, matching columns by name."""
    if frame is None or len(frame) == 0:
        return
    con.register("_segkit_frame", frame)
    try:
        columns = ", ".join(quote_ident(c) for c in frame.columns)
        con.execute(f"insert into {table} ({columns}) select {columns} from _segkit_frame")
    finally:
        con.unregister("_segkit_frame")


def version_views(con: duckdb.DuckDBPyConnection,
                  rendered: dict[str, str]) -> dict[str, tuple[int, str]]:
    """Record a version for each model whose parsed, rendered SQL is new; see
    :func:`segkit.project.version_models`."""
    from segkit.project import version_models

    return version_models(con, rendered)
