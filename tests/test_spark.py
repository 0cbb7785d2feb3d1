"""The Spark engine on a real Spark: parity with the DuckDB engine, one shared session.

Classic Spark runs in this process (``local[2]``, one session for the module);
Spark Connect, through a standalone server as Databricks users meet it, is
tests/test_spark_connect.py.

Spark's cost is a fixed price per job, not per row, so the module is cheap by
building little: each dataset is built once per engine (the DuckDB builds are
shared), and every parity check reads what those builds left: the warehouse's
small tables, the Parquet outputs and the session's views.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from urllib.parse import urlparse

import duckdb
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17 (apt-get install openjdk-17-jre-headless)",
                allow_module_level=True)

import segkit  # noqa: E402
from segkit.config import EngineConfig  # noqa: E402
from segkit.spark import model as smodel  # noqa: E402
from segkit.spark import session  # noqa: E402
from segkit.synthetic import generate  # noqa: E402
from tests.conftest import cdnow_config, query  # noqa: E402

pytestmark = pytest.mark.slow

# The JVMs here live for a few small builds. The C2 compiler's and the parallel
# garbage collector's threads then spend the cores on code that runs a few times:
# this module used 184 CPU seconds in 112 s, and 129 in 109 s with C1 alone and
# the serial collector, CPU the rest of the suite runs on (the suite is CPU-bound
# on two cores). Test-only: a long Spark job wants C2.
SHORT_LIVED_JVM = ("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    # The catalog's files go to a temporary folder, not the working directory.
    folder = tmp_path_factory.mktemp("spark-warehouse")
    return session(EngineConfig(kind="spark", master="local[2]",
                                conf=(("spark.sql.warehouse.dir", str(folder)), SHORT_LIVED_JVM)))


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """The demo (map and MLflow on) and a generated dataset with dirt (CSV, a customers
    table, categoricals; a map of a 300-customer sample)."""
    demo = cdnow_config(tmp_path_factory.mktemp("demo"), model="map = true",
                        mlflow="enabled = true")
    dirty = tmp_path_factory.mktemp("dirty")
    generate(dirty, transactions=20_000, seed=3, format="csv")
    config = dirty / "segkit.toml"
    config.write_text(config.read_text() + "\n[model]\nmap = true\ntsne_sample_size = 300\n"
                      "[mlflow]\nenabled = false\n")
    return {"demo": demo, "dirty": config}


@pytest.fixture(scope="module")
def duckdb_builds(datasets, tmp_path_factory):
    """Each dataset built once by the DuckDB engine: what every Spark build is compared to."""
    return {name: segkit.build(config, engine="duckdb", warehouse=tmp_path_factory.mktemp(
        f"duck-{name}") / "segkit.duckdb") for name, config in datasets.items()}


def _segments(result) -> pl.DataFrame:
    return pl.DataFrame(query(result.warehouse, "select customer_id, segment_id, segment_name "
                                                "from segments.customer_segments"),
                        schema=["customer_id", "segment_id", "segment_name"], orient="row")


def _parquet(lake: Path, table: str) -> pl.DataFrame:
    return pl.from_arrow(duckdb.sql(f"select * from read_parquet('{lake}/{table}/*.parquet')"
                                    ).arrow())


def _spark_config(config: Path, name: str, engine: str) -> Path:
    """The dataset's config with an [engine] section, beside it (relative paths hold)."""
    text = config.read_text().replace("[mlflow]", f"{engine}\n[mlflow]")
    path = config.parent / f"{name}.toml"
    path.write_text(text)
    return path


def _assert_same_segments(expected: pl.DataFrame, got: pl.DataFrame) -> None:
    joined = expected.join(got, on="customer_id", how="full", suffix="_spark")
    assert joined.height == expected.height == got.height
    assert joined.filter((pl.col("segment_id") != pl.col("segment_id_spark"))
                         | (pl.col("segment_name") != pl.col("segment_name_spark"))
                         | pl.col("segment_id_spark").is_null()
                         | pl.col("segment_id").is_null()).is_empty()


