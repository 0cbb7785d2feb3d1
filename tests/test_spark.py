"""The Spark engine on a real Spark: parity with the DuckDB engine, one shared session.

Classic Spark runs in this process (``local[2]``, one session for the module);
Spark Connect runs in a child process (``remote = "local[2]"`` starts a local
Spark Connect server), through the CLI, as a user runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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
from segkit import warehouse  # noqa: E402
from segkit.config import EngineConfig, load_config  # noqa: E402
from segkit.features import build_features  # noqa: E402
from segkit.spark import model as smodel  # noqa: E402
from segkit.spark import session  # noqa: E402
from segkit.spark import sql as ssql  # noqa: E402
from segkit.synthetic import generate  # noqa: E402
from tests.conftest import REPO, cdnow_config, query  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    # The catalog's files go to a temporary folder, not the working directory.
    folder = tmp_path_factory.mktemp("spark-warehouse")
    return session(EngineConfig(kind="spark", master="local[2]",
                                conf=(("spark.sql.warehouse.dir", str(folder)),)))


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """The demo and a generated dataset with dirt (CSV, a customers table, categoricals)."""
    demo = cdnow_config(tmp_path_factory.mktemp("demo"))
    dirty = tmp_path_factory.mktemp("dirty")
    generate(dirty, transactions=20_000, seed=3, format="csv")
    config = dirty / "segkit.toml"
    config.write_text(config.read_text() + "\n[model]\nmap = false\n[mlflow]\nenabled = false\n")
    return {"demo": demo, "dirty": config}


def _duckdb_features(cfg, tmp_path):
    con = warehouse.connect_work(cfg.duckdb, tmp_path / "work")
    try:
        return build_features(con, cfg)
    finally:
        con.close()


@pytest.mark.parametrize("name", ["demo", "dirty"])
def test_sql_stage_and_bin_edges_match(spark, datasets, name, tmp_path):
    cfg = load_config(datasets[name])
    duck = _duckdb_features(cfg, tmp_path)
    sfeats = ssql.build_features(spark, cfg)
    # row accounting per reason, identical (rows in = used + quarantined)
    assert sfeats.accounting.sort(["source", "reason"]).equals(
        duck.accounting.sort(["source", "reason"]))
    assert sfeats.as_of == duck.as_of
    assert sfeats.n_customers == duck.frame.height
    assert sfeats.warnings == duck.warnings
    assert sfeats.column_quality.equals(duck.column_quality)
    # The test reads Spark's rows to compare them; the build never does.
    features = pl.from_arrow(spark.sql(f"select * from {smodel.FEATURES}").toArrow())
    features = features.select(duck.frame.columns).cast(dict(duck.frame.schema))
    assert features.sort("customer_id").equals(duck.frame.sort("customer_id"))
    quarantine = pl.from_arrow(spark.sql("select * from cleaning__quarantine").toArrow())
    expected = pl.from_arrow(duck.quarantine)
    key = ["source", "reason", "customer_id"]
    assert (quarantine.group_by(key).len().sort(key)
            .equals(expected.group_by(key).len().sort(key)))
    # bin edges computed in Spark equal scikit-learn's on the same column
    from sklearn.preprocessing import KBinsDiscretizer

    for n_bins in (3, 4, 7):
        edges = smodel.bin_edges(spark, duck.numeric_features, n_bins)
        for column in duck.numeric_features:
            sk = KBinsDiscretizer(n_bins=n_bins, encode="ordinal", strategy="quantile",
                                  quantile_method="averaged_inverted_cdf", subsample=None)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # sklearn's "bins too small", on purpose
                sk.fit(duck.frame.select(column).to_numpy())
            assert edges[column] == sk.bin_edges_[0].tolist(), (column, n_bins)
    if name == "dirty":  # the dirt is there to be found
        assert {"missing customer id", "cancellation or return",
                "exact duplicate of an earlier row"} <= set(duck.accounting["reason"].to_list())


def _segments_duckdb(config: Path, tmp_path: Path) -> pl.DataFrame:
    result = segkit.build(config, warehouse=tmp_path / "duck" / "segkit.duckdb", engine="duckdb")
    return pl.DataFrame(query(result.warehouse, "select customer_id, segment_id, segment_name "
                                                "from segments.customer_segments"),
                        schema=["customer_id", "segment_id", "segment_name"], orient="row")


def _spark_config(config: Path, name: str, engine: str) -> Path:
    """The dataset's config with an [engine] section, beside it (relative paths hold)."""
    text = config.read_text().replace("[mlflow]", f"{engine}\n[mlflow]")
    path = config.parent / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["demo", "dirty"])
