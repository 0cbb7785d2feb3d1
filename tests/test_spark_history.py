"""A Spark history written before segment_since: the first Spark build over it
rebuilds the previous build's segment_since as the DuckDB engine does.

One local Spark session; no whole build: the Spark engine's per-customer step
(``Outputs.looking_back``) runs on a literal old-style history in Parquet, the
warehouse's meta.runs beside it, and its dates are compared with the DuckDB
engine's for the same history (tests/customers/old_history.py).
"""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import polars as pl
import pytest

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17 (apt-get install openjdk-17-jre-headless)",
                allow_module_level=True)

from segkit.config import EngineConfig, load_config  # noqa: E402
from segkit.pipeline.runs import previous_customers  # noqa: E402
from segkit.pipeline.tables import customer_history  # noqa: E402
from segkit.spark import session  # noqa: E402
from segkit.spark.outputs import Outputs  # noqa: E402
from tests.conftest import cdnow_config  # noqa: E402
from tests.customers.old_history import (  # noqa: E402
    EXPECTED_SINCE,
    PREVIOUS,
    history_rows,
    write_old_warehouse,
)

pytestmark = pytest.mark.slow

SHORT_LIVED_JVM = ("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
RUN, AS_OF = "20240501T000000Z-eeeeee", dt.date(2024, 5, 1)
# This build: c1..c4 keep their segment, c5 moves, c6 comes back, c7 is new.
THIS_BUILD = {"c1": 1, "c2": 2, "c3": 1, "c4": 2, "c5": 1, "c6": 3, "c7": 2}


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spark-warehouse")
    return session(EngineConfig(kind="spark", master="local[2]",
                                conf=(("spark.sql.warehouse.dir", str(folder)), SHORT_LIVED_JVM)))


def test_spark_backfills_segment_since_as_duckdb_does(spark, tmp_path):
    wh = write_old_warehouse(tmp_path / "segkit.duckdb")
    lake = tmp_path / "lake"
    old = pl.DataFrame(history_rows(), schema=["run_id", "customer_id", "segment_id",
                                               "segment_name"], orient="row")
    spark.createDataFrame(old.to_arrow()).write.parquet(str(lake / "segment_history"))
    cfg = load_config(cdnow_config(tmp_path)).replace(
        warehouse=wh, engine=EngineConfig(kind="spark", output_path=str(lake)))
    this_build = pl.DataFrame({"customer_id": list(THIS_BUILD),
                               "segment_id": list(THIS_BUILD.values()),
                               "segment_name": [f"Segment {s}" for s in THIS_BUILD.values()]})

    outputs = Outputs(spark, cfg, RUN, as_of=AS_OF)
    history = spark.read.parquet(str(lake / "segment_history"))
    assert "segment_since" not in history.columns
    rows, changes = outputs.looking_back(
        spark.createDataFrame(this_build.with_columns(run_id=pl.lit(RUN)).to_arrow()), history)
    got = pl.from_arrow(rows.toArrow()).sort("customer_id")

    con = duckdb.connect(str(wh), read_only=True)
    try:
        previous = {"run_id": PREVIOUS, "customers": previous_customers(con, PREVIOUS)}
    finally:
        con.close()
    duck, duck_changes = customer_history(this_build, previous, None, RUN, AS_OF)
    duck = duck.sort("customer_id")

    expected = {**EXPECTED_SINCE, "c5": AS_OF, "c6": AS_OF, "c7": AS_OF}
    assert dict(zip(got["customer_id"], got["segment_since"])) == expected
    columns = ["customer_id", "segment_id", "previous_segment_id", "segment_since"]
    assert got.select(columns).rows() == duck.select(columns).rows()
    # the changes compare with the previous build as DuckDB's do
    spark_changes = pl.from_arrow(changes.toArrow()).sort("customer_id")
    assert spark_changes["change_type"].to_list() == duck_changes.sort("customer_id")[
        "change_type"].to_list() == ["moved", "new", "new"]
