"""PostgreSQL sources on a real server: the demo loaded into PostgreSQL gives the CSV
build's results; the password never leaves the environment; a server that is down
is a clear error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import segkit
from segkit.config import DEMO_DATA
from segkit.errors import InputError
from tests.conftest import REPO, query, write_config
from tests.postgres import postgres_server  # noqa: F401 - the fixture
from tests.test_sources import FAST, MAPPING, csv_build, results  # noqa: F401 - the fixture

pytest.importorskip("adbc_driver_postgresql")


@pytest.fixture(scope="module")
def demo_in_postgres(postgres_server):  # noqa: F811
    """The demo in sales.orders, amounts as numeric(12,4), dates as dates."""
    server = postgres_server
    server.psql("drop schema if exists sales cascade; create schema sales; "
                "create table sales.orders (customer_id text, purchase_date date, "
                "cd_count integer, dollar_value numeric(12, 4))")
    server.psql(f"\\copy sales.orders from '{DEMO_DATA}' with (format csv, header true)")
    return server


@pytest.fixture
def pg_env(demo_in_postgres, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", demo_in_postgres.password)
    return demo_in_postgres


def _config(folder, server, source: str, extra: str = FAST):
    return write_config(folder, f'[transactions]\nconnection = "{server.url}"\n{source}\n'
                                f"{MAPPING}\n{extra}")


def test_a_postgresql_table_gives_the_csv_builds_results(tmp_path, pg_env, csv_build):
    segkit.build(_config(tmp_path, pg_env, 'table = "sales.orders"'))
    warehouse = tmp_path / "warehouse" / "segkit.duckdb"
    assert results(warehouse) == csv_build
    # A plain DuckDB client cannot read PostgreSQL: the live views read an empty
    # stand-in of the source's columns (and do not fail).
    assert query(warehouse, "select count(*) from segments.live_segments") == [(0,)]
    assert query(warehouse, "select typeof(amount) from staging.transactions") == []
    # `segkit score` reads today's rows through the source.
    from segkit import scoring
    from segkit.config import load_config

    cfg = load_config(tmp_path / "segkit.toml")
    done = scoring.score(cfg, None, tmp_path / "scored.csv")
    assert done["scored"] == len(csv_build["segments"])


def test_a_postgresql_query_is_run_by_postgresql(tmp_path, pg_env):
    # date_trunc and ::casts are PostgreSQL's SQL; the numeric keeps its scale
    source = ('query = "select customer_id, date_trunc(\'day\', purchase_date)::timestamptz '
              'as purchase_date, dollar_value::numeric(14, 2) as dollar_value '
              'from sales.orders where customer_id < \'00200\'"')
    done = segkit.build(_config(tmp_path, pg_env, source))
    assert done.customers > 0
    warehouse = tmp_path / "warehouse" / "segkit.duckdb"
    assert query(warehouse, "select typeof(amount) from staging.transactions limit 1") == []


def test_timestamptz_is_read_in_utc_whatever_the_machine_time_zone(tmp_path, pg_env):
    pg_env.psql("drop table if exists sales.tz; create table sales.tz as "
                "select 'c1'::text as customer_id, '2024-03-01 23:30:00+00'::timestamptz "
                "as purchase_date, 10.5::numeric(8, 2) as dollar_value")
    code = f"""
import duckdb, segkit.sources as s
from segkit.config import load_config
cfg = load_config({str(_config(tmp_path, pg_env, 'table = "sales.tz"'))!r})
con = duckdb.connect()
opened = s.open_sources(con, cfg)["transactions"]
print(con.execute(f"select purchase_date::varchar, typeof(dollar_value) from {{opened.read}}").fetchall())
"""
    for zone in ("Asia/Tokyo", "America/Los_Angeles"):
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "TZ": zone,
                             "PYTHONPATH": str(REPO)}, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "[('2024-03-01 23:30:00', 'DECIMAL(8,2)')]"


def test_the_password_appears_in_no_output(tmp_path, demo_in_postgres):
    server = demo_in_postgres
    config = _config(tmp_path, server, 'table = "sales.orders"',
                     extra="[model]\nmap = false\n")  # MLflow on: its store is searched too
    done = subprocess.run([sys.executable, "-m", "segkit", "build", "--config", str(config)],
                          env={**server.env(), "PYTHONPATH": str(REPO)}, cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    secret = server.password.encode()
    assert secret not in (done.stdout + done.stderr).encode()
    searched = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in searched)  # the report
    assert any(p.suffix == ".duckdb" for p in searched)  # the warehouse
    assert any("mlflow" in str(p) or "mlruns" in str(p) for p in searched)  # MLflow's store
    leaked = [p for p in searched if secret in p.read_bytes()]
    assert not leaked


def test_a_server_that_is_down_is_exit_3_naming_the_connection(tmp_path, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "not-shown-anywhere")
    config = write_config(tmp_path, '[transactions]\n'
                          'connection = "postgresql://shop@127.0.0.1:9/orders"\n'
                          f'table = "sales.orders"\n{MAPPING}\n{FAST}')
    done = subprocess.run([sys.executable, "-m", "segkit", "build", "--config", str(config)],
                          env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 3
    assert "cannot connect to PostgreSQL at postgresql://shop@127.0.0.1:9/orders" in done.stderr
    assert "Traceback" not in done.stderr and "not-shown-anywhere" not in done.stderr


def test_a_missing_table_names_it(tmp_path, pg_env):
    with pytest.raises(InputError, match='sales.no_such.*does not exist'):
        segkit.build(_config(tmp_path, pg_env, 'table = "sales.no_such"'))


def test_jdbc_options_take_the_password_from_pgpass_not_the_url(tmp_path, monkeypatch):
    from segkit.sources.postgres import jdbc_options

    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.delenv("PGSERVICE", raising=False)
    pgpass = tmp_path / "pgpass"
    pgpass.write_text("other:5432:*:me:nope\ndb.example.com:5433:shop:me:from-pgpass\n")
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    options = jdbc_options("postgresql://me@db.example.com:5433/shop")
    assert options["url"] == "jdbc:postgresql://db.example.com:5433/shop"
    assert (options["user"], options["password"]) == ("me", "from-pgpass")
    service = tmp_path / "services"
    service.write_text("[crm]\nhost=pg.internal\nport=6543\ndbname=crm\nuser=svc\n"
                       "password=from-service\n")
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    monkeypatch.setenv("PGSERVICE", "crm")
    options = jdbc_options("postgresql://")
    assert options["url"] == "jdbc:postgresql://pg.internal:6543/crm"
    assert (options["user"], options["password"]) == ("svc", "from-service")


def test_init_source_reads_a_postgresql_table(tmp_path, pg_env):
    from segkit.api import init
    from segkit.config import load_config

    init(tmp_path / "segkit.toml", source=pg_env.url, table="sales.orders")
    text = (tmp_path / "segkit.toml").read_text()
    assert f'connection = "{pg_env.url}"' in text and 'table = "sales.orders"' in text
    assert 'timestamp = "purchase_date"  # a date column' in text
    assert 'amount = "dollar_value"' in text
    assert pg_env.password not in text
    assert load_config(tmp_path / "segkit.toml").transactions.customer_id == "customer_id"