def test_spark_build_gives_every_customer_the_duckdb_segment(spark, datasets, name, tmp_path):
    expected = _segments_duckdb(datasets[name], tmp_path)
    lake = tmp_path / "lake"
    config = _spark_config(datasets[name], "classic",
                           f'[engine]\nkind = "spark"\nmaster = "local[2]"\n'
                           f'output_path = "{lake}"\n')
    result = segkit.build(config, warehouse=tmp_path / "spark" / "segkit.duckdb")
    got = pl.from_arrow(duckdb.sql(
        f"select customer_id, segment_id, segment_name from "
        f"read_parquet('{lake}/customer_segments/*.parquet')").arrow())
    assert got.height == expected.height == result.customers
    if name == "demo":
        assert got.height == 23_502
    joined = expected.join(got, on="customer_id", how="full", suffix="_spark")
    assert joined.filter(pl.col("segment_id") != pl.col("segment_id_spark")).is_empty()
    assert joined.filter(pl.col("segment_name") != pl.col("segment_name_spark")).is_empty()
    assert joined["segment_id"].null_count() == joined["segment_id_spark"].null_count() == 0
    # the small tables are in the warehouse, equal to the DuckDB build's
    for table in ("segments.bin_edge_history", "segments.centroid_history",
                  "segments.selection_history"):
        sql = f"select * exclude (run_id) from {table} order by all"
        assert query(result.warehouse, sql) == query(tmp_path / "duck" / "segkit.duckdb", sql)
    runs = query(result.warehouse, "select status, customers, rows_in from meta.runs")
    assert runs == [("success", result.customers, result.rows_in)]
    assert result.report_path is not None and result.report_path.exists()
    # segkit report renders it again from the warehouse alone
    assert segkit.report(result.run_id, config=config,
                         warehouse=result.warehouse).exists()


def test_failed_spark_build_leaves_previous_outputs(spark, datasets, tmp_path):
    lake = tmp_path / "lake"
    config = _spark_config(datasets["dirty"], "failing",
                           f'[engine]\nkind = "spark"\noutput_path = "{lake}"\n')
    first = segkit.build(config, warehouse=tmp_path / "wh" / "segkit.duckdb")
    before = sorted(p.name for p in lake.iterdir())
    rows = duckdb.sql(f"select count(*) from read_parquet('{lake}/customer_segments/*.parquet')"
                      ).fetchall()
    with pytest.raises(segkit.SegkitError):
        segkit.build(config, warehouse=tmp_path / "wh" / "segkit.duckdb", k=99)
    assert sorted(p.name for p in lake.iterdir()) == before  # no half-written folder
    assert duckdb.sql(f"select count(*), any_value(run_id) from read_parquet("
                      f"'{lake}/customer_segments/*.parquet')").fetchall() == [
        (rows[0][0], first.run_id)]


def test_spark_connect_build_matches(datasets, tmp_path):
    """The same build through Spark Connect, in its own process, as a user runs it."""
    expected = _segments_duckdb(datasets["dirty"], tmp_path)
    lake = tmp_path / "lake"
    config = _spark_config(datasets["dirty"], "connect",
                           f'[engine]\nkind = "spark"\nremote = "local[2]"\n'
                           f'output_path = "{lake}"\n')
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "segkit", "build", "--config", str(config),
                           "--warehouse", str(tmp_path / "wh" / "segkit.duckdb")],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "remote local[2]" in done.stderr
    got = pl.from_arrow(duckdb.sql(
        f"select customer_id, segment_id, segment_name from "
        f"read_parquet('{lake}/customer_segments/*.parquet')").arrow())
    joined = expected.join(got, on="customer_id", how="full", suffix="_spark")
    assert joined.height == expected.height
    assert joined.filter((pl.col("segment_id") != pl.col("segment_id_spark"))
                         | pl.col("segment_id_spark").is_null()).is_empty()


def test_catalog_table_source_and_catalog_tables(spark, datasets, tmp_path):
    """table = "db.orders" from the Spark catalog in; catalog tables out, swapped per build."""
    from segkit.config import DEMO_DATA

    expected = _segments_duckdb(datasets["demo"], tmp_path)
    spark.sql("create database if not exists shop")
    spark.read.option("header", "true").csv(str(DEMO_DATA)).write.mode("overwrite") \
        .saveAsTable("shop.orders")
    config = tmp_path / "catalog.toml"
    config.write_text('''
[transactions]
table = "shop.orders"
customer_id = "customer_id"
timestamp = "purchase_date"
amount = "dollar_value"
[model]
map = false
[mlflow]
enabled = false
[engine]
kind = "spark"
master = "local[2]"
database = "segkit_test"
''')
    first = segkit.build(config, warehouse=tmp_path / "wh" / "segkit.duckdb")
    second = segkit.build(config, warehouse=tmp_path / "wh" / "segkit.duckdb")
    got = pl.from_arrow(spark.sql("select customer_id, segment_id, segment_name, run_id "
                                  "from segkit_test.customer_segments").toArrow())
    assert set(got["run_id"].to_list()) == {second.run_id}
    joined = expected.join(got, on="customer_id", how="full", suffix="_spark")
    assert joined.height == 23_502
    assert joined.filter((pl.col("segment_id") != pl.col("segment_id_spark"))
                         | pl.col("segment_id_spark").is_null()).is_empty()
    # the swap dropped the first build's tables; the history keeps both builds
    tables = {r["tableName"] for r in spark.sql("show tables in segkit_test").collect()}
    assert not any(first.run_id.lower().replace("-", "_") in t for t in tables)
    runs = spark.sql("select run_id, count(*) from segkit_test.segment_history "
                     "group by run_id").collect()
    assert sorted(tuple(r) for r in runs) == sorted([(first.run_id, 23_502),
                                                     (second.run_id, 23_502)])
    # the warehouse has both runs; its live views of the Spark table read no rows
    assert query(second.warehouse, "select count(*) from meta.runs where status = 'success'"
                 ) == [(2,)]
    assert query(second.warehouse, "select count(*) from staging.transactions") == [(0,)]
