"""Publishing by atomic swap: copy the live file, write the copy, keep the live file as the
previous generation, swap the copy in."""

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
from segkit.project import quote_literal
from segkit.warehouse.connections import (
    _busy_error,
    _folder_error,
    _is_lock_error,
    _timeout,
    connect,
    ensure_tables,
)
from segkit.warehouse.faults import (
    damaged_error,
    disk_full_error,
    is_damage,
    is_disk_full,
    previous_path,
    translated,
)


RUN_ID_SHAPE = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")
PUBLISH_ATTEMPTS = 3


def next_path(path: Path) -> Path:
    """Where a build writes the next warehouse: beside the live one (same disk)."""
    return Path(str(path) + ".next")


def built_path(path: Path) -> Path:
    """Where a publish that must replay keeps the file it built (see NextWarehouse.publish)."""
    return Path(str(path) + ".built")


# The schema under which a replayed write reads the file the build wrote first.
BUILT = "_segkit_built"


def _staged_previous(path: Path) -> Path:
    """Where the live file gets its second name before it becomes the previous generation."""
    return Path(str(previous_path(path)) + ".tmp")


def _wal(path: Path) -> Path:
    return Path(str(path) + ".wal")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


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
def _no_writer(path: Path, duckdb_config, timeout: float | None, *,
               damaged_ok: bool = False) -> Iterator[None]:
    """Hold the live file read-only: no other process can open it for writing meanwhile.

    Read-only sessions share this lock, so readers are never kept out; a user's
    read-write session makes segkit wait (its writes must not be lost).
    ``damaged_ok``: a file DuckDB cannot read is not held (nobody can open it
    for writing either); restoring replaces it.
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
            if damaged_ok and is_damage(exc, path):
                con = None
                break
            raise (translated(exc, path)
                   or WarehouseError(f"cannot open the warehouse {path}: {exc}")) from None
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
       unchanged, after giving the live file a second name,
       ``<warehouse>.previous`` (:func:`keep_previous`). If someone wrote to
       the live file meanwhile (their own view or table), it copies again and
       replays every write, so nothing of theirs is lost; after
       :data:`PUBLISH_ATTEMPTS` tries it gives up with an error.

    Readers are never locked out: the copy and the identity check share the
    read-only lock with them, and ``os.replace`` leaves an open reader on the
    old file, which the kernel keeps until that reader closes it.

    ``source``: copy this file instead of the live one (``segkit restore``
    copies the previous generation); the live file may then be damaged.
    """

    def __init__(self, path: Path, duckdb_config, *, timeout: float | None = None,
                 source: Path | None = None):
        self.live = Path(path)
        self.source = Path(source) if source is not None else self.live
        self.path = next_path(self.live)
        self.built = built_path(self.live)
        self.duckdb_config = duckdb_config
        self.timeout = timeout
        self._writes: list = []
        self._base: tuple | None = None

    def prepare(self) -> None:
        """Start the next warehouse as a copy of the live one (or of ``source``), or empty."""
        try:
            self.live.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _folder_error(self.live.parent, exc, "the warehouse folder") from None
        self.discard()
        restoring = self.source != self.live
        with _no_writer(self.live, self.duckdb_config, self.timeout, damaged_ok=restoring), \
                (_no_writer(self.source, self.duckdb_config, self.timeout) if restoring
                 else contextlib.nullcontext()):
            self._base = _identity(self.live)
            try:
                if self.source.exists():
                    # copyfile uses the kernel's copy (copy_file_range/sendfile).
                    shutil.copyfile(self.source, self.path)
                    if _wal(self.source).exists():
                        # Left by a client that crashed: DuckDB replays it into
                        # the copy, and it goes away with the swap.
                        shutil.copyfile(_wal(self.source), _wal(self.path))
            except OSError as exc:
                partial = _size(self.path) + _size(_wal(self.path))
                self.discard()
                raise (translated(exc, self.live, next_bytes=partial) or WarehouseError(
                    f"cannot write the next warehouse {self.path}: {exc.strerror}. Check the "
                    "folder's permissions and free disk space (a build needs room for one more "
                    "copy of the warehouse beside it and its previous generation).")) from None

    def write(self, fn) -> None:
        """Apply ``fn(con)`` to the next warehouse in one transaction, and remember it."""
        self._writes.append(fn)
        self._apply(fn)

    def _apply(self, fn) -> None:
        con = connect(self.path, self.duckdb_config, copy_of=self.source)
        failure = None
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
            failure = exc
        finally:
            with contextlib.suppress(duckdb.Error):  # after a fatal error too
                con.close()
        if failure is not None:
            error = self._said(failure)  # once closed: a full disk's room is then counted
            if error is None:
                raise failure
            raise error from None
        if _wal(self.path).exists():
            raise WarehouseError(f"{_wal(self.path)} was left after closing the next "
                                 "warehouse; refusing to publish a file with unreplayed "
                                 "writes.")

    def _said(self, exc: BaseException) -> WarehouseError | None:
        """The clear error for a write that failed on a full disk or a damaged file."""
        if not isinstance(exc, (duckdb.Error, OSError)):
            return None
        if is_disk_full(exc):
            partial = _size(self.path) + _size(_wal(self.path))
            self.discard()  # the build cannot go on: give its room back before measuring
            return disk_full_error(self.live, exc, next_bytes=partial)
        if is_damage(exc, self.live):  # the copy's damage is its source's
            return damaged_error(self.source, exc)
        if isinstance(exc, duckdb.IOException):  # permissions, a vanished folder
            return WarehouseError(f"cannot write the next warehouse {self.path}: {exc}. "
                                  "Check the folder's permissions and free disk space.")
        return None

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
            with _no_writer(self.live, self.duckdb_config, self.timeout,
                            damaged_ok=self.source != self.live):
                if _identity(self.live) != self._base:
                    continue  # someone wrote to the live file: carry their change over
                try:
                    if not self._swap():
                        continue
                except OSError as exc:
                    raise (translated(exc, self.live) or WarehouseError(
                        f"cannot publish {self.path} as {self.live}: {exc.strerror}. Check "
                        "the folder's permissions.")) from None
                _fsync(self.live.parent, directory=True)
                return attempt
        self.discard()
        raise WarehouseBusyError(
            f"warehouse busy: {self.live} was written by another process during each of "
            f"{PUBLISH_ATTEMPTS} attempts to publish, so this build was not published (it "
            "would have dropped those writes). Retry when nobody is writing to it.")

    def _swap(self) -> bool:
        """Give the live name to the next file; False if a live file appeared meanwhile."""
        if self._base is None:
            # First build: link, which fails rather than replace a file that
            # appeared meanwhile.
            try:
                os.link(self.path, self.live)
                _unlink(self.path)
            except FileExistsError:
                return False
            except OSError:  # a file system without hard links
                if self.live.exists():
                    return False
                os.replace(self.path, self.live)
            return True
        # A crashed client's WAL was replayed into the copy: it leaves the live
        # name with the live file, or DuckDB would replay it into the new file.
        keep_previous(self.live)
        os.replace(self.path, self.live)
        return True

    def discard(self) -> None:
        """Remove the next warehouse (a failed build, or one a killed build left)."""
        _unlink(self.path, _wal(self.path))


