"""The lines set aside (cleaning.transactions_set_aside) on lines that repeat, on both engines.

The model counts the lines it sets aside by content and numbers each copy, in
one pass over the source: a rejected line must keep its own reason in every
copy, only the later copies of a line that may repeat are duplicates, a copy
after the as-of date is still one line after it, and two lines that differ
only in a column segkit does not keep are two lines. The quarantine (every
column) is checked on DuckDB, and Spark must give the same rows; on Spark the
model must read the source once and join the candidate days by broadcast.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from segkit import features, warehouse
from segkit.config import load_config
from tests.conftest import write_config

HEADER = "InvoiceNo,StockCode,CustomerID,InvoiceDate,Quantity,UnitPrice,Country"
LINE = "1,A1,A,2024-01-03 10:00:00,2,2.5,UK"  # three times: used once, two duplicates
LINES = [
    LINE, LINE, LINE,
    "1,A2,A,2024-01-03 10:00:00,2,2.5,UK",  # the same line but for its stock code: used
    "1,A3,A,2024-01-03 10:00:00,0,2.5,UK",  # zero quantity on the same day
    "C2,A1,A,2024-01-03 11:00:00,-2,2.5,UK",  # a cancellation, twice: both rejected
    "C2,A1,A,2024-01-03 11:00:00,-2,2.5,UK",
    "3,B1,,2024-01-03 12:00:00,1,4.0,UK",  # no customer, three times: all rejected
    "3,B1,,2024-01-03 12:00:00,1,4.0,UK",
    "3,B1,,2024-01-03 12:00:00,1,4.0,UK",
    "5,D1,B,2024-01-07 09:00:00,1,3.0,FR",  # after the as-of date, twice
    "5,D1,B,2024-01-07 09:00:00,1,3.0,FR",
    "6,D2,B,2024-01-08 09:00:00,1,3.5,FR",  # after the as-of date, once
    "4,B2,B,2024-01-04 09:00:00,1,7.0,FR",
    "7,E1,E,2024-01-02 09:00:00,1,1.25,UK",
]
AS_OF = "2024-01-05"
QUARANTINE = ("select source, reason, customer_id, order_id, ordered_at_text, amount_text "
              "from cleaning.quarantine")


def _config(folder: Path, *, order_id: bool):
    data = folder / "lines.csv"
    data.write_text("\n".join([HEADER, *LINES]) + "\n", encoding="utf-8")
    mapping = 'order_id = "InvoiceNo"' if order_id else ""
    return load_config(write_config(folder, f"""
        [transactions]
        path = "{data}"
        customer_id = "CustomerID"
        timestamp = "InvoiceDate"
        quantity = "Quantity"
        unit_price = "UnitPrice"
        categorical = ["Country"]
        {mapping}
    """)).replace(as_of=AS_OF)


def _duckdb_quarantine(cfg, folder: Path) -> Counter:
    con = warehouse.connect_work(cfg.duckdb, folder / "tmp")
    try:
        features.build_features(con, cfg)
        return Counter(con.execute(QUARANTINE).fetchall())
    finally:
        con.close()


DUPLICATE = "exact duplicate of an earlier row"
AFTER = "timestamp after the as-of date"
REJECTED = Counter({
    ("transactions", "amount zero or negative", "A", "1", "2024-01-03 10:00:00", "0 x 2.5"): 1,
    ("transactions", "cancellation or return", "A", "C2", "2024-01-03 11:00:00", "-2 x 2.5"): 2,
    ("transactions", "missing customer id", None, "3", "2024-01-03 12:00:00", "1 x 4.0"): 3,
    ("transactions", AFTER, "B", "6", "2024-01-08 09:00:00", "3.5000"): 1,
})


def test_each_copy_of_a_line_keeps_its_reason_and_only_later_copies_are_duplicates(tmp_path):
    got = _duckdb_quarantine(_config(tmp_path, order_id=True), tmp_path)
    assert got == REJECTED + Counter({
        ("transactions", DUPLICATE, "A", "1", "2024-01-03 10:00:00", "2 x 2.5"): 2,
        # of two copies after the as-of date, the first is after it, the other a duplicate
        ("transactions", AFTER, "B", "5", "2024-01-07 09:00:00", "3.0000"): 1,
        ("transactions", DUPLICATE, "B", "5", "2024-01-07 09:00:00", "1 x 3.0"): 1,
    })


def test_without_an_order_id_copies_are_repeat_purchases_and_each_keeps_its_reason(tmp_path):
    # identical rows may be real repeat purchases: none is a duplicate, and both
    # copies after the as-of date are after it
    got = _duckdb_quarantine(_config(tmp_path, order_id=False), tmp_path)
    assert got == Counter({(s, r, c, None, at, amount): n
                           for (s, r, c, _, at, amount), n in REJECTED.items()}) + Counter({
        ("transactions", AFTER, "B", None, "2024-01-07 09:00:00", "3.0000"): 2,
    })


@pytest.mark.slow
@pytest.mark.parametrize("order_id", [True, False])
def test_spark_sets_aside_the_same_lines_in_one_pass(order_id, tmp_path):
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17 (apt-get install openjdk-17-jre-headless)")
    from segkit.config import EngineConfig
    from segkit.spark import session
    from segkit.spark import sql as spark_sql

    cfg = _config(tmp_path, order_id=order_id)
    expected = _duckdb_quarantine(cfg, tmp_path)
    spark = session(EngineConfig(kind="spark", master="local[2]", conf=(
        ("spark.sql.warehouse.dir", str(tmp_path / "spark-warehouse")),
        ("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"))))
    result = spark_sql.build_features(spark, cfg, spark_sql.read_sources(spark, cfg))
    got = Counter(tuple(row) for row in spark.sql(
        QUARANTINE.replace("cleaning.quarantine", "cleaning__quarantine")).collect())
    assert got == expected
    # the model's plan: one scan of the source, the candidate days broadcast even
    # where Spark would not by their estimated size (a large cleaning.line_groups)
    threshold = "spark.sql.autoBroadcastJoinThreshold"
    size_rule = spark.conf.get(threshold)
    spark.conf.set(threshold, "-1")
    try:
        model = spark.sql(result.spark_sql["cleaning.transactions_set_aside"])
        plan = model._jdf.queryExecution().executedPlan().toString()
    finally:
        spark.conf.set(threshold, size_rule)
    assert plan.count("FileScan csv") == 1, plan
    assert "BroadcastHashJoin" in plan and "SortMergeJoin" not in plan, plan
