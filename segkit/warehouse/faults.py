"""A damaged warehouse file or a full disk: recognised, and said in one paragraph.

DuckDB reports both with errors of many classes, raised wherever the file
happens to be read or written: an IOException when a file was cut short, a
bare Error for a bad block checksum, a FatalException or a
TransactionException when a write or a checkpoint finds no room. They are
recognised by their text (:func:`translated`) and become a
:class:`WarehouseError` (exit 5) that names the file or folder and the way
out: ``segkit restore`` when a previous generation is kept beside the live
file, the room a build needs when the disk is full.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import shutil
from pathlib import Path
from typing import Iterator

import duckdb

from segkit.errors import InputError, WarehouseError
from segkit.project import quote_ident
from segkit.warehouse.queries import rows as query_rows

# What DuckDB says about a file that is not (or no longer) a whole DuckDB file.
DAMAGE_SIGNS = ("not a valid duckdb database file", "could not read enough bytes",
                "corrupt database file", "does not match stored checksum")
DISK_FULL_SIGNS = ("no space left on device", "disk quota exceeded")
_QUOTED_PATH = re.compile(r'"(/[^"]+)"')
MB = 1024 * 1024


def previous_path(path: Path) -> Path:
    """``<warehouse>.previous``: the generation the last publish replaced."""
    return Path(str(path) + ".previous")


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return any(sign in text for sign in DISK_FULL_SIGNS)


def is_damage(exc: BaseException, path: Path) -> bool:
    """DuckDB found ``path`` (or a copy of it beside it) cut short or overwritten.

    A message that quotes another file (a source being read) is not about
    the warehouse.
    """
    text = str(exc)
    if not any(sign in text.lower() for sign in DAMAGE_SIGNS):
        return False
    quoted = _QUOTED_PATH.findall(text)
    return not quoted or any(q.startswith(str(path)) for q in quoted)


def _detail(exc: BaseException | str) -> str:
    """The first line of DuckDB's message, without its class prefix."""
    if isinstance(exc, str):
        return exc
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror  # its file name is the copy's source, not the file that grew
    line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"^(FATAL Error: |IO Error: |TransactionContext Error: )+", "", line)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mb(n: int, *, down: bool = False) -> str:
    """Megabytes for a message: room needed is rounded up, room free down."""
    return f"{(n // MB) if down else max(math.ceil(n / MB), 1):,} MB"


# -- a file cut short ---------------------------------------------------------------

def cut_short(con: duckdb.DuckDBPyConnection, path: Path) -> str | None:
    """How the file at ``path`` was cut short, or None when it holds every block in use.

    Such a file often opens, since DuckDB reads a block only when a query needs
    it: a build would fail half-way, and ``segkit runs`` would answer as if
    nothing were wrong. The length tells: first against the blocks the header
    counts (one pragma), and when the file is shorter than those, against the
    last block a table uses (DuckDB may cut free blocks off the end of the
    file; the tables' storage is metadata, no data is read). Skipped while a
    WAL is beside the file (its blocks are not written yet).
    """
    if Path(str(path) + ".wal").exists():
        return None
    size = _size(path)
    rows = query_rows(con, "generations.database_size")
    if not rows or not rows[0][0] or size >= rows[0][0] * rows[0][1]:
        return None
    block_size = rows[0][0]
    highest = -1
    for schema, table in query_rows(con, "generations.tables"):
        (last,), = query_rows(con, "generations.highest_block",
                                [f"{quote_ident(schema)}.{quote_ident(table)}"])
        highest = max(highest, last if last is not None else -1)
    needed = (highest + 1) * block_size  # its blocks alone, without the 12 KiB of headers
    if size >= needed:
        return None
    return f"the file is {size:,} bytes, but its tables use blocks up to {needed:,} bytes"


# -- the previous generation, as the messages describe it ----------------------

def latest_build(path: Path) -> tuple[str, object] | None:
    """``(run_id, finished_at)`` of the latest successful build in the file at ``path``.

    None when it holds no successful build. Raises ``duckdb.Error`` when the
    file cannot be read.
    """
    con = duckdb.connect(str(path), read_only=True)
    try:
        problem = cut_short(con, path)
        if problem:
            raise duckdb.IOException(problem)
        if not query_rows(con, "runs.has_registry")[0][0]:
            return None
        rows = query_rows(con, "generations.latest_build")
        return (rows[0][0], rows[0][1]) if rows else None
    finally:
        con.close()


