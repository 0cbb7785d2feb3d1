"""Real processes sharing one warehouse: plain readers during builds, held readers,
two builds, users writing to the warehouse while a build publishes.

A build never opens the live warehouse for writing: it writes the next file
beside it and swaps it in with one rename. So a plain DuckDB client (no retry,
no segkit) can open the warehouse at any moment, a connection held through a
build keeps seeing the old build, and no reader can make a build fail.
"""

from __future__ import annotations

import json
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
from segkit import warehouse as wh
from segkit.config import DEMO_DATA, load_config
from segkit.errors import WarehouseBusyError
from tests.conftest import SAMPLE_CUSTOMERS, cdnow_sample, query

pytestmark = pytest.mark.slow


# A plain DuckDB client, as a dashboard or a notebook would be: no retry, no segkit.
POLLER = r"""
import json, os, sys, time
import duckdb

path, stop_file = sys.argv[1], sys.argv[2]
attempts, reads, failures = 0, [], []
while not os.path.exists(stop_file):
    attempts += 1
    try:
        con = duckdb.connect(path, read_only=True)
        try:
            reads.append(con.execute(
                "select count(*), count(distinct run_id), min(run_id) "
                "from segments.customer_segments").fetchall()[0])
        finally:
            con.close()
    except Exception as exc:
        failures.append(f"{type(exc).__name__}: {exc}")
    time.sleep(0.02)
print(json.dumps({"attempts": attempts, "reads": reads, "failures": failures}))
"""


def config(folder: Path, extra: str = "", data: Path = DEMO_DATA) -> Path:
    path = folder / "segkit.toml"
    path.write_text(f'[transactions]\npath = "{data}"\ncustomer_id = "customer_id"\n'
                    'timestamp = "purchase_date"\namount = "dollar_value"\n'
                    f"[model]\nmap = false\n[mlflow]\nenabled = false\n{extra}")
    return path


