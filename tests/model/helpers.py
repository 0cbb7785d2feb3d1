"""Helpers shared by the model tests: the CDNOW RFM frame and small frames."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import polars as pl

from segkit.model import SegmentationWarning, Segmenter


RFM = ["recency_days", "frequency", "monetary"]
CDNOW_PATHS = [
    Path(__file__).resolve().parents[2] / "segkit" / "data" / "cdnow_transactions.csv",
    Path(__file__).resolve().parents[3] / "shared" / "data" / "cdnow_transactions.csv",
]
RFM_NAMES = {
    "Champions", "Loyal", "Potential Loyalist", "New", "Promising", "Need Attention",
    "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost",
}  # fmt: skip


def build_rfm(path):
    """RFM per customer as the SQL layer defines it (reference day 1998-06-30)."""
    tx = pl.read_csv(path, schema_overrides={"customer_id": pl.Utf8}, try_parse_dates=True)
    days = (
        tx.filter(pl.col("dollar_value") > 0)
        .group_by("customer_id", "purchase_date")
        .agg(pl.col("dollar_value").sum())
    )
    return (
        days.group_by("customer_id")
        .agg(
            recency_days=(pl.date(1998, 6, 30) - pl.col("purchase_date").max()).dt.total_days().cast(pl.Float64),
            frequency=pl.len().cast(pl.Float64),
            monetary=pl.col("dollar_value").mean(),
        )
        .sort("customer_id")
    )


def fit_quiet(frame, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentationWarning)
        return Segmenter(**params).fit(frame)


def frame_from(columns, n=None):
    data = {k: np.asarray(v, dtype=float) for k, v in columns.items()}
    n = len(next(iter(data.values())))
    return pl.DataFrame({"customer_id": [f"{i:06d}" for i in range(n)], **data})


def expand(X, labels, weights):
    return np.repeat(X, weights, axis=0), np.repeat(labels, weights)


def blobs(n_per=200, seed=0):
    """Three well separated customer groups over age/income (no RFM)."""
    rng = np.random.default_rng(seed)
    centers = np.array([[25, 20_000], [45, 60_000], [70, 120_000]])
    X = np.vstack([c + rng.normal(0, [2, 3000], size=(n_per, 2)) for c in centers])
    return frame_from({"age": X[:, 0], "income": X[:, 1]})
