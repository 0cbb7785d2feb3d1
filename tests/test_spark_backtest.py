"""The Spark engine's backtest fit shares the build's line work: without the source files
it still makes its features, and they are a separate DuckDB build's as of the backtest date
(data with exact repeats, cancellations and lines after that date)."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil

import polars as pl
import pytest
from polars.testing import assert_frame_equal

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17 (apt-get install openjdk-17-jre-headless)",
                allow_module_level=True)

from segkit import warehouse  # noqa: E402
from segkit.config import EngineConfig, load_config  # noqa: E402
from segkit.features import build_features  # noqa: E402
from segkit.spark import session  # noqa: E402
from segkit.spark.build import SparkEngine  # noqa: E402
from segkit.synthetic import generate  # noqa: E402
from tests.conftest import write_config  # noqa: E402

pytestmark = pytest.mark.slow

AS_OF = dt.date(2025, 12, 31)
HORIZON = 90
DAY = AS_OF - dt.timedelta(days=HORIZON)
SOURCES = ("transactions.csv", "customers.csv")


@contextlib.contextmanager
def _stage(name, description):
    """The build's stage timer, without a terminal."""
    yield {}


def _spark_frame(spark, view: str) -> pl.DataFrame:
    return pl.from_arrow(spark.table(view).toArrow())


def test_spark_fit_reads_no_source_and_equals_a_separate_build(tmp_path):
    folder = tmp_path / "data"
    generate(folder, transactions=20_000, seed=3, format="csv")
    text = (folder / "segkit.toml").read_text().replace(
        'order_id = "InvoiceNo"', 'order_id = "InvoiceNo"\ncategorical = ["Country"]')
    cfg = load_config(write_config(folder, text + (
        '\n[engine]\nkind = "spark"\nmaster = "local[2]"\n'
        f'\n[backtest]\nhorizon_days = {HORIZON}\n\n[model]\nmap = false\n'
        '\n[mlflow]\nenabled = false\n'))).replace(as_of=AS_OF.isoformat())

    # the separate build as of d, on DuckDB (the engines' parity is tests/test_spark.py's)
    con = warehouse.connect_work(cfg.duckdb, tmp_path / "separate")
    try:
        separate = build_features(con, cfg.replace(as_of=DAY.isoformat()))
        separate_purchases = con.sql("select * from features.customer_purchases "
                                     "order by customer_id").pl()
    finally:
        con.close()

    engine = SparkEngine(cfg)
    engine.spark = session(EngineConfig(kind="spark", master="local[2]"))
    engine.run_sql("build", _stage)
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    for name in SOURCES:
        shutil.move(folder / name, hidden / name)
    try:
        fit = engine.backtest_engine(cfg.replace(as_of=DAY.isoformat()))
        fit_feats = engine.backtest_sql(fit, "build-backtest", _stage)
        features = _spark_frame(fit.spark, "features__customer_features").sort("customer_id")
        purchases = _spark_frame(fit.spark, "features__customer_purchases").sort("customer_id")
    finally:
        for name in SOURCES:
            shutil.move(hidden / name, folder / name)
    assert engine.shared_views  # the fit read the build's purchases, not the source
    engine.release_backtest(fit)
    assert not engine.shared_views

    assert fit_feats.as_of == DAY and fit_feats.n_customers == separate.frame.height
    assert fit_feats.feature_columns == separate.frame.columns
    assert fit_feats.labels == separate.labels
    assert_frame_equal(features, separate.frame, check_dtypes=False, rel_tol=1e-9)
    assert purchases.equals(separate_purchases.cast(purchases.schema))
