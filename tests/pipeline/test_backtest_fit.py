"""The backtest's fit shares the build's line work (DuckDB engine): it never reads the
source again, and what it starts from and fits on is what a separate build as of the
backtest date makes, on data with exact repeats, cancellations and lines after that date."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil

import polars as pl
import pytest

from segkit import warehouse
from segkit.config import load_config
from segkit.engines import DuckDBEngine
from segkit.features import build_features
from segkit.features.backtest_fit import fit_model_names, purchases_until
from segkit.synthetic import generate
from tests.conftest import write_config

AS_OF = dt.date(2025, 12, 31)
HORIZON = 90
DAY = AS_OF - dt.timedelta(days=HORIZON)  # the backtest date d


@contextlib.contextmanager
def _stage(name, description):
    """The build's stage timer, without a terminal: a dict the stage writes its detail to."""
    yield {}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Generated retail data with a line-grain categorical, orders counted, customers."""
    folder = tmp_path_factory.mktemp("shared")
    generate(folder, transactions=20_000, seed=3, format="csv")
    text = (folder / "segkit.toml").read_text().replace(
        'order_id = "InvoiceNo"', 'order_id = "InvoiceNo"\ncategorical = ["Country"]')
    config = write_config(folder, text + f'\n[features]\nfrequency = "orders"\n'
                                         f'\n[backtest]\nhorizon_days = {HORIZON}\n'
                                         '\n[model]\nmap = false\n')
    return folder, load_config(config)


def _separate_build(cfg, tmp_path):
    """A separate SQL stage as of d: its purchases, features and accounting."""
    con = warehouse.connect_work(cfg.duckdb, tmp_path / "separate")
    try:
        feats = build_features(con, cfg.replace(as_of=DAY.isoformat()))
        # cleaning.purchases reads the line groups, dropped (as a table) by the SQL
        # stage: here it reads the source again, which a separate build does.
        purchases = con.sql("select * from cleaning.purchases").pl()
        customer_purchases = con.sql("select * from features.customer_purchases").pl()
    finally:
        con.close()
    return feats, purchases, customer_purchases


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


def test_fit_reads_no_source_and_equals_a_separate_build_as_of_the_backtest_date(
        data, tmp_path):
    folder, cfg = data
    cfg = cfg.replace(as_of=AS_OF.isoformat())
    separate, separate_purchases, separate_customer_purchases = _separate_build(cfg, tmp_path)
    reasons = set(separate.accounting["reason"].drop_nulls())
    # The data has what makes the line work hard: repeats, cancellations, lines after d.
    assert {"exact duplicate of an earlier row", "cancellation or return",
            "timestamp after the as-of date"} <= reasons
    quarantine = pl.from_arrow(separate.quarantine)
    # repeats on or before d too, where the fit counts them
    assert quarantine.filter(
        (pl.col("reason") == "exact duplicate of an earlier row")
        & (pl.col("ordered_at_text").str.slice(0, 10) <= DAY.isoformat())).height > 0

    engine = DuckDBEngine(cfg)
    engine.run_sql("build", _stage)
    assert engine.shared is not None and engine.shared.day == DAY
    # The purchases the fit starts from are the separate build's, row for row.
    shared = pl.from_arrow(engine.shared.purchases)
    assert shared.schema == separate_purchases.schema
    assert _sorted(shared).equals(_sorted(separate_purchases))
    assert shared["purchase_date"].max() <= DAY

    # Without the sources, the fit still makes its features: it reads none of them.
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    for name in ("transactions.csv", "customers.csv"):
        shutil.move(folder / name, hidden / name)
    try:
        fit = engine.backtest_engine(cfg.replace(as_of=DAY.isoformat()))
        fit_feats = engine.backtest_sql(fit, "build-backtest", _stage)
    finally:
        for name in ("transactions.csv", "customers.csv"):
            shutil.move(hidden / name, folder / name)

    # Its feature frame (bounds, imputed values and levels over the customers as of d)
    # and its per-customer purchases are the separate build's.
    assert fit_feats.as_of == DAY
    assert fit_feats.frame.columns == separate.frame.columns
    assert fit_feats.frame.equals(separate.frame)
    assert fit_feats.numeric_features == separate.numeric_features
    assert fit_feats.onehot_features == separate.onehot_features
    assert fit_feats.labels == separate.labels
    assert _sorted(fit.purchases).equals(_sorted(separate_customer_purchases))
    # The build's own features differ: the as-of date moved every recency.
    assert engine.purchases.height > fit.purchases.height
    engine.release_backtest(fit)
    assert engine.shared is None and fit.purchases is None


def test_fit_makes_no_model_that_reads_a_line(data, tmp_path):
    _, cfg = data
    con = warehouse.connect_work(cfg.duckdb, tmp_path / "work")
    try:
        feats = build_features(con, cfg.replace(as_of=AS_OF.isoformat()))
    finally:
        con.close()
    names = fit_model_names(feats.models, feats.rendered)
    assert {"features.customer_rfm", "features.customer_purchases", "cleaning.customers",
            "features.customer_features_raw", "features.numeric_bounds",
            "features.customer_features"} <= names
    line_models = {"staging.transactions", "cleaning.transactions_screened",
                   "cleaning.line_groups", "cleaning.transactions_set_aside",
                   "cleaning.transactions_checked", "cleaning.transactions",
                   "cleaning.amount_rounding", "cleaning.quarantine", "cleaning.as_of",
                   "cleaning.purchases", "staging.customers"}
    assert not names & line_models
    assert purchases_until(DAY).endswith("where purchase_date <= date '2025-10-02'")