@pytest.mark.parametrize("name", ["demo", "dirty"])
def test_spark_build_matches_the_duckdb_build(spark, datasets, duckdb_builds, name, tmp_path):
    """One Spark build per dataset, compared with the DuckDB build on everything it records."""
    duck = duckdb_builds[name]
    lake = tmp_path / "lake"
    config = _spark_config(datasets[name], "classic",
                           f'[engine]\nkind = "spark"\nmaster = "local[2]"\n'
                           f'output_path = "{lake}"\n')
    result = segkit.build(config, warehouse=tmp_path / "spark" / "segkit.duckdb")
    # the same segment id and name for every customer
    _assert_same_segments(_segments(duck), _parquet(lake, "customer_segments"))
    if name == "demo":
        assert result.customers == 23_502
    _assert_same_sql_stage(spark, duck, result, lake, dirt=name == "dirty")
    _assert_same_small_tables(duck, result)
    _assert_same_worth(duck, result)
    assert result.report_path is not None and result.report_path.exists()
    # segkit report renders it again from the warehouse alone
    assert segkit.report(result.run_id, config=config, warehouse=result.warehouse).exists()
    if name == "demo":
        _assert_same_tracking(duck, result, lake)
    else:
        _assert_failed_build_leaves_outputs(config, result, lake)


def _assert_same_sql_stage(spark, duck, result, lake: Path, dirt: bool) -> None:
    """Row accounting per reason, as-of date, warnings, column quality, the features'
    histograms (Spark counts every bin in one query), every feature value
    (exact), the quarantined lines per (reason, customer), bin edges as scikit-learn's."""
    for table in ("meta.row_accounting", "meta.column_quality", "meta.feature_histograms"):
        sql = f"select * exclude (run_id) from {table} order by all"
        assert query(result.warehouse, sql) == query(duck.warehouse, sql), table
    sql = ("select as_of_date, rows_in, rows_used, rows_quarantined, customers, "
           "customers_removed, distinct_vectors, features, k, k_rule, warnings from meta.runs "
           "where status = 'success'")
    assert query(result.warehouse, sql) == query(duck.warehouse, sql)
    expected = pl.from_arrow(duckdb.connect(str(duck.warehouse), read_only=True).sql(
        "select * from features.customer_features").arrow())
    features = _parquet(lake, "customer_features").select(expected.columns) \
        .cast(dict(expected.schema))
    assert features.sort("customer_id").equals(expected.sort("customer_id"))
    key = ["source", "reason", "customer_id"]
    quarantine = _parquet(lake, "quarantine").group_by(key).len()
    expected_lines = pl.DataFrame(query(duck.warehouse, f"select {', '.join(key)}, count(*) "
                                        "from cleaning.quarantine group by all"),
                                  schema=key + ["len"], orient="row")
    assert quarantine.cast(dict(expected_lines.schema)).sort(key).equals(
        expected_lines.sort(key))
    # bin edges computed in Spark (the build's views are still in the session) equal
    # KBinsDiscretizer's on the same column; the build's own 4 bins are compared below
    from sklearn.preprocessing import KBinsDiscretizer

    numeric = [c for c, t in expected.schema.items()
               if t.is_numeric() and not c.startswith("is_")]
    for n_bins in (3, 7):
        edges = smodel.bin_edges(spark, numeric, n_bins)
        for column in numeric:
            sk = KBinsDiscretizer(n_bins=n_bins, encode="ordinal", strategy="quantile",
                                  quantile_method="averaged_inverted_cdf", subsample=None)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # sklearn's "bins too small", on purpose
                sk.fit(expected.select(column).to_numpy())
            assert edges[column] == sk.bin_edges_[0].tolist(), (column, n_bins)
    if dirt:  # the dirt is there to be found
        reasons = {r for (r,) in query(duck.warehouse, "select reason from meta.row_accounting")}
        assert {"missing customer id", "cancellation or return",
                "exact duplicate of an earlier row"} <= reasons


