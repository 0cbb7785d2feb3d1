"""Builds killed with SIGKILL at every stage, and unwritable paths.

Real processes on a generated dataset large enough that each stage lasts
seconds: a build subprocess is watched through its progress lines on stderr
("✓ sql ...") and killed inside the next stage. Whatever the stage, the live
warehouse file holds the previous build or the complete new one (it is only
ever replaced whole), the killed run shows as ``interrupted``, and the next
build removes what it left and succeeds.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

import segkit
from tests.conftest import SAMPLE_CUSTOMERS, cdnow_sample, query

pytestmark = pytest.mark.slow

# Large enough that every stage lasts a few tenths of a second at least.
TRANSACTIONS = 500_000


class Build:
    """A `segkit build` subprocess whose stderr lines are collected as they come."""

    def __init__(self, config: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "segkit", "build", "--config", str(config), "--no-map"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "COLUMNS": "200"})
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def finished(self, stage: str) -> bool:
        return any(line.startswith(f"✓ {stage} ") for line in self.lines)

    def wait_for(self, stage: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not self.finished(stage):
            assert self.proc.poll() is None, "\n".join(self.lines)
            assert time.monotonic() < deadline, f"no '✓ {stage}' line: {self.lines}"
            time.sleep(0.02)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._reader.join(timeout=10)
        assert self.proc.returncode == -signal.SIGKILL

    def wait(self) -> int:
        self.proc.wait(timeout=600)
        self._reader.join(timeout=10)
        return self.proc.returncode


def live_is_whole(warehouse: Path) -> None:
    """The live file is a complete DuckDB file, with no WAL or next file left beside it."""
    assert warehouse.exists() and warehouse.stat().st_size > 0
    assert not Path(str(warehouse) + ".wal").exists()
    duckdb.connect(str(warehouse), read_only=True).close()


def listed(config: Path) -> list[tuple[str, str, str | None]]:
    """What `segkit runs` shows: run id, status, error; newest first."""
    runs = segkit.runs(config, limit=1000)
    return list(zip(runs["run_id"], runs["status"], runs["error"]))


def state(folder: Path, *, view_counts: bool = True) -> dict:
    """Everything a reader relies on: the live file's bytes, current segment tables, every
    view (counting its rows, unless ``view_counts`` is false), the reports."""
    warehouse = folder / "warehouse" / "segkit.duckdb"
    # Read before connecting; a read-only connection leaves the file as it is.
    live_sha256 = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        current = {name: con.execute(f"select * from segments.{name} order by all").fetchall()
                   for name in ("customer_segments", "segment_profiles", "model_selection",
                                "bin_edges", "centroids")}
        views = con.execute("select schema_name || '.' || view_name from duckdb_views() "
                            "where not internal and schema_name in ('staging', 'cleaning', "
                            "'features', 'segments') order by 1").fetchall()
        # Each view reruns the SQL over the 500,000 source lines: about 4 s for all.
        counts = {v: con.execute(f"select count(*) from {v}").fetchall()[0][0]
                  for v, in views} if view_counts else None
        runs = con.execute("select run_id, status from meta.runs order by started_at").fetchall()
        success = con.execute("select run_id, rows_in, rows_used, rows_quarantined from "
                              "meta.runs where status = 'success' order by finished_at desc "
                              "limit 1").fetchall()
    finally:
        con.close()
    reports = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
               for p in sorted((folder / "reports").glob("*.html"))}
    return {"live_sha256": live_sha256, "current": current, "view_counts": counts,
            "runs": runs, "success": success, "reports": reports}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A generated dirty dataset and one successful build of it."""
    folder = tmp_path_factory.mktemp("faults")
    # In this process: the CLI's generate and build are tested elsewhere, and the
    # builds killed below are subprocesses.
    segkit.generate(folder, transactions=TRANSACTIONS)
    config = folder / "segkit.toml"
    config.write_text(config.read_text() + "\n[mlflow]\nenabled = false\n")
    segkit.build(config, no_map=True)
    return folder, config, state(folder)


def assert_previous_intact(folder: Path, before: dict, *, view_counts: bool = False) -> None:
    live_is_whole(folder / "warehouse" / "segkit.duckdb")
    after = state(folder, view_counts=view_counts)
    # Byte for byte the same file: every table and view reads as before (the SQL kill
    # also counts every view's rows again, to show it).
    assert after["live_sha256"] == before["live_sha256"]
    assert after["current"] == before["current"]
    if view_counts:
        assert after["view_counts"] == before["view_counts"]
    assert after["success"] == before["success"]
    assert after["reports"] == before["reports"]
    assert after["runs"] == before["runs"]  # the live file was not written at all


def assert_interrupted(config: Path, build: Build) -> str:
    run_id, status, error = listed(config)[0]
    assert status == "interrupted", listed(config)[:3]
    assert error.startswith(f"interrupted: the build process (pid {build.proc.pid}, started ")
    return run_id


def test_killed_during_sql_leaves_previous_build(project):
    folder, config, before = project
    build = Build(config)
    # The run is recorded as running beside the warehouse right before the SQL stage.
    deadline = time.monotonic() + 60
    while not listed(config) or listed(config)[0][1] != "running":
        assert time.monotonic() < deadline and build.proc.poll() is None
        time.sleep(0.02)
    time.sleep(0.2)
    assert not build.finished("sql"), "SQL finished before the kill: use more transactions"
    build.kill()
    assert_previous_intact(folder, before, view_counts=True)
    run_id = assert_interrupted(config, build)
    # Its spill folder stays until the next build (which holds the build lock) removes it.
    assert (folder / "warehouse" / ".tmp" / run_id).is_dir()


