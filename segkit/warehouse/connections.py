"""Connections: the work database, the warehouse file (read-only or locked), the build lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Any, Iterator

import duckdb

from segkit.errors import WarehouseBusyError, WarehouseError
from segkit.project import quote_ident, sql_dir
from segkit.warehouse.faults import cut_short, damaged_error, translated


LOCK_TIMEOUT_SECONDS = 30.0


# -- connections ---------------------------------------------------------------

def _settings(duckdb_config) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if duckdb_config.threads:
        settings["threads"] = duckdb_config.threads
    if duckdb_config.memory_limit:
        settings["memory_limit"] = duckdb_config.memory_limit
    return settings


def _quiet(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    # The CLI draws its own per-stage progress; DuckDB's bar (drawn for any query
    # over two seconds: the per-customer tables at 100M lines) would interleave with it.
    con.execute("set enable_progress_bar = false")
    return con


def connect_memory(*, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB for a short query over frames (profiles, scoring)."""
    return _quiet(duckdb.connect(":memory:", config={"threads": threads} if threads else {}))


def connect_work(duckdb_config, temp_directory: Path) -> duckdb.DuckDBPyConnection:
    """The build's private in-memory database; it spills to ``temp_directory``."""
    temp_directory.mkdir(parents=True, exist_ok=True)
    con = _quiet(duckdb.connect(":memory:", config=_settings(duckdb_config)))
    # Without this DuckDB spills to ./.tmp of whatever folder the user is in.
    con.execute("set temp_directory = ?", [str(temp_directory)])
    for schema in ("staging", "cleaning", "features", "segments", "meta"):
        con.execute(f"create schema if not exists {schema}")
    return con


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def _busy_error(path: Path, timeout: float) -> WarehouseBusyError:
    """The warehouse stayed locked by a writer for ``timeout`` seconds: who, and the way out."""
    return WarehouseBusyError(
        f"warehouse busy: {path} is open for writing in another process (a "
        f"DuckDB session opened without read_only) and stayed locked for "
        f"{timeout:g} s. Close that session, or open it read-only "
        "(read-only sessions never block segkit), then retry.")


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
            timeout: float | None = None,
            copy_of: Path | None = None) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file, retrying while another process holds it for writing.

    segkit's builds never open the live warehouse for writing (they publish by
    swapping in a new file), so a plain ``duckdb.connect(path, read_only=True)``
    works at any time. Only a *user's* read-write session (a client opened
    without ``read_only``) keeps others out; this function retries through that
    for up to ``timeout`` seconds (default ``[duckdb] lock_timeout_seconds``).

    ``copy_of``: ``path`` is a copy of that warehouse (the next one a build
    writes); damage found in it is the original's.

    Raises
    ------
    WarehouseBusyError
        Another process still holds the file after ``timeout`` seconds.
    WarehouseError
        The file or its folder cannot be created, read or written; the file is
        damaged (cut short, overwritten); the disk is full.
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
            con = duckdb.connect(str(path), read_only=read_only, config=settings)
        except duckdb.Error as exc:
            if read_only and settings and "different configuration" in str(exc):
                # This process already holds the file (a notebook that calls
                # segkit): share that database rather than refuse.
                settings = {}
                continue
            if _is_lock_error(exc):
                if time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                raise _busy_error(path, timeout) from None
            raise (translated(exc, copy_of or path)
                   or WarehouseError(f"cannot open the warehouse {path}: {exc}")) from None
        problem = cut_short(con, path)
        if problem:
            con.close()
            raise damaged_error(copy_of or path, problem)
        return _quiet(con)


def _lock_path(path: Path) -> Path:
    return Path(str(path) + ".build.lock")


@contextlib.contextmanager
def build_lock(path: Path, *, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Let one build at a time run against a warehouse; others wait, then give up."""
    lock_path = _lock_path(path)
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
            try:
                handle.seek(0)
                handle.truncate()
                handle.write(str(os.getpid()))
                handle.flush()
            except OSError as exc:  # a full disk refuses even these few bytes
                raise (translated(exc, path) or WarehouseError(
                    f"cannot write beside the warehouse ({lock_path}): {exc.strerror}. Check "
                    "the folder's permissions.")) from None
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_running(path: Path) -> int | None:
    """The pid of the build holding the warehouse's build lock, or None (this host)."""
    try:
        fd = os.open(_lock_path(path), os.O_RDONLY)
    except OSError:
        return None
    try:
        # A shared lock is refused only while a builder holds the exclusive one;
        # the kernel drops that lock when the builder dies, however it dies.
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        return int(text) if text.isdigit() else -1
    finally:
        os.close(fd)  # also releases the probe's shared lock
    return None


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the contract tables (``sql/tables.sql``) where they are missing."""
    con.execute((sql_dir() / "tables.sql").read_text(encoding="utf-8"))


@contextlib.contextmanager
def transaction(path: Path, duckdb_config, *,
                timeout: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """One write to a DuckDB file: all of it commits, or none of it.

    Builds use it only on the next warehouse (:class:`NextWarehouse`), a file
    no reader knows about; the live file is only ever replaced whole.
    """
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


# -- publishing: copy the live file, write the copy, swap it in ------------------


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


def insert_row(con: duckdb.DuckDBPyConnection, table: str, row: dict) -> None:
    """Insert one row given as ``{column: value}`` (values bound as parameters)."""
    columns = ", ".join(quote_ident(c) for c in row)
    marks = ", ".join("?" * len(row))
    con.execute(f"insert into {table} ({columns}) values ({marks})", list(row.values()))
