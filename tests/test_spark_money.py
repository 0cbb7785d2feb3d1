"""Exact money on a real Spark (``local[2]``): the same totals and averages as DuckDB.

The SQL stage alone runs on Spark (``segkit.spark.sql.build_features``), on the
4-decimal export with half-cent ties and on the demo; every customer's total
spend is the exact sum of their used lines and monetary is
ROUND_HALF_UP(total / purchase days, money_decimals), as Python's ``decimal``
computes them, and the row accounting and warnings are DuckDB's.
"""

from __future__ import annotations

import random
import shutil
import textwrap
from decimal import Decimal, localcontext
from pathlib import Path

import pytest

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17 (apt-get install openjdk-17-jre-headless)",
                allow_module_level=True)

from segkit import features, project, warehouse  # noqa: E402
from segkit.config import EngineConfig, load_config  # noqa: E402
from segkit.spark import session  # noqa: E402
from segkit.spark import sql as spark_sql  # noqa: E402
from tests.money_reference import (RETAIL_EUR, demo_money, eur_parquet,  # noqa: E402
                                   expected_money, half_up, spend_per_day)

pytestmark = pytest.mark.slow

# As tests/test_spark.py: a few short jobs, so C1 alone and the serial collector.
SHORT_LIVED_JVM = ("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spark-warehouse")
    return session(EngineConfig(kind="spark", master="local[2]",
                                conf=(("spark.sql.warehouse.dir", str(folder)), SHORT_LIVED_JVM)))


def _config(folder: Path, text: str):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "segkit.toml").write_text(textwrap.dedent(text))
    return load_config(folder / "segkit.toml")


def _spark_money(spark) -> dict[str, tuple[Decimal, Decimal]]:
    return {r[0]: (r[1], r[2]) for r in spark.sql(
        "select customer_id, total_spend, monetary from features__customer_rfm").collect()}


def _duckdb_stage(cfg, folder: Path):
    con = warehouse.connect_work(cfg.duckdb, folder / "tmp")
    try:
        result = features.build_features(con, cfg)
        money = {c: (t, m) for c, t, m in con.execute(
            "select customer_id, total_spend, monetary from features.customer_rfm").fetchall()}
        return result, money
    finally:
        con.close()


def test_round_quotient_on_spark_is_the_exact_quotient_rounded_half_up_once(spark):
    from pyspark.sql.types import DecimalType, IntegerType, LongType, StructField, StructType

    rng = random.Random(7)
    for digits, scale in [(2, 4), (2, 2), (2, 0), (0, 4), (6, 12), (12, 12), (3, 9)]:
        cases = []
        for _ in range(300):
            denominator = rng.choice([1, 2, 3, 7, 8, rng.randint(1, 10**6), rng.randint(1, 10**12)])
            with localcontext() as context:
                context.prec = 100
                tie = ((Decimal(rng.randint(0, 10**10)) + Decimal("0.5")) * denominator
                       * Decimal(1).scaleb(-digits))
                if tie < 10**24 and tie == tie.quantize(Decimal(1).scaleb(-scale)):
                    cases.append((tie, denominator))
            cases.append((Decimal(rng.randint(0, 10**(24 + scale) - 1)).scaleb(-scale),
                           denominator))
        cases += [(-n, d) for n, d in cases[:100]]
        schema = StructType([StructField("i", IntegerType()),
                             StructField("n", DecimalType(38, scale)),
                             StructField("d", LongType())])
        spark.createDataFrame([(i, n, d) for i, (n, d) in enumerate(cases)], schema
                              ).createOrReplaceTempView("quotients")
        macro = project.macros("spark")["round_quotient"]
        frame = spark.sql(f"select i, {macro('n', 'd', digits, scale)} as q from quotients")
        assert frame.schema["q"].dataType.simpleString() == f"decimal(38,{digits})"
        got = dict(tuple(r) for r in frame.collect())
        with localcontext() as context:
            context.prec = 100
            expected = {i: half_up(n / d, digits) for i, (n, d) in enumerate(cases)}
        assert got == expected, (digits, scale)


