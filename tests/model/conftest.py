"""Fixtures of the model tests, built once per test package: CDNOW RFM, its fit, a wide frame."""

from __future__ import annotations

import polars as pl
import pytest

from tests.model.helpers import build_rfm, CDNOW_PATHS, fit_quiet


@pytest.fixture(scope="package")
def rfm():
    path = next((p for p in CDNOW_PATHS if p.exists()), None)
    if path is None:
        pytest.skip("CDNOW transactions not available")
    return build_rfm(path)


@pytest.fixture(scope="package")
def seg(rfm):
    return fit_quiet(rfm, seed=0)


@pytest.fixture(scope="package")
def wide(tmp_path_factory):
    """A wide customers-only table (the bench's wide regime, smaller): every row distinct."""
    from segkit.synthetic import generate_wide_customers

    info = generate_wide_customers(tmp_path_factory.mktemp("wide"), customers=400, seed=3)
    frame = pl.read_parquet(info["paths"]["customers"]).rename({"CustomerID": "customer_id"})
    return fit_quiet(frame.with_columns(pl.exclude("customer_id").cast(pl.Float64)),
                     k_max=6, n_resamples=10, seed=0)
