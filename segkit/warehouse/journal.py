"""The journal of runs not yet in ``meta.runs``: started, failed or killed builds."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from segkit.errors import WarehouseError
from segkit.warehouse.connections import build_running
from segkit.warehouse.faults import translated
from segkit.warehouse.publishing import _unlink


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
        raise (translated(exc, path) or WarehouseError(
            f"cannot write beside the warehouse ({journal_path(path)}): {exc.strerror}. Check "
            "the folder's permissions.")) from None


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
