"""PostgreSQL on the Spark engine (JDBC, local[2]): the demo from PostgreSQL gives the
CSV build's segments, profiles and accounting.

The build runs in its own process: the JDBC jar goes on ``spark.jars`` when the
session starts, and a session another test left running would not take it.
"""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from tests.conftest import REPO, query, write_config
from tests.postgres import postgres_server  # noqa: F401 - the fixture
from tests.test_sources import FAST, MAPPING, csv_build  # noqa: F401 - the fixture
from tests.test_sources_postgres import demo_in_postgres  # noqa: F401 - the fixture

pytest.importorskip("pyspark")


def test_postgresql_through_jdbc_gives_the_csv_builds_results(tmp_path, demo_in_postgres,
                                                               csv_build):
    server = demo_in_postgres
    config = write_config(tmp_path, f'[transactions]\nconnection = "{server.url}"\n'
                          f'table = "sales.orders"\n{MAPPING}\n{FAST}\n[engine]\n'
                          'kind = "spark"\nmaster = "local[2]"\noutput_path = "lake"\n'
                          'conf = { "spark.sql.shuffle.partitions" = "2" }\n')
    done = subprocess.run([sys.executable, "-m", "segkit", "build", "--config", str(config)],
                          env={**server.env(), "PYTHONPATH": str(REPO)}, cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert server.password not in done.stdout + done.stderr
    segments = duckdb.sql(f"select customer_id, segment_id, segment_name from read_parquet("
                          f"'{tmp_path}/lake/customer_segments/*.parquet') order by customer_id"
                          ).fetchall()
    assert segments == csv_build["segments"]
    warehouse = tmp_path / "warehouse" / "segkit.duckdb"
    accounting = query(warehouse, "select source, reason, n_rows from meta.row_accounting "
                                  "order by all")
    assert accounting == csv_build["accounting"]
    profiles = query(warehouse, "select * exclude (run_id) from segments.segment_profiles "
                                "order by all")
    assert len(profiles) == len(csv_build["profiles"])
    for got, want in zip(profiles, csv_build["profiles"]):
        assert got == pytest.approx(want) if all(
            isinstance(v, (int, float)) for v in got) else [
            pytest.approx(g) if isinstance(g, float) else g for g in got] == list(want)
