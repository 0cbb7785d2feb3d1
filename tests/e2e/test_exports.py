"""Exports as users meet them: real builds, a real PostgreSQL, real Parquet and CSV files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

import segkit
from segkit.exports import pg_type
from tests.conftest import cdnow_sample, query, write_config
from tests.postgres import postgres_server  # noqa: F401 - the fixture

MODEL = """
    [model]
    map = false
    k = 4
    n_resamples = 5
    baseline_resamples = 0
    [backtest]
    enabled = false
    [mlflow]
    enabled = false
"""


def _config(folder: Path, export: str) -> Path:
    sample = cdnow_sample(folder)
    return write_config(folder, f"""
        warehouse = "warehouse/segkit.duckdb"
        reports_dir = "reports"
        [transactions]
        path = "{sample}"
        customer_id = "customer_id"
        timestamp = "purchase_date"
        amount = "dollar_value"
        {MODEL}
        [export]
        {export}
    """)


def segkit_cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segkit", *args], cwd=cwd, text=True,
                          capture_output=True, env={**os.environ, **(env or {})}, timeout=600)


def _customers(warehouse: Path, run_id: str) -> int:
    return query(warehouse, "select customers from meta.runs where run_id = ?", [run_id])[0][0]


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory):
    """Two builds (as of two days) exported to Parquet and CSV, history of both kept."""
    folder = tmp_path_factory.mktemp("exports")
    config = _config(folder, 'parquet = "exports/"\ncsv = "exports/"')
    first = segkit.build(config, as_of="1997-03-15")
    second = segkit.build(config)
    return {"folder": folder, "config": config, "first": first.run_id,
            "second": second.run_id, "warehouse": folder / "warehouse" / "segkit.duckdb"}


def test_a_build_exports_the_current_tables_to_parquet_and_csv(two_builds):
    folder, warehouse = two_builds["folder"], two_builds["warehouse"]
    exports = folder / "exports"
    assert sorted(p.name for p in exports.iterdir()) == [
        "customer_segments.csv", "customer_segments.parquet",
        "segment_changes.csv", "segment_changes.parquet",
        "segment_profiles.csv", "segment_profiles.parquet"]  # no temporary file left
    live = sorted(query(warehouse, "select * from segments.customer_segments"))
    con = duckdb.connect()
    assert sorted(con.sql(f"select * from '{exports}/customer_segments.parquet'")
                  .fetchall()) == live
    from_csv = con.sql(f"select count(*), count(distinct customer_id), min(run_id), "
                       f"max(run_id) from read_csv('{exports}/customer_segments.csv', "
                       "all_varchar = true)").fetchall()[0]
    assert from_csv == (len(live), len(live), two_builds["second"], two_builds["second"])
    profiles = sorted(query(warehouse, "select * from segments.segment_profiles"))
    assert sorted(con.sql(f"select * from '{exports}/segment_profiles.parquet'")
                  .fetchall()) == profiles


def test_export_of_a_past_build_gives_what_its_views_showed(two_builds, tmp_path):
    warehouse, first = two_builds["warehouse"], two_builds["first"]
    config = _config(tmp_path, f'parquet = "{tmp_path}/past"')
    done = segkit.export(first, config=config, warehouse=warehouse)
    assert done.run_id == first
    assert done.rows["segments.customer_segments"] == _customers(warehouse, first)
    rows = duckdb.connect().sql(
        f"select customer_id, segment_id, segment_name, run_id, distance_to_centroid "
        f"from '{tmp_path}/past/customer_segments.parquet'").fetchall()
    history = query(warehouse, "select customer_id, segment_id, segment_name, run_id, "
                               "distance_to_centroid from segments.segment_history "
                               "where run_id = ?", [first])
    assert sorted(rows) == sorted(history) and len(rows) > 0
    # the default is the latest successful build
    assert segkit.export(config=config, warehouse=warehouse).run_id == two_builds["second"]


def test_a_build_older_than_the_history_kept_is_refused_with_the_builds_that_can(
        two_builds, tmp_path):
    target = tmp_path / "warehouse" / "segkit.duckdb"
    target.parent.mkdir()
    shutil.copy(two_builds["warehouse"], target)
    con = duckdb.connect(str(target))
    con.execute("delete from segments.segment_history where run_id = ?", [two_builds["first"]])
    con.close()
    config = _config(tmp_path, 'csv = "out/"')
    done = segkit_cli("export", two_builds["first"], "--config", str(config), cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert "history_builds" in done.stderr and two_builds["second"] in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_table_added_to_the_warehouse_is_exported_with_its_types(
        two_builds, tmp_path, postgres_server, monkeypatch):
    """A table of the exported list is exported as the warehouse holds it, with its own
    columns: DECIMAL keeps its scale, dates stay dates."""
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    target = tmp_path / "warehouse" / "segkit.duckdb"
    target.parent.mkdir()
    shutil.copy(two_builds["warehouse"], target)
    con = duckdb.connect(str(target))
    con.execute("""
        create or replace table segments.segment_changes as
        select run_id, customer_id, segment_id as to_segment_id,
               date '1998-06-30' as changed_on,
               timestamp '1998-06-30 12:34:56.789' as changed_at,
               cast('12.3456' as decimal(18, 4)) as spend,
               cast(2 as hugeint) as big, [1.5, 2.5]::double[] as scores
        from segments.segment_history""")
    con.close()
    config = _config(tmp_path, f'postgres = "{postgres_server.url}"\nschema = "types_test"')
    done = segkit.export(config=config)
    n = _customers(target, two_builds["second"])
    assert done.rows["segments.segment_changes"] == n
    types = dict(line.split("|") for line in postgres_server.psql(
        "select column_name, format_type(atttypid, atttypmod) from information_schema.columns "
        "c join pg_attribute a on a.attrelid = 'types_test.segment_changes'::regclass "
        "and a.attname = c.column_name where table_schema = 'types_test' "
        "and table_name = 'segment_changes'").splitlines())
    assert types["spend"] == "numeric(18,4)" and types["big"] == "numeric(38,0)"
    assert types["changed_on"] == "date"
    assert types["changed_at"] == "timestamp without time zone"
    assert types["to_segment_id"] == "integer" and types["scores"] == "double precision[]"
    assert postgres_server.psql(
        "select count(*), count(distinct run_id), min(run_id), sum(spend), "
        "min(changed_at)::text, min(changed_on)::text from types_test.segment_changes"
    ).strip() == (f"{n}|1|{two_builds['second']}|{n * 12.3456:.4f}|1998-06-30 12:34:56.789|"
                  "1998-06-30")


def test_pg_type_maps_duckdb_types_faithfully():
    assert pg_type("DECIMAL(38,6)") == ("numeric(38, 6)", None)
    assert pg_type("TIMESTAMP WITH TIME ZONE") == ("timestamptz", None)
    assert pg_type("UBIGINT") == ("numeric(20, 0)", "decimal(20, 0)")
    assert pg_type("VARCHAR[]") == ("text[]", None)
    assert pg_type("STRUCT(a INTEGER)") == ("text", "varchar")


def test_a_polling_reader_never_sees_a_missing_or_partial_table(tmp_path, postgres_server,
                                                                  monkeypatch):
    """[export] postgres: one row per customer; during three builds every read is one
    whole build, and the grants and views others put on the table stay."""
    import adbc_driver_postgresql.dbapi as pg

    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    config = _config(tmp_path, f'postgres = "{postgres_server.url}"\nschema = "segkit"')
    warehouse = tmp_path / "warehouse" / "segkit.duckdb"
    first = segkit.build(config, as_of="1997-02-15")
    assert not first.warnings or all("export" not in w for w in first.warnings)
    postgres_server.psql("drop role if exists crm_sync; create role crm_sync; "
                         "grant usage on schema segkit to crm_sync; "
                         "grant select on segkit.customer_segments to crm_sync; "
                         "create schema if not exists crm; create or replace view "
                         "crm.by_segment as select segment_name, count(*) as n "
                         "from segkit.customer_segments group by segment_name")
    seen: list[tuple] = []
    stop = threading.Event()
    failures: list[BaseException] = []

    def poll() -> None:
        try:
            conn = pg.connect(postgres_server.url)
            conn.adbc_connection.set_autocommit(True)
            cur = conn.cursor()
            while not stop.is_set():
                cur.execute("select count(*), count(distinct customer_id), "
                            "count(distinct run_id), min(run_id) from segkit.customer_segments")
                seen.append(cur.fetchone())
                time.sleep(0.005)
            conn.close()
        except BaseException as exc:  # a missing table ends the poll: the test fails
            failures.append(exc)

    thread = threading.Thread(target=poll)
    thread.start()
    try:
        runs = [segkit.build(config, as_of=day).run_id
                for day in ("1997-03-01", "1997-03-20", None)]
    finally:
        stop.set()
        thread.join()
    assert not failures, failures
    customers = {r: _customers(warehouse, r) for r in [first.run_id, *runs]}
    assert len(set(customers.values())) == 4  # each build has its own number of customers
    for count, distinct, n_runs, run in seen:
        assert n_runs == 1 and count == distinct == customers[run], (count, run)
    assert {run for *_, run in seen} >= {first.run_id, runs[-1]}
    assert postgres_server.psql("select count(*), count(distinct customer_id), min(run_id) "
                                "from segkit.customer_segments").strip() == \
        f"{customers[runs[-1]]}|{customers[runs[-1]]}|{runs[-1]}"
    # the view and the grant others made survived three exports
    assert int(postgres_server.psql("select sum(n) from crm.by_segment")) == customers[runs[-1]]
    assert postgres_server.psql(
        "select has_table_privilege('crm_sync', 'segkit.customer_segments', 'select')"
    ).strip() == "t"


def test_a_password_in_the_url_is_a_config_error_and_never_printed(tmp_path):
    config = _config(tmp_path, 'postgres = "postgresql://crm:hunter2-secret@127.0.0.1:1/crm"')
    for args in (("build",), ("export",)):
        done = segkit_cli(*args, "--config", str(config), cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert "holds a password" in done.stderr and "PGPASSWORD" in done.stderr
        assert "hunter2" not in done.stderr + done.stdout
    assert not (tmp_path / "warehouse" / "segkit.duckdb").exists()  # no build ran


def test_a_database_down_after_publish_is_a_warning_and_export_retries(tmp_path):
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    url = f"postgresql://crm@127.0.0.1:{port}/crm"
    config = _config(tmp_path, f'postgres = "{url}"\ncsv = "exports/"')
    env = {"PGPASSWORD": "pw-never-shown-9876"}
    done = segkit_cli("build", "--config", str(config), cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    assert f"the build {run_id} is published, but its export failed" in done.stderr
    assert f"python -m segkit export {run_id}" in done.stderr
    assert f"127.0.0.1:{port}" in done.stderr
    # the file destination was written all the same
    assert (tmp_path / "exports" / "customer_segments.csv").exists()
    again = segkit_cli("export", run_id, "--config", str(config), cwd=tmp_path, env=env)
    assert again.returncode == 3, again.stderr
    assert "cannot connect to PostgreSQL" in again.stderr and url in again.stderr
    assert "Traceback" not in again.stderr
    assert "pw-never-shown-9876" not in done.stderr + again.stderr + again.stdout