def _assert_same_small_tables(duck, result) -> None:
    """Bin edges, centroids, model selection, the t-SNE map and the segment profiles:
    the DuckDB build's."""
    for table in ("segments.bin_edge_history", "segments.centroid_history",
                  "segments.selection_history", "segments.tsne_history"):
        sql = f"select * exclude (run_id) from {table} order by all"
        assert query(result.warehouse, sql) == query(duck.warehouse, sql), table
    # Spark computes the profiles' means and medians itself: every row and text the
    # same, medians and counts exact, means to the last few bits (float sums in
    # another order)
    sql = ("select * exclude (run_id) from segments.profile_history "
           "order by segment_index, feature, kind")
    profiles = [duckdb.connect(str(r.warehouse), read_only=True).sql(sql).pl()
                for r in (duck, result)]
    assert profiles[0].height > 0
    assert_frame_equal(profiles[1], profiles[0], rel_tol=1e-9)
    exact = [c for c in profiles[0].columns if c not in ("mean", "level_share", "overall_share")]
    assert profiles[1].select(exact).equals(profiles[0].select(exact))
    assert query(result.warehouse, "select count(*) from segments.tsne_history")[0][0] > 0
    methods = [json.loads(query(r.warehouse, "select tsne_method from meta.runs "
                                             "where status = 'success'")[0][0])
               for r in (duck, result)]
    for method in methods:
        method.pop("seconds")
    assert methods[0] == methods[1]


def _assert_same_tracking(duck, result, lake: Path) -> None:
    """MLflow: the same params, metrics and artifacts as the DuckDB build's run, and the
    registered model answers every customer's segment as the Spark tables do."""
    from mlflow.tracking import MlflowClient

    from segkit import tracking  # MLflow's settings first (no telemetry)

    runs = []
    for build in (duck, result):
        assert build.mlflow_run_id is not None and build.model_version == "1"
        store = "sqlite:///" + str(build.warehouse.parent / "mlflow.db")
        client = MlflowClient(store, registry_uri=store)
        run = client.get_run(build.mlflow_run_id)
        artifacts = [a.path.replace(build.run_id, "<run>") for folder in ("build", "report")
                     for a in client.list_artifacts(run.info.run_id, folder)]
        # the registered model's files (MLflow 3 keeps a logged model beside the run)
        model_id = client.get_model_version_by_alias(
            "segkit", tracking.CHAMPION_ALIAS).source.removeprefix("models:/")
        location = Path(urlparse(client.get_logged_model(model_id).artifact_location).path)
        # (registered_model_meta is MLflow's note of a registration, written or not)
        artifacts += [str(p.relative_to(location)) for p in location.rglob("*")
                      if p.name != "registered_model_meta"]
        runs.append((run.data.params, run.data.metrics, sorted(artifacts)))
    (duck_params, duck_metrics, duck_artifacts), (params, metrics, artifacts) = runs
    assert set(params) == set(duck_params)
    differ = {k for k in params if params[k] != duck_params[k]}
    assert differ <= {"config_hash"}  # the Spark build's config has an [engine] section
    assert metrics == duck_metrics
    assert artifacts == duck_artifacts, (artifacts, duck_artifacts)
    import mlflow.pyfunc

    store = "sqlite:///" + str(result.warehouse.parent / "mlflow.db")
    # the champion's logged model, looked up in this build's store by name (two stores
    # in one process: MLflow's registry lookups may answer from the other one)
    source = MlflowClient(store, registry_uri=store).get_model_version_by_alias(
        "segkit", tracking.CHAMPION_ALIAS).source
    with tracking.using_store(store):
        model = mlflow.pyfunc.load_model(source)
    features = _parquet(lake, "customer_features")
    sample = features[np.random.default_rng(0).choice(features.height, 3000, replace=False)]
    inputs = model.metadata.get_input_schema().input_names()
    predicted = pl.from_pandas(model.predict(sample.select(inputs).to_pandas())).with_columns(
        customer_id=sample["customer_id"])
    expected = _parquet(lake, "customer_segments").select(predicted.columns)
    assert predicted.cast(dict(expected.schema)).join(expected, on=predicted.columns,
                                                      how="anti").is_empty()


def _assert_failed_build_leaves_outputs(config: Path, first, lake: Path) -> None:
    before = sorted(p.name for p in lake.iterdir())
    rows = duckdb.sql(f"select count(*) from read_parquet('{lake}/customer_segments/*.parquet')"
                      ).fetchall()
    with pytest.raises(segkit.SegkitError):
        segkit.build(config, warehouse=first.warehouse, k=99)
    assert sorted(p.name for p in lake.iterdir()) == before  # no half-written folder
    assert duckdb.sql(f"select count(*), any_value(run_id) from read_parquet("
                      f"'{lake}/customer_segments/*.parquet')").fetchall() == [
        (rows[0][0], first.run_id)]