def test_killed_during_modelling_leaves_previous_build(project):
    folder, config, before = project
    build = Build(config)
    build.wait_for("sql")
    time.sleep(0.3)
    assert not build.finished("model"), "modelling finished before the kill"
    build.kill()
    assert_previous_intact(folder, before)
    assert_interrupted(config, build)
    # The run killed in the previous test is still listed, as interrupted too.
    assert [s for _, s, _ in listed(config)].count("interrupted") == 2


def test_killed_during_write_back_leaves_previous_or_complete_new(project):
    folder, config, before = project
    warehouse = folder / "warehouse" / "segkit.duckdb"
    # Write-back fills the next file beside the live one; kill at a few points in it.
    # The live file is never touched until the rename, so each kill leaves the
    # previous build, whole.
    # Each kill is checked against the fixture's build (no state read before each kill:
    # reading every view costs seconds, and each check proves the state did not move).
    hit_next_file = 0
    for delay in (0.02, 0.1, 0.2, 0.3, 0.45):
        build = Build(config)
        build.wait_for("model")
        time.sleep(delay)
        hit_next_file += Path(str(warehouse) + ".next").exists()
        build.kill()
        assert_previous_intact(folder, before)
        assert_interrupted(config, build)
        if hit_next_file:
            break
    assert hit_next_file >= 1  # at least one kill hit the half-written next file


def test_killed_during_report_leaves_previous_build_and_reports(project):
    folder, config, before = project
    build = Build(config)
    build.wait_for("write-back")
    time.sleep(0.2)
    assert not build.finished("report"), "the report finished before the kill"
    build.kill()
    # The report renders from the next file before the rename: the kill left the
    # previous build current and no report of the killed run.
    assert_previous_intact(folder, before)
    assert_interrupted(config, build)


def test_next_build_succeeds_and_records_the_interrupted_runs(project):
    folder, config, _ = project
    warehouse = folder / "warehouse" / "segkit.duckdb"
    interrupted = [r for r, s, _ in listed(config) if s == "interrupted"]
    assert len(interrupted) >= 4  # the sql, model, write-back and report kills
    build = Build(config)
    assert build.wait() == 0, "\n".join(build.lines)
    after = state(folder, view_counts=False)
    run_id, rows_in, used, quarantined = after["success"][0]
    assert rows_in == TRANSACTIONS == used + quarantined
    assert after["runs"][-1] == (run_id, "success")
    # The journal's runs are now in meta.runs, kept forever, with their pid and start.
    recorded = dict(query(warehouse, "select run_id, status from meta.runs"))
    assert all(recorded[r] == "interrupted" for r in interrupted)
    assert query(warehouse, "select count(*) from meta.runs where status = 'interrupted' "
                            "and error like 'interrupted: the build process (pid %'")[0][0] \
        == len(interrupted)
    assert "running" not in [s for _, s, _ in listed(config)]
    # What the killed builds left is gone: next files, spill folders, the journal.
    assert not list((folder / "warehouse" / ".tmp").iterdir())
    assert not Path(str(warehouse) + ".next").exists()
    assert not Path(str(warehouse) + ".runs.jsonl").exists()
    live_is_whole(warehouse)


def test_unwritable_warehouse_folder_is_a_clear_error(tmp_path):
    # Root ignores file modes; /sys refuses new folders even to root.
    done = subprocess.run([sys.executable, "-m", "segkit", "build", "--no-map", "--warehouse",
                           "/sys/segkit-test/segkit.duckdb"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 5, done.stderr
    err = " ".join(done.stderr.split())
    assert err.startswith("Error: cannot create the warehouse folder /sys/segkit-test:")
    assert "Check that the folder is writable" in err and "Traceback" not in err


def test_unwritable_reports_folder_keeps_the_published_segments(tmp_path):
    (tmp_path / "segkit.toml").write_text(
        'reports_dir = "/sys/segkit-reports"\n[transactions]\n'
        f'path = "{cdnow_sample(tmp_path)}"\n'
        'customer_id = "customer_id"\ntimestamp = "purchase_date"\namount = "dollar_value"\n'
        "[mlflow]\nenabled = false\n")
    done = subprocess.run([sys.executable, "-m", "segkit", "build", "--no-map"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    err = " ".join(done.stderr.split())
    # The build succeeded: the report failing afterwards is a warning with the way out.
    assert done.returncode == 0, err
    run_id = done.stdout.strip()
    assert (f"! the build {run_id} is published, but its report failed: cannot write the "
            "report to the reports folder /sys/segkit-reports") in err
    assert f"Render it again with `python -m segkit report {run_id}`." in err
    assert "Traceback" not in err and "Report:" not in err
    warehouse = tmp_path / "warehouse" / "segkit.duckdb"
    assert query(warehouse, "select run_id, status from meta.runs") == [(run_id, "success")]
    assert query(warehouse, "select count(*) from segments.customer_segments") == [
        (SAMPLE_CUSTOMERS,)]
