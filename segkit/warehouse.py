"""DuckDB: connections, the versioned SQL views, and publishing by atomic swap.

A build computes in a private in-memory DuckDB (the *work* database) and never
opens the warehouse file for writing. It publishes by writing the *next*
warehouse beside the live one (a copy of it, so people's own views and tables
come along), then swapping it in with one ``os.replace``. A reader that opened
the old file keeps its consistent snapshot until it reconnects; new
connections see the new build; a reader never makes a build wait or fail, and
a build that dies leaves the live file as it was. The run registry's
``running`` rows live in a small journal beside the warehouse
(``<warehouse>.runs.jsonl``), not in the file readers use.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
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
    """Open a DuckDB file, retrying while another process holds it for writing.

    segkit's builds never open the live warehouse for writing (they publish by
    swapping in a new file), so a plain ``duckdb.connect(path, read_only=True)``
    works at any time. Only a *user's* read-write session (a client opened
    without ``read_only``) keeps others out; this function retries through that
    for up to ``timeout`` seconds (default ``[duckdb] lock_timeout_seconds``).

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
            if read_only and settings and "different configuration" in str(exc):
                # This process already holds the file (a notebook that calls
                # segkit): share that database rather than refuse.
                settings = {}
                continue
            if _is_lock_error(exc):
                if time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                raise WarehouseBusyError(
                    f"warehouse busy: {path} is open for writing in another process (a "
                    f"DuckDB session opened without read_only) and stayed locked for "
                    f"{timeout:g} s. Close that session, or open it read-only "
                    "(read-only sessions never block segkit), then retry.") from None
            raise WarehouseError(f"cannot open the warehouse {path}: {exc}") from None


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
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
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

# A run id (see segkit.pipeline.new_run_id): the name of a build's spill folder.
RUN_ID_SHAPE = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")
# Per-customer (or per-rejected-row) history: the tables that grow with the data
# and are trimmed to the last ``[duckdb] history_builds`` successful builds.
# Everything else (the run registry, per-segment and per-feature tables) is kept.
PER_CUSTOMER_HISTORY = ("segments.segment_history", "segments.tsne_history",
                        "features.customer_features_history", "meta.quarantine_history")
PUBLISH_ATTEMPTS = 3


def next_path(path: Path) -> Path:
    """Where a build writes the next warehouse: beside the live one (same disk)."""
    return Path(str(path) + ".next")


def _wal(path: Path) -> Path:
    return Path(str(path) + ".wal")


def _identity(path: Path) -> tuple | None:
    """What changes whenever anyone writes the file: inode, size, mtime and headers.

    DuckDB rewrites one of its headers (the first 12 KiB) on every checkpoint,
    so a write is seen even within the file system's mtime granularity; a WAL
    beside the file is a write not yet checkpointed.
    """
    try:
        st = os.stat(path)
        with open(path, "rb") as handle:
            headers = hashlib.sha256(handle.read(3 * 4096)).hexdigest()
    except FileNotFoundError:
        return None
    wal = _wal(path)
    wal_state = (wal.stat().st_size, wal.stat().st_mtime_ns) if wal.exists() else None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, headers, wal_state)