@pytest.mark.parametrize("source, mapping, extra", [
    ("csv", 'amount = "AmountEUR"', ""),
    ("parquet", 'amount = "AmountEUR"', "amount_decimals = 2"),
    ("parquet", 'quantity = "Quantity"\nunit_price = "UnitPriceEUR"', "amount_decimals = 2"),
])
def test_spark_sums_four_decimal_amounts_exactly_and_rounds_averages_half_up(
        spark, tmp_path, source, mapping, extra):
    """Text and DOUBLE columns (Parquet), an amount or quantity x unit price, kept at 4
    decimals or rounded to 2: the same exact money and accounting as DuckDB."""
    path = RETAIL_EUR if source == "csv" else eur_parquet(tmp_path)
    cfg = _config(tmp_path, f"""
        [transactions]
        path = "{path}"
        customer_id = "CustomerID"
        timestamp = "InvoiceDate"
        order_id = "InvoiceNo"
        {mapping}
        {extra}
    """)
    decimals = cfg.transactions.amount_decimals
    result = spark_sql.build_features(spark, cfg, spark_sql.read_sources(spark, cfg))
    expected = expected_money(spend_per_day(RETAIL_EUR, lambda row: Decimal(row["AmountEUR"]),
                                            decimals=decimals))
    got = _spark_money(spark)
    assert got == expected
    assert got["99001"] == (Decimal("653.01").quantize(Decimal(1).scaleb(-decimals)),
                            Decimal("326.51"))
    assert spark.table("features__customer_rfm").schema["monetary"].dataType.simpleString() \
        == "decimal(38,2)"
    # the same accounting (amounts rounded included) and warnings as DuckDB
    duck, duck_money = _duckdb_stage(cfg, tmp_path)
    assert duck_money == got
    assert result.accounting.equals(duck.accounting)
    assert result.warnings == duck.warnings
    rounded = result.accounting.filter(result.accounting["reason"].is_null())[
        "n_amounts_rounded"][0]
    assert (rounded > 0) == (decimals == 2)


def test_spark_rounds_every_demo_average_half_up(spark, tmp_path):
    """The demo's half-cent ties (653.01 over 2 days is 326.51), every customer."""
    from segkit.config import DEMO_DATA

    cfg = _config(tmp_path, f"""
        [transactions]
        path = "{DEMO_DATA}"
        customer_id = "customer_id"
        timestamp = "purchase_date"
        amount = "dollar_value"
    """)
    spark_sql.build_features(spark, cfg, spark_sql.read_sources(spark, cfg))
    got = _spark_money(spark)
    assert len(got) == 23_502
    assert got == demo_money()
    assert (got["00020"], got["00170"]) == ((Decimal("653.0100"), Decimal("326.51")),
                                            (Decimal("74.3900"), Decimal("37.20")))


def test_a_catalog_table_keeps_its_money_types(spark, tmp_path):
    """table = a Spark catalog table with DOUBLE amounts: read as doubles (by the text
    they print as), and the DuckDB spelling the warehouse publishes still binds."""
    import duckdb

    spark.sql("create database if not exists shop_money")
    spark.read.parquet(str(eur_parquet(tmp_path))).write.mode("overwrite") \
        .saveAsTable("shop_money.orders")
    cfg = _config(tmp_path, """
        [transactions]
        table = "shop_money.orders"
        customer_id = "CustomerID"
        timestamp = "InvoiceDate"
        order_id = "InvoiceNo"
        amount = "AmountEUR"
    """)
    from segkit.features.run import run_models

    views = spark_sql.read_sources(spark, cfg)
    context = spark_sql.spark_context(spark, cfg, views)
    run = run_models(cfg, context, spark_sql.SparkModels(spark, context, views))
    models, rendered = run.models, run.rendered
    assert context["transactions"]["amount_kind"] == "float"
    assert _spark_money(spark) == expected_money(
        spend_per_day(RETAIL_EUR, lambda row: Decimal(row["AmountEUR"])))
    con = duckdb.connect()
    for schema in ("staging", "cleaning", "features"):
        con.execute(f"create schema {schema}")
    for model in models:
        con.execute(project.create_sql(model.name, rendered[model.name]))
    assert con.execute("select count(*) from features.customer_rfm").fetchall() == [(0,)]