def test_catalog_table_source_and_catalog_tables(spark, duckdb_builds, tmp_path):
    """table = "db.orders" from the Spark catalog in; catalog tables out, swapped per build."""
    from segkit.config import DEMO_DATA

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
    assert got.height == 23_502
    _assert_same_segments(_segments(duckdb_builds["demo"]), got.drop("run_id"))
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


LOOKING_BACK = ["customer_id", "segment_id", "segment_name", "previous_segment_id",
                "previous_segment_name", "segment_since", "r_score", "f_score", "m_score",
                "rfm_group"]
CHANGE_COLUMNS = ["customer_id", "change_type", "previous_segment_id", "previous_segment_name",
                  "segment_id", "segment_name", "changed_at"]


def test_spark_gives_the_same_columns_that_look_back_and_changes(spark, tmp_path):
    """Two builds per engine (the demo's first 5,000 lines, then its first 8,000):
    previous segments, segment_since, scores, RFM groups and segment_changes are the
    same on both."""
    from tests.conftest import cdnow_sample

    data = tmp_path / "data.csv"
    config = cdnow_config(tmp_path, path=data, model="map = false\nbaseline_resamples = 0")
    lake = tmp_path / "lake"
    spark_config = _spark_config(config, "spark", f'[engine]\nkind = "spark"\n'
                                 f'master = "local[2]"\noutput_path = "{lake}"\n')
    duck_wh, spark_wh = tmp_path / "duck" / "segkit.duckdb", tmp_path / "spark" / "segkit.duckdb"
    for lines in (5000, 8000):
        (tmp_path / f"lines{lines}").mkdir()
        shutil.copy(cdnow_sample(tmp_path / f"lines{lines}", lines), data)
        segkit.build(config, engine="duckdb", warehouse=duck_wh)
        last = segkit.build(spark_config, warehouse=spark_wh)
    columns = ", ".join(LOOKING_BACK)
    duck = pl.DataFrame(query(duck_wh, f"select {columns} from segments.customer_segments "
                                       "order by customer_id"), schema=LOOKING_BACK,
                        orient="row")
    got = _parquet(lake, "customer_segments").select(LOOKING_BACK).sort("customer_id")
    assert duck.height > 2000 and duck["rfm_group"].is_not_null().all()
    assert duck["previous_segment_id"].is_null().any()  # customers new in the second build
    assert_frame_equal(duck, got, check_dtypes=False)
    changes = ", ".join(CHANGE_COLUMNS)
    duck_changes = pl.DataFrame(query(duck_wh, f"""
        select {changes} from segments.segment_changes
        where run_id = (select run_id from segments.latest_run) order by customer_id"""),
        schema=CHANGE_COLUMNS, orient="row")
    spark_changes = _parquet(lake, "segment_changes")
    assert spark_changes["run_id"].unique().to_list() == [last.run_id]  # none for the first
    assert set(duck_changes["change_type"]) >= {"new", "moved"}
    assert_frame_equal(duck_changes, spark_changes.select(CHANGE_COLUMNS).sort("customer_id"),
                       check_dtypes=False)
    # the history keeps both builds
    assert _parquet(lake, "segment_history")["run_id"].n_unique() == 2


def _assert_same_worth(duck, result) -> None:
    """The segment KPIs and the backtest (its fit, outcomes and bootstrap figures) in Spark
    SQL: the DuckDB build's, money to the last digit, doubles to the last few bits."""
    for table, order in (("segments.kpi_history", "segment_index"),
                         ("segments.backtest_history", "segment_rank, segment_id"),
                         ("segments.backtest_run_history", "status")):
        sql = f"select * exclude (run_id) from {table} order by {order}"
        frames = [duckdb.connect(str(r.warehouse), read_only=True).sql(sql).pl()
                  for r in (duck, result)]
        frames = [f.drop("seconds") if "seconds" in f.columns else f for f in frames]
        assert frames[0].height > 0, table
        assert_frame_equal(frames[1], frames[0], rel_tol=1e-9)
        exact = [c for c, t in frames[0].schema.items() if t != pl.Float64]
        assert frames[1].select(exact).equals(frames[0].select(exact)), table
    status = query(result.warehouse, "select status from segments.backtest_run_history")
    assert status == [("ran",)]
