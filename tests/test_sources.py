"""Sources: one class per kind, its config rules, and builds from each kind that give
the CSV build's results (a SQL query over Parquet files, another DuckDB file)."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest

import segkit
from segkit.config import DEMO_DATA, load_config
from segkit.errors import ConfigError, InputError, WarehouseBusyError
from segkit.sources import (AttachedTable, FileSource, PostgresSource, SqlSource,
                            WarehouseTable, source_for)
from segkit.sources.query import resolve_paths
from tests.conftest import REPO, query, write_config

MAPPING = """
customer_id = "customer_id"
timestamp = "purchase_date"
amount = "dollar_value"
"""
FAST = """
[model]
map = false
[mlflow]
enabled = false
"""


def _config(folder, source: str, *, extra: str = FAST):
    return write_config(folder, f"[transactions]\n{source}\n{MAPPING}\n{extra}")


# -- the config rules --------------------------------------------------------------

@pytest.mark.parametrize("source, kind", [
    (f'path = "{DEMO_DATA}"', FileSource),
    ('table = "raw.orders"', WarehouseTable),
    (f'attach = "{DEMO_DATA}"\ntable = "marts.orders"', AttachedTable),
    ("sql = \"select * from read_csv('x.csv')\"", SqlSource),
    ('connection = "postgresql://me@db:5432/shop"\ntable = "sales.orders"', PostgresSource),
    ('connection = "postgresql://me@db/shop"\nquery = "select 1"', PostgresSource),
])
def test_each_kind_is_chosen_by_its_keys(tmp_path, source, kind):
    cfg = load_config(_config(tmp_path, source))
    assert type(source_for(cfg.transactions, "transactions", cfg)) is kind


@pytest.mark.parametrize("source, words", [
    (f'path = "{DEMO_DATA}"\ntable = "raw.orders"', "exactly one of"),
    (f'attach = "{DEMO_DATA}"', "exactly one of"),
    ('query = "select 1"', "exactly one of"),
    (f"path = \"{DEMO_DATA}\"\nsql = \"select 1\"", "exactly one of"),
    ('connection = "postgresql://me@db/shop"', "exactly one of table"),
    ('connection = "postgresql://me@db/shop"\ntable = "a"\nquery = "select 1"',
     "exactly one of table"),
    ('connection = "mysql://me@db/shop"\ntable = "a"', "must start with postgresql://"),
    ('sql = "  ;"', "holds no query"),
    ('table = "raw.orders; drop table x"', "is not a table name"),
])
def test_bad_source_keys_are_config_errors(tmp_path, source, words):
    with pytest.raises(ConfigError, match=words):
        load_config(_config(tmp_path, source))


@pytest.mark.parametrize("url", ["postgresql://me:hunter2@db:5432/shop",
                                 "postgresql://me@db/shop?password=hunter2"])
def test_a_password_in_the_url_is_a_config_error_that_does_not_repeat_it(tmp_path, url):
    with pytest.raises(ConfigError, match="PGPASSWORD") as err:
        load_config(_config(tmp_path, f'connection = "{url}"\ntable = "sales.orders"'))
    assert "hunter2" not in str(err.value)


def test_attach_on_spark_is_a_config_error(tmp_path):
    other = tmp_path / "analytics.duckdb"
    duckdb.connect(str(other)).close()
    with pytest.raises(ConfigError, match="DuckDB engine only"):
        load_config(_config(tmp_path, 'attach = "analytics.duckdb"\ntable = "orders"',
                            extra=FAST + '[engine]\nkind = "spark"\n'))


def test_relative_paths_in_sql_resolve_against_the_config_folder(tmp_path):
    sql = ("select o.*, l.amount, 'orders/x.parquet' as note from "
           "read_parquet('orders/*.parquet') o join read_csv(['a.csv', '/abs/b.csv']) l "
           "using (id) join 'c.parquet' c using (id) join read_json('s3://b/k.json') s using (id)")
    done = resolve_paths(sql, tmp_path)
    assert f"read_parquet('{tmp_path}/orders/*.parquet')" in done
    assert f"read_csv(['{tmp_path}/a.csv', '/abs/b.csv'])" in done
    assert f"join '{tmp_path}/c.parquet' c" in done
    assert "'s3://b/k.json'" in done and "'orders/x.parquet' as note" in done
    spark = resolve_paths("select * from parquet.`orders` o", tmp_path)
    assert spark == f"select * from parquet.`{tmp_path}/orders` o"


# -- builds from each kind give the CSV build's results --------------------------------

def results(warehouse) -> dict:
    """What a build computed, comparable between sources."""
    return {
        "segments": query(warehouse, "select customer_id, segment_id, segment_name "
                                     "from segments.customer_segments order by customer_id"),
        "profiles": query(warehouse, "select * exclude (run_id) from segments.segment_profiles "
                                     "order by all"),
        "accounting": query(warehouse, "select source, reason, n_rows from meta.row_accounting "
                                       "where run_id = (select run_id from segments.latest_run) "
                                       "order by all"),
    }


@pytest.fixture(scope="module")
def csv_build(tmp_path_factory):
    folder = tmp_path_factory.mktemp("csv")
    segkit.build(_config(folder, f'path = "{DEMO_DATA}"'))
    return results(folder / "warehouse" / "segkit.duckdb")


def split_demo(folder):
    """The demo as an orders table (order id, customer, date) and a lines table
    (order id, amount), in Parquet."""
    con = duckdb.connect()
    con.execute(f"create table demo as select row_number() over () as order_id, * from "
                f"read_csv('{DEMO_DATA}', all_varchar = true)")
    (folder / "orders").mkdir()
    con.execute(f"copy (select order_id, customer_id, purchase_date from demo) to "
                f"'{folder}/orders/part-0.parquet'")
    con.execute(f"copy (select order_id, dollar_value from demo order by order_id desc) to "
                f"'{folder}/lines.parquet'")
    con.close()


def test_sql_joining_orders_and_lines_gives_the_csv_builds_results(tmp_path, csv_build):
    project = tmp_path / "project"
    project.mkdir()
    split_demo(project)
    config = _config(project, "sql = \"\"\"\nselect o.customer_id, o.purchase_date, "
                              "l.dollar_value\nfrom read_parquet('orders/*.parquet') o\n"
                              "join 'lines.parquet' l using (order_id)\n\"\"\"")
    segkit.build(config)
    warehouse = project / "warehouse" / "segkit.duckdb"
    assert results(warehouse) == csv_build
    # The live views read the files by absolute path: a client anywhere reads them.
    elsewhere = subprocess.run(
        [sys.executable, "-c", "import duckdb; print(duckdb.connect(r'%s', read_only=True)"
         ".execute('select count(*) from segments.live_segments').fetchone()[0])" % warehouse],
        cwd=tmp_path, capture_output=True, text=True, check=True)
    assert int(elsewhere.stdout) == len(csv_build["segments"])


def test_sql_missing_a_mapped_column_names_it(tmp_path):
    config = _config(tmp_path, f"sql = \"select customer_id, purchase_date from "
                               f"read_csv('{DEMO_DATA}')\"")
    with pytest.raises(InputError, match='amount: column "dollar_value" is not in the '
                                         r"\[transactions\] sql query"):
        segkit.build(config)


def test_sql_reads_warehouse_tables(tmp_path, csv_build):
    warehouse = tmp_path / "warehouse" / "segkit.duckdb"
    warehouse.parent.mkdir()
    con = duckdb.connect(str(warehouse))
    con.execute("create schema raw")
    con.execute(f"create table raw.orders as select * from read_csv('{DEMO_DATA}', "
                "all_varchar = true)")
    con.close()
    segkit.build(_config(tmp_path, 'sql = "select * from raw.orders where true"'))
    assert results(warehouse) == csv_build


def test_a_table_in_another_duckdb_file_gives_the_csv_builds_results(tmp_path, csv_build):
    other = tmp_path / "analytics.duckdb"
    con = duckdb.connect(str(other))
    con.execute("create schema marts")
    con.execute(f"create table marts.orders as select * from read_csv('{DEMO_DATA}', "
                "all_varchar = true)")
    con.close()
    segkit.build(_config(tmp_path, 'attach = "analytics.duckdb"\ntable = "marts.orders"'))
    warehouse = tmp_path / "warehouse" / "segkit.duckdb"
    assert results(warehouse) == csv_build
    # A plain client has not attached the file: the live views read an empty stand-in
    # of the source's columns rather than fail; the warehouse holds what the build read.
    assert query(warehouse, "select count(*) from segments.live_segments") == [(0,)]
    assert query(warehouse, "select count(*) from features.live_customer_features") == [(0,)]


def test_another_duckdb_file_held_by_a_writer_is_a_clear_error(tmp_path):
    other = tmp_path / "analytics.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
         "con.execute('create table orders (customer_id varchar)'); print('ready', flush=True); "
         "time.sleep(60)", str(other)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseBusyError, match="open for writing in another process"):
            segkit.build(_config(tmp_path, 'attach = "analytics.duckdb"\ntable = "orders"'))
    finally:
        holder.kill()
        holder.wait()


# -- segkit init --source ------------------------------------------------------------

def test_init_source_writes_a_mapping_the_first_build_needs_no_edit_of(tmp_path):
    from tests.conftest import TEST_DATA

    data = tmp_path / "orders.csv"
    data.write_bytes((TEST_DATA / "online_retail_eur.csv").read_bytes())
    done = subprocess.run([sys.executable, "-m", "segkit", "init", "--source", "orders.csv"],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "segkit.toml").read_text()
    assert 'path = "orders.csv"' in text
    assert 'customer_id = "CustomerID"  # named like a customer id' in text
    assert 'amount = "AmountEUR"' in text and 'order_id = "InvoiceNo"' in text
    assert 'categorical = ["Country"]' in text
    assert "# Columns not used: StockCode, Description, Quantity" in text
    cfg = load_config(tmp_path / "segkit.toml")
    assert cfg.transactions.timestamp == "InvoiceDate"
    result = segkit.build(cfg.replace_model(map=False, min_customers=2).replace(
        mlflow=cfg.mlflow.__class__(enabled=False)))
    assert result.customers > 0


def test_init_source_reads_day_first_dates_and_lists_what_it_cannot_place(tmp_path):
    (tmp_path / "x.csv").write_text("client_no;when_date;qty;unit_price;note\n"
                                    "a;31/12/2023;2;1.50;hello\nb;01/02/2024;1;3.00;bye\n")
    from segkit.api import init

    init(tmp_path / "segkit.toml", source=str(tmp_path / "x.csv"))
    text = (tmp_path / "segkit.toml").read_text()
    assert 'timestamp_format = "%d/%m/%Y"' in text
    assert 'quantity = "qty"' in text and 'unit_price = "unit_price"' in text
    assert 'customer_id = "client_no"' in text
    with pytest.raises(ConfigError, match="already exists"):
        init(tmp_path / "segkit.toml", source=str(tmp_path / "x.csv"))