def keep_previous(live: Path) -> None:
    """Keep the live file as ``<warehouse>.previous``, for ``segkit restore``.

    Called right before the swap gives the live name to the next file. A hard
    link: no copy, and the live name is never missing (the link is a second
    name of the live file, then the swap leaves it the only one). The previous
    generation's WAL goes first (it would be replayed into the wrong file); a
    WAL a crashed client left beside the live file moves with it. Where hard
    links are refused (some network and FAT file systems) the file is copied.
    """
    previous = previous_path(live)
    staged = _staged_previous(live)
    _unlink(staged)
    try:
        os.link(live, staged)
    except OSError as exc:
        if is_disk_full(exc):
            raise
        shutil.copyfile(live, staged)
    _unlink(_wal(previous))
    os.replace(staged, previous)
    if _wal(live).exists():
        os.replace(_wal(live), _wal(previous))


def remove_leftovers(path: Path, *, tmp_root: Path) -> list[str]:
    """Remove what killed builds left: the next (or built) file, a half-made second name
    of the live file, and their spill folders.

    Call only while holding :func:`build_lock`: then no build is using them.
    ``segkit score`` spill folders are not named like run ids and are kept.
    """
    removed = []
    for p in (next_path(path), _wal(next_path(path)), built_path(path), _staged_previous(path)):
        if p.exists():
            _unlink(p)
            removed.append(str(p))
    if tmp_root.is_dir():
        for folder in tmp_root.iterdir():
            if folder.is_dir() and RUN_ID_SHAPE.fullmatch(folder.name):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(str(folder))
    return removed
