"""A damaged warehouse, a full disk, and `segkit restore`: real files, the real CLI.

Each build keeps the warehouse it replaces as ``<warehouse>.previous``. A live
file cut short or overwritten makes build, runs and report exit 5 with one
paragraph naming the file and `segkit restore`, and changes nothing; restore
puts the previous build back, readable by any DuckDB client. A disk that fills
up during a build (a small tmpfs) exits 5 with the room a build needs; the live
warehouse stays whole.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import segkit
from tests.conftest import SAMPLE_CUSTOMERS, cdnow_config, cdnow_sample, query
from tests.e2e.test_cli import segkit as segkit_cli
from tests.e2e.test_compatibility import _duckdb_15

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory):
    """Two builds of the demo sample into one warehouse: the live file and its previous."""
    folder = tmp_path_factory.mktemp("generations")
    config = cdnow_config(folder, path=cdnow_sample(folder))
    first = segkit.build(config).run_id
    second = segkit.build(config).run_id
    return folder, first, second


@pytest.fixture
def project(two_builds, tmp_path):
    """A copy of the two builds' folder (config, source, warehouse and its previous)."""
    folder, first, second = two_builds
    copy = tmp_path / "project"
    shutil.copytree(folder, copy)
    config = copy / "segkit.toml"
    config.write_text(config.read_text().replace(str(folder), str(copy)))
    return copy, first, second


def live(folder: Path) -> Path:
    return folder / "warehouse" / "segkit.duckdb"


def previous(folder: Path) -> Path:
    return Path(str(live(folder)) + ".previous")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def latest_build(path: Path) -> str:
    return query(path, "select run_id from segments.latest_run")[0][0]