class Build:
    """A `segkit build` subprocess whose stderr lines are collected as they come."""

    def __init__(self, cfg: Path):
        self.proc = subprocess.Popen([sys.executable, "-m", "segkit", "build", "--config",
                                      str(cfg)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "COLUMNS": "200"})
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, stage: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(line.startswith(f"✓ {stage} ") for line in self.lines):
            assert self.proc.poll() is None, "\n".join(self.lines)
            assert time.monotonic() < deadline, self.lines
            time.sleep(0.01)

    def finish(self) -> tuple[int, str]:
        self.proc.wait(timeout=600)
        self._reader.join(timeout=10)
        return self.proc.returncode, " ".join(" ".join(self.lines).split())

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._reader.join(timeout=10)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A warehouse holding one build of a tenth of the demo, and its config.

    The builds in these tests run on that sample (each still lasts seconds, as a
    process); the busy test builds the whole demo, to hold the lock long enough.
    """
    folder = tmp_path_factory.mktemp("concurrency")
    cfg = config(folder, data=cdnow_sample(folder))
    segkit.build(cfg)
    return folder, cfg


def live(folder: Path) -> Path:
    return folder / "warehouse" / "segkit.duckdb"


def build_run_id(folder: Path) -> str:
    """The latest run id as `segkit runs` lists it (read in a fresh process)."""
    out = subprocess.run([sys.executable, "-m", "segkit", "runs", "--config",
                          str(folder / "segkit.toml"), "--limit", "1"],
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines()[1].split("\t")[0]


def test_plain_readers_never_fail_across_builds_including_killed_ones(built):
    folder, cfg = built
    stop = folder / "stop"
    stop.unlink(missing_ok=True)
    poller = subprocess.Popen([sys.executable, "-c", POLLER, str(live(folder)), str(stop)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    codes = []
    for kill_at in (None, "model", None, "write-back", None):
        build = Build(cfg)
        if kill_at:
            build.wait_for(kill_at)
            time.sleep(0.3)  # inside the next stage: writing, or rendering from, the next file
            build.kill()
        else:
            codes.append(build.finish())
    stop.touch()
    stats = json.loads(poller.communicate(timeout=120)[0])
    assert [c for c, _ in codes] == [0, 0, 0], codes
    print("plain reader:", stats["attempts"], "attempts,", len(stats["failures"]), "failures")
    assert stats["attempts"] >= 200, stats["attempts"]
    assert stats["failures"] == []
    assert len(stats["reads"]) == stats["attempts"]  # 100%
    # Every read saw one whole build: all customers, one run id...
    assert {(n, runs) for n, runs, _ in stats["reads"]} == {(SAMPLE_CUSTOMERS, 1)}
    # ...and the reads spanned the builds (the three that finished, at least).
    assert len({run_id for _, _, run_id in stats["reads"]}) >= 3
    # A killed build never leaves a WAL beside the live name, or its next file for long.
    assert not Path(str(live(folder)) + ".wal").exists()


def test_a_reader_holding_one_connection_sees_only_the_old_build(built):
    folder, cfg = built
    held = duckdb.connect(str(live(folder)), read_only=True)  # e.g. a BI tool left open
    try:
        sql = "select * from segments.customer_segments order by customer_id"
        old = held.execute(sql).fetchall()
        old_run = {r[3] for r in old}
        assert len(old_run) == 1
        build = Build(cfg)
        seen = 0
        while build.proc.poll() is None:  # reading through the whole build
            assert held.execute(sql).fetchall() == old
            seen += 1
            time.sleep(0.1)
        code, err = build.finish()
        assert code == 0, err  # the held reader did not stop the build
        assert seen >= 5
        assert held.execute(sql).fetchall() == old  # still its consistent snapshot
        # A new connection in another process sees the new build. (In this process a
        # new connect to the same path would share the held one's database: DuckDB
        # caches one instance per path while any connection to it is open.)
        new = subprocess.run([sys.executable, "-c", (
            "import duckdb, sys; print(duckdb.connect(sys.argv[1], read_only=True).execute("
            "'select distinct run_id from segments.customer_segments').fetchall())"),
            str(live(folder))], capture_output=True, text=True, check=True).stdout
        assert eval(new) == [(build_run_id(folder),)] and {build_run_id(folder)} != old_run
    finally:
        held.close()


def test_two_builds_at_once_run_one_after_the_other(built):
    folder, cfg = built
    before = query(live(folder), "select count(*) from meta.runs where status = 'success'")[0][0]
    first, second = Build(cfg), Build(cfg)
    results = [first.finish(), second.finish()]
    assert [r[0] for r in results] == [0, 0], results
    runs = query(live(folder), "select run_id, started_at, finished_at from meta.runs "
                               "where status = 'success' order by started_at")
    assert len(runs) == before + 2
    # Serialized by the build lock: the second started after the first finished.
    (_, _, first_done), (_, second_start, _) = runs[-2], runs[-1]
    assert second_start >= first_done.replace(microsecond=0)


def test_second_build_reports_busy_after_the_lock_timeout(built):
    folder, _ = built
    # The whole demo: the first build holds the lock while the second starts and waits.
    cfg = config(folder, "[duckdb]\nlock_timeout_seconds = 0.5\n")
    first = Build(cfg)
    lock = folder / "warehouse" / "segkit.duckdb.build.lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text().strip() == str(first.proc.pid)):
        assert time.monotonic() < deadline and first.proc.poll() is None
        time.sleep(0.02)
    code, err = Build(cfg).finish()
    assert code == 4, err
    assert err.startswith(f"Error: warehouse busy: another build on {live(folder)} is still "
                          "running after 0.5 s. Wait for it to finish, then retry.")
    assert first.finish()[0] == 0
    config(folder, data=folder / "cdnow_sample.csv")  # the module's config again


def test_two_scores_at_once_keep_their_own_temp_folders(built, tmp_path):
    folder, cfg = built
    sample = folder / "cdnow_sample.csv"
    outputs = [tmp_path / f"scored{i}.csv" for i in range(3)]
    procs = [subprocess.Popen([sys.executable, "-m", "segkit", "score", "--config", str(cfg),
                               "--input", str(sample), "--output", str(out)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for out in outputs]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert [code for code, _ in results] == [0, 0, 0], results
    texts = {out.read_text() for out in outputs}
    # One row per customer in the file: the segmented ones, and those whose every
    # line was quarantined, listed with their reason instead of dropped.
    in_file = {line.split(",")[0] for line in sample.read_text().splitlines()[1:]}
    assert len(texts) == 1 and texts.pop().count("\n") == len(in_file) + 1
    assert not list((folder / "warehouse" / ".tmp").glob("score-*"))  # each removed its own


# -- publishing by swap: what a user writes to the warehouse is never lost --------------

@pytest.fixture
def small(tmp_path):
    """A live warehouse file with one table, and the config to publish over it."""
    path = tmp_path / "wh" / "segkit.duckdb"
    path.parent.mkdir()
    con = duckdb.connect(str(path), config={"storage_compatibility_version": "v1.0.0"})
    con.execute("create table main.old as select 1 as x")
    con.close()
    return path, load_config(config(tmp_path)).duckdb


def publish_table(path: Path, duckdb_config, name: str, **kwargs) -> wh.NextWarehouse:
    nxt = wh.NextWarehouse(path, duckdb_config, **kwargs)
    nxt.prepare()
    nxt.write(lambda con: con.execute(f"create table main.{name} as select 2 as x"))
    return nxt


def tables(path: Path) -> list[str]:
    return [t for t, in query(path, "select table_name from duckdb_tables() "
                                    "where schema_name = 'main' order by 1")]


def test_a_users_write_during_publishing_is_carried_over(small):
    path, duckdb_config = small
    nxt = publish_table(path, duckdb_config, "built")
    # A user adds their own table to the live file after the copy was taken.
    con = duckdb.connect(str(path))
    con.execute("create table main.my_notes as select 'keep me' as note")
    con.close()
    assert nxt.publish() == 1  # copied again and replayed the build's writes
    assert tables(path) == ["built", "my_notes", "old"]
    assert query(path, "select note from main.my_notes") == [("keep me",)]
    assert not nxt.path.exists() and not Path(str(path) + ".wal").exists()


def test_a_session_open_for_writing_makes_publishing_wait_then_refuse(small):
    path, duckdb_config = small
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('open', "
        "flush=True); time.sleep(60)"), str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        before = path.read_bytes()
        started = time.monotonic()
        with pytest.raises(WarehouseBusyError) as info:
            publish_table(path, duckdb_config, "built", timeout=1.0)
        assert 1.0 <= time.monotonic() - started < 10
        assert str(info.value) == (
            f"warehouse busy: {path} is open for writing in another process (a DuckDB "
            "session opened without read_only) and stayed locked for 1 s. Close that "
            "session, or open it read-only (read-only sessions never block segkit), then "
            "retry.")
    finally:
        holder.kill()
        holder.wait()
    assert path.read_bytes() == before  # nothing of theirs was replaced


def test_a_crashed_clients_wal_is_carried_over_and_never_left_beside_the_live_file(small):
    path, duckdb_config = small
    # A client that wrote, then died before checkpointing: its writes are only in the WAL.
    subprocess.run([sys.executable, "-c", (
        "import duckdb, os, sys; con = duckdb.connect(sys.argv[1]); "
        "con.execute(\"set checkpoint_threshold = '1TB'\"); "
        "con.execute('create table main.crashed as select 3 as x'); os._exit(0)"), str(path)],
        check=True, timeout=60)
    assert Path(str(path) + ".wal").exists()
    nxt = publish_table(path, duckdb_config, "built")
    assert nxt.publish() == 0
    assert not Path(str(path) + ".wal").exists()
    assert tables(path) == ["built", "crashed", "old"]


def test_per_customer_history_keeps_the_last_builds_and_every_run(tmp_path):
    # Three whole builds in this process: on a tenth of the demo's customers.
    cfg = config(tmp_path, "[duckdb]\nhistory_builds = 2\n", data=cdnow_sample(tmp_path))
    run_ids = [segkit.build(cfg).run_id for _ in range(3)]
    path = live(tmp_path)
    assert query(path, "select distinct run_id from segments.segment_history "
                       "order by run_id") == [(r,) for r in run_ids[1:]]
    assert query(path, "select count(distinct run_id) from meta.quarantine_history") == [(2,)]
    # The run registry and the small per-segment tables keep every build.
    assert query(path, "select count(*) from meta.runs where status = 'success'") == [(3,)]
    assert query(path, "select count(distinct run_id) from segments.profile_history") == [(3,)]
    assert query(path, "select count(*) from segments.customer_segments") == [(SAMPLE_CUSTOMERS,)]


def test_a_notebook_holding_the_warehouse_can_build_in_the_same_process(tmp_path):
    # The notebook's connection has DuckDB's defaults; the build's config sets threads.
    sample = cdnow_sample(tmp_path)
    cfg = config(tmp_path, data=sample)
    first = segkit.build(cfg).run_id
    config(tmp_path, "[duckdb]\nthreads = 1\n", data=sample)
    held = duckdb.connect(str(live(tmp_path)), read_only=True)
    try:
        second = segkit.build(cfg).run_id
        # The held connection keeps its snapshot (one database per path in a process)...
        assert held.execute("select distinct run_id from segments.customer_segments"
                            ).fetchall() == [(first,)]
    finally:
        held.close()
    # ...and once it is closed, a new connection sees the new build.
    assert query(live(tmp_path), "select distinct run_id from segments.customer_segments") \
        == [(second,)]


def test_a_users_write_during_a_builds_report_is_carried_over_with_every_row(tmp_path,
                                                                             monkeypatch):
    # The build has written the next file and let go of its per-customer rows
    # when the user writes to the live file: publishing replays its writes on a
    # fresh copy, with the rows read back from the file it built.
    from segkit.pipeline import sequence

    cfg = config(tmp_path, data=cdnow_sample(tmp_path))
    segkit.build(cfg)
    render_report = sequence._render_report

    def user_writes_then_render(*args):
        con = duckdb.connect(str(live(tmp_path)))
        con.execute("create table main.my_notes as select 'keep me' as note")
        con.close()
        return render_report(*args)

    monkeypatch.setattr(sequence, "_render_report", user_writes_then_render)
    result = segkit.build(cfg)
    path = live(tmp_path)
    assert query(path, "select note from main.my_notes") == [("keep me",)]
    assert query(path, "select count(*), count(distinct customer_id) from "
                       "features.customer_features") == [(result.customers, result.customers)]
    assert query(path, "select count(*) from features.customer_features_history "
                       "where run_id = ?", [result.run_id]) == [(result.customers,)]
    assert query(path, "select count(*) from cleaning.quarantine") == [
        (result.rows_quarantined,)]
    assert result.rows_quarantined > 0
    assert sorted(p.name for p in path.parent.iterdir() if p.is_file()) == [
        "segkit.duckdb", "segkit.duckdb.build.lock", "segkit.duckdb.previous"]
    # The previous generation is the live file as the user left it, their table too.
    assert query(Path(f"{path}.previous"), "select note from main.my_notes") == [("keep me",)]