def _fsync(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(*paths: Path) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


@contextlib.contextmanager
def _no_writer(path: Path, duckdb_config, timeout: float | None) -> Iterator[None]:
    """Hold the live file read-only: no other process can open it for writing meanwhile.

    Read-only sessions share this lock, so readers are never kept out; a user's
    read-write session makes segkit wait (its writes must not be lost).
    """
    if not path.exists():
        yield
        return
    timeout = _timeout(duckdb_config, timeout)
    deadline = time.monotonic() + timeout
    while True:
        try:
            # No settings: a connection this process already holds on the file
            # (a notebook calling segkit.build) is then shared, not refused.
            con = duckdb.connect(str(path), read_only=True)
            break
        except duckdb.Error as exc:
            if "different configuration" in str(exc):
                con = None  # this process holds it already, with its own settings
                break
            if _is_lock_error(exc) and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            if _is_lock_error(exc):
                raise WarehouseBusyError(
                    f"warehouse busy: {path} is open for writing in another process (a "
                    f"DuckDB session opened without read_only) and stayed locked for "
                    f"{timeout:g} s. Close that session, or open it read-only "
                    "(read-only sessions never block segkit), then retry.") from None
            raise WarehouseError(f"cannot open the warehouse {path}: {exc}") from None
    try:
        yield
    finally:
        if con is not None:
            con.close()


class NextWarehouse:
    """The next warehouse, written beside the live one and swapped in atomically.

    1. :meth:`prepare` copies the live file (and a WAL a crashed client left)
       to ``<warehouse>.next`` while holding the live file read-only, and
       remembers the live file's identity;
    2. :meth:`write` applies a function to the copy in one transaction, then
       checkpoints and closes it, so no WAL is left to be replayed;
    3. :meth:`publish` swaps the copy in with ``os.replace`` if the live file is
       unchanged. If someone wrote to the live file meanwhile (their own view or
       table), it copies again and replays every write, so nothing of theirs is
       lost; after :data:`PUBLISH_ATTEMPTS` tries it gives up with an error.

    Readers are never locked out: the copy and the identity check share the
    read-only lock with them, and ``os.replace`` leaves an open reader on the
    old file, which the kernel keeps until that reader closes it.
    """

    def __init__(self, path: Path, duckdb_config, *, timeout: float | None = None):
        self.live = Path(path)
        self.path = next_path(self.live)
        self.duckdb_config = duckdb_config
        self.timeout = timeout
        self._writes: list = []
        self._base: tuple | None = None

    def prepare(self) -> None:
        """Start the next warehouse as a copy of the live one (or empty)."""
        try:
            self.live.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _folder_error(self.live.parent, exc, "the warehouse folder") from None
        self.discard()
        with _no_writer(self.live, self.duckdb_config, self.timeout):
            self._base = _identity(self.live)
            try:
                if self._base is not None:
                    # copyfile uses the kernel's copy (copy_file_range/sendfile).
                    shutil.copyfile(self.live, self.path)
                    if _wal(self.live).exists():
                        # Left by a client that crashed: DuckDB replays it into
                        # the copy, and it goes away with the swap.
                        shutil.copyfile(_wal(self.live), _wal(self.path))
            except OSError as exc:
                self.discard()
                raise WarehouseError(f"cannot write the next warehouse {self.path}: "
                                     f"{exc.strerror}. Check the free disk space (a build "
                                     "needs room for a second copy of the warehouse) and "
                                     "the folder's permissions.") from None

    def write(self, fn) -> None:
        """Apply ``fn(con)`` to the next warehouse in one transaction, and remember it."""
        self._writes.append(fn)
        self._apply(fn)

    def _apply(self, fn) -> None:
        con = connect(self.path, self.duckdb_config)
        try:
            con.execute("begin transaction")
            ensure_tables(con)
            fn(con)
            con.execute("commit")
            # Everything into the file itself: a WAL would be left behind the rename.
            con.execute("checkpoint")
        except BaseException as exc:
            with contextlib.suppress(duckdb.Error):
                con.execute("rollback")
            if isinstance(exc, duckdb.IOException):  # disk full, permissions
                raise WarehouseError(f"cannot write the next warehouse {self.path}: {exc}. "
                                     "Check the free disk space.") from None
            raise
        finally:
            con.close()
        if _wal(self.path).exists():
            raise WarehouseError(f"{_wal(self.path)} was left after closing the next "
                                 "warehouse; refusing to publish a file with unreplayed "
                                 "writes.")

    def publish(self) -> int:
        """Swap the next warehouse in; return how many times it had to copy again."""
        for attempt in range(PUBLISH_ATTEMPTS):
            if attempt:
                self.prepare()
                for fn in self._writes:
                    self._apply(fn)
            _fsync(self.path)
            with _no_writer(self.live, self.duckdb_config, self.timeout):
                if _identity(self.live) != self._base:
                    continue  # someone wrote to the live file: carry their change over
                if self._base is None:
                    # First build: link, which fails rather than replace a file
                    # that appeared meanwhile.
                    try:
                        os.link(self.path, self.live)
                        _unlink(self.path)
                    except FileExistsError:
                        continue
                    except OSError:  # a file system without hard links
                        if self.live.exists():
                            continue
                        os.replace(self.path, self.live)
                else:
                    # A crashed client's WAL was replayed into the copy: remove it
                    # first, or DuckDB would replay it again into the new file.
                    _unlink(_wal(self.live))
                    os.replace(self.path, self.live)
                _fsync(self.live.parent, directory=True)
                return attempt
        self.discard()
        raise WarehouseBusyError(
            f"warehouse busy: {self.live} was written by another process during each of "
            f"{PUBLISH_ATTEMPTS} attempts to publish, so this build was not published (it "
            "would have dropped those writes). Retry when nobody is writing to it.")

    def discard(self) -> None:
        """Remove the next warehouse (a failed build, or one a killed build left)."""
        _unlink(self.path, _wal(self.path))


def trim_history(con: duckdb.DuckDBPyConnection, keep_builds: int) -> None:
    """Keep per-customer history only for the last ``keep_builds`` successful builds.

    ``0`` keeps every build. ``meta.runs`` and the small per-segment tables are
    never trimmed.
    """
    if keep_builds <= 0:
        return
    existing = {f"{s}.{t}" for s, t in con.execute(
        "select schema_name, table_name from duckdb_tables() where not internal").fetchall()}
    for table in PER_CUSTOMER_HISTORY:
        if table in existing:
            con.execute(f"delete from {table} where run_id not in (select run_id from "
                        "meta.runs where status = 'success' order by finished_at desc, "
                        "run_id desc limit ?)", [keep_builds])


def remove_leftovers(path: Path, *, tmp_root: Path) -> list[str]:
    """Remove what killed builds left: the next file and their spill folders.

    Call only while holding :func:`build_lock`: then no build is using them.
    ``segkit score`` spill folders are not named like run ids and are kept.
    """
    removed = []
    for p in (next_path(path), _wal(next_path(path))):
        if p.exists():
            _unlink(p)
            removed.append(str(p))
    if tmp_root.is_dir():
        for folder in tmp_root.iterdir():
            if folder.is_dir() and RUN_ID_SHAPE.fullmatch(folder.name):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(str(folder))
    return removed


# -- the journal of runs not yet in meta.runs --------------------------------------

def journal_path(path: Path) -> Path:
    """``<warehouse>.runs.jsonl``: runs started, failed or killed since the last publish."""
    return Path(str(path) + ".runs.jsonl")


def journal_append(path: Path, record: dict[str, Any]) -> None:
    """Add one event of a run (started, failed) to the journal, durably."""
    line = json.dumps(record, default=str) + "\n"
    try:
        with open(journal_path(path), "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise WarehouseError(f"cannot write beside the warehouse ({journal_path(path)}): "
                             f"{exc.strerror}. Check the folder's permissions.") from None


def journal_runs(path: Path) -> dict[str, dict[str, Any]]:
    """Run id -> its latest known state, from the journal (later events win)."""
    runs: dict[str, dict[str, Any]] = {}
    try:
        lines = journal_path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return runs
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line being appended right now, or cut by a crash
        if isinstance(record, dict) and "run_id" in record:
            runs.setdefault(record["run_id"], {}).update(record)
    return runs


def journal_forget(path: Path, run_ids: set[str]) -> None:
    """Drop runs now recorded in meta.runs; rewritten atomically."""
    journal = journal_path(path)
    if not journal.exists():
        return
    keep = [line for line in journal.read_text(encoding="utf-8").splitlines()
            if line.strip() and _journal_run_id(line) not in run_ids]
    if not keep:
        _unlink(journal)
        return
    tmp = Path(str(journal) + ".tmp")
    tmp.write_text("\n".join(keep) + "\n", encoding="utf-8")
    os.replace(tmp, journal)


def _journal_run_id(line: str) -> str | None:
    try:
        return json.loads(line).get("run_id")
    except (ValueError, AttributeError):
        return None


def pending_runs(path: Path) -> list[dict[str, Any]]:
    """Journal runs with an honest status: ``running`` only while their build lives.

    A run whose build no longer holds the build lock (killed, power cut) is
    ``interrupted``.
    """
    runs = journal_runs(path)
    holder = build_running(path)  # the lock holder wrote its pid into the lock file
    out = []
    for run in runs.values():
        run = dict(run)
        alive = holder is not None and holder in (run.get("pid"), -1) and _pid_alive(
            run.get("pid"))
        if run.get("status") == "running" and not alive:
            run["status"] = "interrupted"
            run.setdefault("error", interrupted_message(run))
        out.append(run)
    return out


def _pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, TypeError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def interrupted_message(run: dict[str, Any]) -> str:
    return (f"interrupted: the build process (pid {run.get('pid')}, started "
            f"{run.get('started_at')}) stopped before it finished")


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