def one_paragraph(done: subprocess.CompletedProcess) -> str:
    """The command's error: one paragraph on stderr, no traceback; whitespace joined."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return " ".join(lines[0].split())


def test_each_build_keeps_the_warehouse_it_replaces_beside_the_live_file(two_builds):
    folder, first, second = two_builds
    assert latest_build(live(folder)) == second
    assert latest_build(previous(folder)) == first
    # Two files, not two names of one: damage to one cannot reach the other.
    assert not os.path.samefile(live(folder), previous(folder))
    names = sorted(p.name for p in live(folder).parent.iterdir() if p.is_file())
    assert names == ["segkit.duckdb", "segkit.duckdb.build.lock", "segkit.duckdb.previous"]


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_warehouse_is_one_paragraph_and_restore_brings_back_the_previous_build(
        project, damage):
    folder, first, second = project
    wh = live(folder)
    size = wh.stat().st_size
    if damage == "truncated":  # a full disk, an interrupted copy
        os.truncate(wh, size // 2)
    else:
        wh.write_bytes(os.urandom(size))
    damaged = sha256(wh)
    kept = sha256(previous(folder))

    score = ["score", "--input", str(folder / "cdnow_sample.csv"), "--output",
             str(folder / "scored.csv")]
    for command in (["build", "--no-map"], ["runs"], ["report"], score):
        done = segkit_cli(*command, cwd=folder)
        assert done.returncode == 5, (command, done.stderr)
        err = one_paragraph(done)
        assert err.startswith(f"Error: the warehouse {wh} is damaged and cannot be read whole (")
        assert (f"Put back the previous generation, kept beside it as {previous(folder)} "
                f"(build {first}, finished ") in err
        assert "with `python -m segkit restore`, then build again." in err
        # Nothing is lost: neither file changed, no next file is left.
        assert sha256(wh) == damaged and sha256(previous(folder)) == kept
        assert not Path(str(wh) + ".next").exists()

    done = segkit_cli("restore", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == first
    err = " ".join(done.stderr.split())
    assert (f"Restored the previous generation of {wh}: its latest build is now {first} "
            f"(finished ") in err
    assert f"{SAMPLE_CUSTOMERS:,} customers in " in err
    assert f"The damaged file it replaced is kept as {previous(folder)}" in err
    # A plain DuckDB client reads the restored build.
    con = duckdb.connect(str(wh), read_only=True)
    try:
        assert con.execute("select run_id from segments.latest_run").fetchall() == [(first,)]
        assert con.execute("select count(*) from segments.customer_segments").fetchall() == [
            (SAMPLE_CUSTOMERS,)]
    finally:
        con.close()
    cli = _duckdb_15()
    if cli is not None:  # the duckdb-cli 1.5 package of the test dependencies
        read = subprocess.run([cli, "-readonly", "-csv", "-noheader", str(wh), "-c",
                               "select count(*) from segments.customer_segments"],
                              capture_output=True, text=True, timeout=120)
        assert read.returncode == 0 and read.stdout.split() == [str(SAMPLE_CUSTOMERS)], read
    assert sha256(previous(folder)) == damaged  # kept, not deleted
    # The failed builds are listed; the undone one too when its runs could be read.
    runs = segkit.runs(folder / "segkit.toml", limit=100)
    statuses = dict(zip(runs["run_id"], runs["status"]))
    assert statuses[first] == "success"
    assert set(statuses.values()) == {"success", "failed"}
    if second in statuses:
        error = runs.filter(runs["run_id"] == second)["error"][0]
        assert error.startswith("undone by `segkit restore` at ")

    # The next build works again, and keeps the restored file as its previous.
    done = segkit_cli("build", "--no-map", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert latest_build(previous(folder)) == first
    assert latest_build(wh) == done.stdout.strip()


def test_restoring_twice_undoes_the_first(project):
    folder, first, second = project
    before = sha256(live(folder))
    done = segkit_cli("restore", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert latest_build(live(folder)) == first and latest_build(previous(folder)) == second
    err = " ".join(done.stderr.split())
    assert (f"The file it replaced (build {second}) is kept as {previous(folder)}: "
            "`python -m segkit restore` again puts it back.") in err
    assert "1 run(s) recorded only in the replaced file" in err
    runs = segkit.runs(folder / "segkit.toml")
    undone = runs.filter(runs["run_id"] == second).row(0, named=True)
    assert undone["status"] == "failed" and undone["error"].startswith("undone by `segkit restore`")

    done = segkit_cli("restore", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == second
    assert sha256(live(folder)) == before  # the very file, byte for byte
    runs = segkit.runs(folder / "segkit.toml")
    assert dict(zip(runs["run_id"], runs["status"])) == {first: "success", second: "success"}


def test_a_crashed_clients_wal_goes_with_its_file_to_the_previous_generation_and_back(
        project):
    folder, _, second = project
    wh = live(folder)
    # A client that wrote, then died before checkpointing: its writes are only in the WAL.
    subprocess.run([sys.executable, "-c", (
        "import duckdb, os, sys; con = duckdb.connect(sys.argv[1]); "
        "con.execute(\"set checkpoint_threshold = '1TB'\"); "
        "con.execute('create table main.crashed as select 3 as x'); os._exit(0)"), str(wh)],
        check=True, timeout=60)
    assert Path(f"{wh}.wal").exists()
    done = segkit_cli("build", "--no-map", cwd=folder)
    assert done.returncode == 0, done.stderr
    # The new build carried the client's table over; the previous generation keeps its WAL.
    assert not Path(f"{wh}.wal").exists() and Path(f"{previous(folder)}.wal").exists()
    assert query(wh, "select x from main.crashed") == [(3,)]
    assert query(previous(folder), "select x from main.crashed") == [(3,)]
    assert latest_build(previous(folder)) == second

    done = segkit_cli("restore", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == second
    # Restored with the WAL folded in: no WAL beside either name.
    assert latest_build(wh) == second and query(wh, "select x from main.crashed") == [(3,)]
    assert not Path(f"{wh}.wal").exists() and not Path(f"{previous(folder)}.wal").exists()


def test_a_reader_holding_the_live_file_keeps_its_build_through_a_restore(project):
    folder, first, second = project
    held = duckdb.connect(str(live(folder)), read_only=True)
    try:
        done = segkit_cli("restore", cwd=folder)
        assert done.returncode == 0, done.stderr
        assert held.execute("select run_id from segments.latest_run").fetchall() == [(second,)]
    finally:
        held.close()
    assert latest_build(live(folder)) == first


def test_restore_after_the_live_file_was_moved_aside(project):
    folder, first, _ = project
    live(folder).rename(folder / "damaged.duckdb")
    done = segkit_cli("restore", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == first and latest_build(live(folder)) == first
    assert "kept as" not in done.stderr  # nothing was replaced
    assert sha256(previous(folder)) == sha256(live(folder))  # restored from a copy of it


def test_restore_without_a_previous_generation_says_so(tmp_path):
    config = cdnow_config(tmp_path, path=cdnow_sample(tmp_path))
    segkit.build(config)
    done = segkit_cli("restore", cwd=tmp_path)
    assert done.returncode == 3
    err = one_paragraph(done)
    assert err.startswith(f"Error: nothing to restore: no previous generation of "
                          f"{live(tmp_path)} is kept beside it (segkit.duckdb.previous does "
                          "not exist).")


def test_a_damaged_previous_generation_is_not_restored(project):
    folder, _, second = project
    os.truncate(previous(folder), previous(folder).stat().st_size // 2)
    before = sha256(live(folder))
    done = segkit_cli("restore", cwd=folder)
    assert done.returncode == 5
    err = one_paragraph(done)
    assert err.startswith(f"Error: cannot restore: the previous generation {previous(folder)} "
                          "is damaged (")
    assert "nothing was changed and the live warehouse stays as it is" in err
    assert sha256(live(folder)) == before and latest_build(live(folder)) == second


# -- a full disk ----------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs file system of its own, resized by the test (``mount -o remount,size=``)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root in a system that allows "
                    f"mounts): {mounted.stderr.strip()}")

    def resize(size: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(disk)], check=True)

    try:
        yield disk, resize
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def used(disk: Path) -> int:
    st = os.statvfs(disk)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


@pytest.mark.parametrize("room", ["for the copy", "for the copy but not the writes"])
def test_a_disk_that_fills_up_during_a_build_is_a_clear_error(small_disk, tmp_path, room):
    disk, resize = small_disk
    config = cdnow_config(tmp_path, path=cdnow_sample(tmp_path))
    wh = disk / "segkit.duckdb"
    for _ in range(2):
        done = segkit_cli("build", "--no-map", "--warehouse", str(wh), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    published = done.stdout.strip()
    before = {p: sha256(p) for p in (wh, Path(f"{wh}.previous"))}

    # Too little room for the next warehouse: not even its copy of the live file, or
    # the copy and not the build's rows.
    extra = 256 * 1024 if room == "for the copy" else wh.stat().st_size + 256 * 1024
    resize(used(disk) + extra)
    done = segkit_cli("build", "--no-map", "--warehouse", str(wh), cwd=tmp_path)
    assert done.returncode == 5, done.stderr
    assert "Traceback" not in done.stderr
    err = " ".join(done.stderr.split())
    assert f"Error: the disk holding the warehouse folder {disk} is full (" in err
    if room == "for the copy":  # the copy of the live file failed
        assert "is full (No space left on device), so nothing was published" in err
    else:  # DuckDB's write into the copy (its WAL, or the checkpoint) failed
        assert f'Could not write file "{wh}.next' in err and "No space left on device" in err
    assert f"so nothing was published: the live warehouse {wh} is unchanged. A build needs " \
           "about " in err
    assert f"(deleting {wh}.previous gives back " in err
    # The live warehouse and its previous generation are whole and readable.
    assert {p: sha256(p) for p in before} == before
    assert latest_build(wh) == published
    assert query(wh, "select count(*) from segments.customer_segments") == [(SAMPLE_CUSTOMERS,)]
    assert not Path(f"{wh}.next").exists() and not Path(f"{wh}.next.wal").exists()
    assert [r[1] for r in segkit_runs(tmp_path, wh)][:1] == ["failed"]

    # With the room the message asks for, the next build publishes.
    resize(64 * 1024 * 1024)
    done = segkit_cli("build", "--no-map", "--warehouse", str(wh), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert latest_build(Path(f"{wh}.previous")) == published


def segkit_runs(folder: Path, wh: Path) -> list[tuple]:
    runs = segkit.runs(folder / "segkit.toml", warehouse=wh)
    return list(zip(runs["run_id"], runs["status"]))
