"""The Spark engine through a standalone Spark Connect server, as a Databricks user meets it.

A fixture starts a real server with pyspark's own ``sbin/start-connect-server.sh``
(a separate JVM process on a free port, ``local[2]``), and the builds run
through the CLI with ``[engine] remote = "sc://localhost:<port>"``. On Spark
Connect reads are lazy (a missing table shows only when an action runs), so
this is where the first build on an empty catalog must be tried; a session
``remote = "local[2]"`` (a server inside the client) hides nothing of that
kind but the process boundary.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import duckdb
import polars as pl
import pytest

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17 (apt-get install openjdk-17-jre-headless)",
                allow_module_level=True)

import segkit  # noqa: E402
from segkit.config import DEMO_DATA, EngineConfig  # noqa: E402
from segkit.errors import ConfigError  # noqa: E402
from tests.conftest import REPO, cdnow_config, query  # noqa: E402

pytestmark = [pytest.mark.slow,
              # pyspark's note on import; the Spark path uses Arrow and Polars, not pandas
              pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")]

# The server's JVM lives for a few small builds: C1 and the serial collector
# leave the cores to the jobs (see tests/test_spark.py).
SHORT_LIVED_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``sc://localhost:<port>`` of a Spark Connect server started for the module."""
    import pyspark

    home = Path(pyspark.__file__).parent
    script = home / "sbin" / "start-connect-server.sh"
    if not script.exists():
        pytest.skip(f"this pyspark has no {script.relative_to(home)}")
    folder = tmp_path_factory.mktemp("connect-server")
    port = _free_port()
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOG_DIR": str(folder / "logs"),
           "SPARK_PID_DIR": str(folder / "pid")}
    log = folder / "server.log"
    with open(log, "wb") as out:
        # --wait: the server runs in the foreground, in its own process group,
        # so the fixture stops exactly what it started.
        process = subprocess.Popen(
            ["bash", str(script), "--wait", "--master", "local[2]",
             "--conf", f"spark.connect.grpc.binding.port={port}",
             "--conf", f"spark.sql.warehouse.dir={folder / 'spark-warehouse'}",
             "--conf", "spark.sql.shuffle.partitions=4", "--conf", "spark.ui.enabled=false",
             "--driver-java-options", SHORT_LIVED_JVM],
            cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Spark Connect server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield f"sc://localhost:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def duckdb_segments(tmp_path_factory) -> pl.DataFrame:
    """The demo's segments from the DuckDB engine: what every Spark build must give."""
    folder = tmp_path_factory.mktemp("duck")
    result = segkit.build(cdnow_config(folder), engine="duckdb",
                          warehouse=folder / "segkit.duckdb")
    return pl.DataFrame(query(result.warehouse, "select customer_id, segment_id, segment_name "
                                                "from segments.customer_segments"),
                        schema=["customer_id", "segment_id", "segment_name"], orient="row")


def _config(folder: Path, server: str, engine: str = "", transactions: str | None = None
            ) -> Path:
    path = cdnow_config(folder)
    text = path.read_text()
    if transactions is not None:
        text = text.replace(f'path = "{DEMO_DATA}"', transactions)
    path.write_text(text + f'\n[engine]\nkind = "spark"\nremote = "{server}"\n{engine}')
    return path


def _build(config: Path, warehouse: Path) -> subprocess.CompletedProcess:
    """``segkit build`` in its own process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "segkit", "build", "--config", str(config),
                           "--warehouse", str(warehouse)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=1200)


def _run_id(done: subprocess.CompletedProcess) -> str:
    return done.stdout.strip().splitlines()[-1]


def _assert_same_segments(expected: pl.DataFrame, got: pl.DataFrame) -> None:
    got = got.select(expected.columns).cast(dict(expected.schema))
    assert got.height == expected.height == 23_502
    assert got.sort("customer_id").equals(expected.sort("customer_id"))


def _catalog(server: str, sql: str) -> pl.DataFrame:
    """A query on the server's catalog, from a client of its own (a new session)."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.remote(server).create()
    try:
        return pl.from_arrow(spark.sql(sql).toArrow())
    finally:
        spark.stop()


def test_first_and_second_build_on_an_empty_catalog(server, duckdb_segments, tmp_path):
    """The first build creates the catalog tables (no history to read yet), the
    second swaps its own in and keeps both builds in segment_history."""
    config = _config(tmp_path, server, 'database = "shop_segments"\n')
    first = _build(config, tmp_path / "wh" / "segkit.duckdb")
    assert first.returncode == 0, first.stderr[-3000:]
    second = _build(config, tmp_path / "wh" / "segkit.duckdb")
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"remote {server}" in second.stderr
    runs = [_run_id(first), _run_id(second)]
    segments = _catalog(server, "select customer_id, segment_id, segment_name, run_id "
                                "from shop_segments.customer_segments")
    assert segments["run_id"].unique().to_list() == [runs[1]]
    _assert_same_segments(duckdb_segments, segments)
    history = _catalog(server, "select run_id, count(*) as n from shop_segments.segment_history "
                               "group by run_id order by run_id")
    assert history.rows() == [(runs[0], 23_502), (runs[1], 23_502)]
    tables = _catalog(server, "show tables in shop_segments")["tableName"].to_list()
    assert not any(runs[0].lower().replace("-", "_") in t for t in tables)
    assert query(tmp_path / "wh" / "segkit.duckdb",
                 "select count(*) from meta.runs where status = 'success'") == [(2,)]


def test_output_path_build(server, duckdb_segments, tmp_path):
    lake = tmp_path / "lake"
    done = _build(_config(tmp_path, server, f'output_path = "{lake}"\n'),
                  tmp_path / "wh" / "segkit.duckdb")
    assert done.returncode == 0, done.stderr[-3000:]
    segments = pl.from_arrow(duckdb.sql(
        f"select * from read_parquet('{lake}/customer_segments/*.parquet')").arrow())
    _assert_same_segments(duckdb_segments, segments)
    assert sorted(p.name for p in lake.iterdir()) == [
        "customer_features", "customer_segments", "quarantine", "segment_changes",
        "segment_history"]


def _one_paragraph(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr and "Py4J" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def test_a_missing_source_table_is_one_paragraph_and_exit_3(server, tmp_path):
    done = _build(_config(tmp_path, server, transactions='table = "shop.no_such_orders"'),
                  tmp_path / "wh" / "segkit.duckdb")
    assert done.returncode == 3, done.stderr
    error = _one_paragraph(done)
    assert "TABLE_OR_VIEW_NOT_FOUND" in error and "no_such_orders" in error
    assert "reading the sources" in error


def test_nothing_at_the_address_is_one_paragraph_and_exit_2(tmp_path):
    port = _free_port()  # nothing listens there
    started = time.monotonic()
    done = _build(_config(tmp_path, f"sc://localhost:{port}/;token=secret-token"),
                  tmp_path / "wh" / "segkit.duckdb")
    assert done.returncode == 2, done.stderr
    error = _one_paragraph(done)
    assert f"nothing answers at localhost:{port}" in error
    assert "secret-token" not in done.stderr  # the address is shown without its token
    assert time.monotonic() - started < 120  # not the client's ten minutes of retries
    assert not (tmp_path / "wh" / "segkit.duckdb").exists()


def test_a_lost_connection_is_a_config_error():
    """A server that goes away mid-build: the client's retries end in one paragraph, exit 2."""
    from pyspark.sql import SparkSession
    from pyspark.sql.connect.client.retries import DefaultPolicy

    from segkit.spark import spark_errors

    gone = f"sc://localhost:{_free_port()}"
    spark = SparkSession.builder.remote(gone).create()
    # A few quick retries instead of the default ten minutes.
    spark.client.set_retry_policies([DefaultPolicy(max_retries=2, initial_backoff=10,
                                                   max_backoff=50, jitter=0)])
    engine = EngineConfig(kind="spark", remote=gone)
    try:
        with pytest.raises(ConfigError, match="lost the Spark engine .* while counting rows: "):
            with spark_errors(engine, "counting rows"):
                spark.range(3).count()
    finally:
        with warnings.catch_warnings(), contextlib.suppress(Exception):
            warnings.simplefilter("ignore")  # the release of the session retries too
            spark.stop()