def _restore_hint(path: Path) -> str:
    """The way out of a damaged live file: its previous generation, if one is whole."""
    previous = previous_path(path)
    if not previous.exists():
        return (f"No previous generation is kept beside it ({previous.name}; each build "
                "keeps the one it replaces). Move the damaged file aside and build again: "
                "the build starts a new warehouse (the run history in meta.runs starts over).")
    try:
        build = latest_build(previous)
    except duckdb.Error as exc:
        return (f"Its previous generation {previous} cannot be read either ({_detail(exc)}): "
                "move both files aside and build again (a new warehouse; the run history "
                "starts over).")
    which = (f"build {build[0]}, finished {build[1]:%Y-%m-%d %H:%M} UTC" if build
             else "no successful build")
    return (f"Put back the previous generation, kept beside it as {previous} ({which}), "
            "with `python -m segkit restore`, then build again.")


# -- the messages ---------------------------------------------------------------

def damaged_error(path: Path, exc: BaseException | str) -> WarehouseError:
    """The live warehouse (or the copy of it a build writes) cannot be read."""
    return WarehouseError(
        f"the warehouse {path} is damaged and cannot be read whole ({_detail(exc)}). A file "
        "cut short or overwritten (a full disk, an interrupted copy) looks like this. Nothing "
        f"was written to it. {_restore_hint(path)}")


def build_room(path: Path, next_bytes: int = 0) -> dict[str, int]:
    """The disk a publish needs beside the live warehouse, estimated from the files.

    The next warehouse is the live file plus what a build adds to it (what the
    last one added: the live file less its previous generation), and it is
    written through a write-ahead log that holds one build's rows (the live
    file's share per build whose per-customer rows it keeps). The live file and
    the previous generation stay meanwhile. The estimate errs on the large side:
    a build that fails for room costs a whole build.
    """
    live = _size(path)
    previous_file = previous_path(path)
    previous = _size(previous_file)
    with contextlib.suppress(OSError):
        if previous and os.path.samefile(path, previous_file):
            previous = 0  # a second name of the live file: no room of its own
    rows = live // max(_history_builds(path), 1) if live else next_bytes
    growth = live - previous if 0 < previous < live else rows
    next_size = max(next_bytes, live + growth)
    return {"live": live, "previous": previous, "next": next_size,
            "needed": next_size + rows}


def _history_builds(path: Path) -> int:
    """Builds whose per-customer rows the file at ``path`` keeps (1 when it cannot tell)."""
    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            return query_rows(con, "generations.n_history_builds")[0][0]
        finally:
            con.close()
    except duckdb.Error:
        return 1


def disk_full_error(path: Path, exc: BaseException, *, next_bytes: int = 0) -> WarehouseError:
    """The disk under the warehouse folder filled up: what a build needs there, and the ways
    to make room. Call once the failed build's next file is removed (its room counts as free)."""
    folder = path.parent
    room = build_room(path, next_bytes)
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = 0
    short = max(room["needed"] - free, 0)
    previous = previous_path(path)
    keep = (f" and the previous generation ({previous.name}, {_mb(room['previous'])}, kept "
            "for `segkit restore`) stay" if room["previous"] else " stays")
    drop = (f" (deleting {previous} gives back {_mb(room['previous'])} if you will not "
            "restore it)" if room["previous"] else "")
    return WarehouseError(
        f"the disk holding the warehouse folder {folder} is full ({_detail(exc)}), so nothing "
        f"was published: the live warehouse {path} is unchanged. A build needs about "
        f"{_mb(room['needed'])} free there for the next warehouse (about {_mb(room['next'])}: "
        f"the live file's {_mb(room['live'])} plus what a build adds) and its write-ahead log, "
        f"while the live file{keep}; {_mb(free, down=True)} are free. Free "
        f"{f'about {_mb(short)} more' if short else 'some space'}{drop}, or point `warehouse` "
        "(or --warehouse) at a larger disk, then build again.")


def translated(exc: BaseException, path: Path, *, next_bytes: int = 0) -> WarehouseError | None:
    """The clear error for a full disk or a damaged warehouse at ``path``; None for others."""
    if isinstance(exc, WarehouseError):
        return None  # said already
    if is_disk_full(exc):
        return disk_full_error(path, exc, next_bytes=next_bytes)
    if is_damage(exc, path):
        return damaged_error(path, exc)
    return None


@contextlib.contextmanager
def said_clearly(path: Path) -> Iterator[None]:
    """Turn a full disk or a damaged warehouse met anywhere inside into its clear error.

    The commands' last net: the warehouse layer says it where it can name the
    exact step; this catches what surfaces elsewhere (a damaged block met by a
    query, a spill file that found no room).
    """
    try:
        yield
    except InputError as exc:  # a source read whose spill files found no room
        if not is_disk_full(exc):
            raise
        raise disk_full_error(path, exc) from None
    except (duckdb.Error, OSError) as exc:
        error = translated(exc, path)
        if error is None:
            raise
        raise error from None
