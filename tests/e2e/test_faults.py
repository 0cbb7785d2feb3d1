"""Builds killed with SIGKILL at every stage, and unwritable paths.

Real processes on a generated dataset large enough that each stage lasts
seconds: a build subprocess is watched through its progress lines on stderr
("✓ sql ...") and killed inside the next stage. Whatever the stage, the
previous build's tables, views and report stay intact and queryable, the
killed run is never half-written, and the next build succeeds.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from segkit.config import load_config
from tests.conftest import query

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


def holds_write_lock(warehouse: Path) -> bool:
    """True while another process has the warehouse open for writing."""
    try:
        duckdb.connect(str(warehouse), read_only=True).close()
    except duckdb.Error as exc:
        return "lock" in str(exc).lower()
    return False


def state(folder: Path) -> dict:
    """Everything a reader relies on: current segment tables, every view, the reports."""
    warehouse = folder / "warehouse" / "segkit.duckdb"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        current = {name: con.execute(f"select * from segments.{name} order by all").fetchall()
                   for name in ("customer_segments", "segment_profiles", "model_selection",
                                "bin_edges", "centroids")}
        views = con.execute("select schema_name || '.' || view_name from duckdb_views() "
                            "where not internal and schema_name in ('staging', 'cleaning', "
                            "'features', 'segments') order by 1").fetchall()
        counts = {v: con.execute(f"select count(*) from {v}").fetchall()[0][0] for v, in views}
        runs = con.execute("select run_id, status from meta.runs order by started_at").fetchall()
        success = con.execute("select run_id, rows_in, rows_used, rows_quarantined from "
                              "meta.runs where status = 'success' order by finished_at desc "
                              "limit 1").fetchall()
    finally:
        con.close()
    reports = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
               for p in sorted((folder / "reports").glob("*.html"))}
    return {"current": current, "view_counts": counts, "runs": runs, "success": success,
            "reports": reports}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A generated dirty dataset and one successful build of it."""
    folder = tmp_path_factory.mktemp("faults")
    done = subprocess.run([sys.executable, "-m", "segkit", "generate", "--transactions",
                           str(TRANSACTIONS), "--out", str(folder)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    config = folder / "segkit.toml"
    config.write_text(config.read_text() + "\n[mlflow]\nenabled = false\n")
    build = Build(config)
    assert build.wait() == 0, "\n".join(build.lines)
    return folder, config, state(folder)


def assert_previous_intact(folder: Path, before: dict, killed: int) -> None:
    after = state(folder)
    assert after["current"] == before["current"]
    assert after["view_counts"] == before["view_counts"]
    assert after["success"] == before["success"]
    assert after["reports"] == before["reports"]
    # The killed run: absent, or registered and never marked success.
    new_runs = after["runs"][len(before["runs"]):]
    assert len(new_runs) <= killed
    assert all(status in ("running", "failed") for _, status in new_runs)


def test_killed_during_sql_leaves_previous_build(project):
    folder, config, before = project
    build = Build(config)
    # The run is registered (a 'running' row) right before the SQL stage starts.
    warehouse = folder / "warehouse" / "segkit.duckdb"
    deadline = time.monotonic() + 60
    while True:
        try:
            if len(query(warehouse, "select run_id from meta.runs")) > len(before["runs"]):
                break
        except duckdb.Error:
            pass  # the build holds the file for its short registration window
        assert time.monotonic() < deadline and build.proc.poll() is None
        time.sleep(0.02)
    time.sleep(0.2)
    assert not build.finished("sql"), "SQL finished before the kill: use more transactions"
    build.kill()
    assert_previous_intact(folder, before, killed=1)
    assert state(folder)["runs"][-1][1] == "running"  # marked failed by the next build


def test_killed_during_modelling_leaves_previous_build(project):
    folder, config, before = project
    build = Build(config)
    build.wait_for("sql")
    time.sleep(0.3)
    assert not build.finished("model"), "modelling finished before the kill"
    build.kill()
    after = state(folder)
    assert_previous_intact(folder, {**before, "runs": after["runs"][:-1]}, killed=1)
    # The run killed in the previous test was marked failed when this one registered.
    statuses = [s for _, s in after["runs"]]
    assert statuses.count("running") == 1 and statuses[-1] == "running"


def test_killed_during_write_back_is_all_or_nothing(project):
    folder, config, before = project
    warehouse = folder / "warehouse" / "segkit.duckdb"
    # Publishing is one transaction of well under a second here: kill at a few
    # points after modelling ends. Each kill leaves the previous build, or (if
    # the commit won the race) the complete new one; never a mix.
    inside = 0
    for delay in (0.02, 0.1, 0.2, 0.3, 0.45):
        previous = state(folder)
        build = Build(config)
        build.wait_for("model")
        time.sleep(delay)
        in_transaction = holds_write_lock(warehouse)
        build.kill()
        after = state(folder)
        new_run = after["runs"][len(previous["runs"])]
        if new_run[1] == "success":
            assert after["success"][0][0] == new_run[0]
            assert len(after["current"]["customer_segments"]) == len(
                previous["current"]["customer_segments"])
            assert {r[3] for r in after["current"]["customer_segments"]} == {new_run[0]}
            assert after["view_counts"] == previous["view_counts"]
        else:
            inside += in_transaction
            assert_previous_intact(folder, previous, killed=1)
            if inside:
                break
    # At least one kill hit the open publish transaction.
    assert inside >= 1


def test_killed_during_report_keeps_the_published_build_and_old_report(project):
    folder, config, before = project
    build = Build(config)
    build.wait_for("write-back")
    time.sleep(0.2)
    assert not build.finished("report"), "the report finished before the kill"
    build.kill()
    after = state(folder)
    # Write-back committed: the new build is current, and it equals the previous one
    # (same data, config and seed), apart from its run id.
    assert after["success"][0][0] != before["success"][0][0]
    strip = lambda rows: [tuple(v for v in r if v != after["success"][0][0]) for r in rows]  # noqa: E731
    old = lambda rows: [tuple(v for v in r if v != before["success"][0][0]) for r in rows]  # noqa: E731
    for name in ("customer_segments", "model_selection", "bin_edges", "centroids"):
        assert strip(after["current"][name]) == old(before["current"][name]), name
    # The previous report is intact and no half-written report carries a real name.
    assert after["reports"].items() >= {k: v for k, v in before["reports"].items()
                                        if k != "latest.html"}.items()
    assert f"{after['success'][0][0]}.html" not in after["reports"]
    # The missing report renders from the warehouse alone (what `segkit report` does).
    path = importlib.import_module("segkit.reporting").render_report(load_config(config))
    assert path == folder / "reports" / f"{after['success'][0][0]}.html" and path.exists()


def test_next_build_succeeds_and_accounts_for_every_row(project):
    folder, config, _ = project
    build = Build(config)
    assert build.wait() == 0, "\n".join(build.lines)
    after = state(folder)
    run_id, rows_in, used, quarantined = after["success"][0]
    assert rows_in == TRANSACTIONS == used + quarantined
    assert after["runs"][-1] == (run_id, "success")
    assert "running" not in [s for _, s in after["runs"]]
    interrupted = query(folder / "warehouse" / "segkit.duckdb",
                        "select count(*) from meta.runs where status = 'failed' "
                        "and error like 'interrupted%'")[0][0]
    assert interrupted >= 2  # the sql and model kills, and write-back kills before commit
    assert not list((folder / "warehouse" / ".tmp").glob("*/*"))  # no spilled files kept


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
        f'path = "{Path(__file__).parents[2] / "segkit" / "data" / "cdnow_transactions.csv"}"\n'
        'customer_id = "customer_id"\ntimestamp = "purchase_date"\namount = "dollar_value"\n'
        "[mlflow]\nenabled = false\n")
    done = subprocess.run([sys.executable, "-m", "segkit", "build", "--no-map"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    err = " ".join(done.stderr.split())
    assert done.returncode == 5, err
    assert "Error: cannot write the report to the reports folder /sys/segkit-reports" in err
    assert "Traceback" not in err
    # The segments were published before the report: they stay current.
    warehouse = tmp_path / "warehouse" / "segkit.duckdb"
    assert query(warehouse, "select status from meta.runs") == [("success",)]
    assert query(warehouse, "select count(*) from segments.customer_segments") == [(23_502,)]
