"""Publishing by atomic swap: copy the live file, write the copy, swap it in; trim history."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
from pathlib import Path
from typing import Iterator

import duckdb

from segkit.errors import WarehouseBusyError, WarehouseError
from segkit.project import quote_ident, quote_literal
from segkit.warehouse.connections import (
    _busy_error,
    _folder_error,
    _is_lock_error,
    _timeout,
    connect,
    ensure_tables,
)


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


def built_path(path: Path) -> Path:
    """Where a publish that must replay keeps the file it built (see NextWarehouse.publish)."""
    return Path(str(path) + ".built")


# The schema under which a replayed write reads the file the build wrote first.
BUILT = "_segkit_built"


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
                raise _busy_error(path, timeout) from None
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
        self.built = built_path(self.live)
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
            if self.built.exists():  # a replay: the writes may read what they wrote before
                con.execute(f"attach {quote_literal(str(self.built))} as {BUILT} (read_only)")
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
                # Replay on a fresh copy. The build may have let go of rows it
                # wrote (FeatureResult.release_rows): its writes read them back
                # from the file it built, kept aside until the replay is done.
                os.replace(self.path, self.built)
                self.prepare()
                try:
                    for fn in self._writes:
                        self._apply(fn)
                finally:
                    _unlink(self.built)
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


def append_run_rows(con: duckdb.DuckDBPyConnection, run_id: str, rows, *, history: str,
                    released: bool = False) -> None:
    """Append a build's ``rows`` to a run-keyed ``history`` table, created as needed.

    The history table gains any column this build has and earlier ones lacked
    (a config change adds a feature).

    ``released``: ``rows`` has the columns only (the build let go of the rows),
    and they are copied from the file this build wrote first (a replayed write,
    see :meth:`NextWarehouse.publish`).
    """
    con.execute(f"create schema if not exists {history.rsplit('.', 1)[0]}")
    if released:
        if not con.execute(f"select 1 from duckdb_databases() where database_name = "
                           f"{quote_literal(BUILT)}").fetchall():
            raise WarehouseError(f"cannot store {history} again: the build let go of its rows "
                                 "and the file it wrote first is gone.")
        con.execute(f"create or replace temp view _segkit_rows as select * exclude (run_id) "
                    f"from {BUILT}.{history} where run_id = {quote_literal(run_id)}")
        try:
            _append_rows(con, run_id, history)
        finally:
            con.execute("drop view if exists temp._segkit_rows")
    else:
        con.register("_segkit_rows", rows)
        try:
            _append_rows(con, run_id, history)
        finally:
            con.unregister("_segkit_rows")


def _append_rows(con: duckdb.DuckDBPyConnection, run_id: str, history: str) -> None:
    """Append the relation ``_segkit_rows`` to ``history``, created and widened as needed."""
    con.execute(f"create table if not exists {history} as select cast(null as varchar) "
                "as run_id, * from _segkit_rows limit 0")
    existing = {r[0] for r in con.execute(f"describe {history}").fetchall()}
    for name, kind, *_ in con.execute("describe select * from _segkit_rows").fetchall():
        if name not in existing:
            con.execute(f"alter table {history} add column {quote_ident(name)} {kind}")
    con.execute(f"insert into {history} by name select ? as run_id, * from _segkit_rows",
                [run_id])


def point_run_view(con: duckdb.DuckDBPyConnection, rows, *, history: str, view: str) -> None:
    """Point ``view`` at ``history``'s rows of the latest successful run
    (``segments.latest_run``), with this build's columns (those of ``rows``)."""
    # a Polars frame's columns are names; an Arrow table's are arrays
    names = rows.column_names if hasattr(rows, "column_names") else rows.columns
    columns = ", ".join(quote_ident(name) for name in names)
    con.execute(f"create or replace view {view} as\nselect {columns}\nfrom {history}\n"
                "where run_id = (select run_id from segments.latest_run)")


def replace_schemas(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...]) -> None:
    """Create ``schemas`` where missing and drop every view in them.

    A build then creates its views afresh, so no view of a source that is no
    longer configured is left pointing at stale files. Tables stay.
    """
    for schema in schemas:
        con.execute(f"create schema if not exists {schema}")
    listed = ", ".join(quote_literal(s) for s in schemas)
    for name, in con.execute("select schema_name || '.' || view_name from duckdb_views() "
                             f"where not internal and schema_name in ({listed})").fetchall():
        con.execute(f"drop view if exists {name} cascade")


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
    """Remove what killed builds left: the next (or built) file and their spill folders.

    Call only while holding :func:`build_lock`: then no build is using them.
    ``segkit score`` spill folders are not named like run ids and are kept.
    """
    removed = []
    for p in (next_path(path), _wal(next_path(path)), built_path(path)):
        if p.exists():
            _unlink(p)
            removed.append(str(p))
    if tmp_root.is_dir():
        for folder in tmp_root.iterdir():
            if folder.is_dir() and RUN_ID_SHAPE.fullmatch(folder.name):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(str(folder))
    return removed
