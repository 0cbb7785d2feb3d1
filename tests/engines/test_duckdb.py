"""Tests for segkit/engines/duckdb.py: the DuckDB engine's per-customer steps."""

from __future__ import annotations

import numpy as np
import polars as pl

from segkit.config import demo_config
from segkit.engines import DuckDBEngine
from segkit.engines.duckdb import profile_frames
from segkit.pipeline.tables import profile_query
from tests.pipeline.test_tables import N, fitted, features_from_duckdb


def test_profile_frames_share_the_features_chunks_and_medians_read_numeric_columns():
    frame = features_from_duckdb()
    assert frame.n_chunks() > 1
    feats, model = fitted(frame)
    frames = profile_frames(feats, model, profile_query(feats, model, [1, 2, 3]))
    members, numeric = frames["segment_members"], frames["segment_numeric_members"]
    assert numeric.columns == ["segment_index", "recency_days", "monetary"]
    # Every column in the frame's chunks: selecting and exporting to Arrow (what
    # registering does) copy no column; uneven chunks would copy all of them.
    for registered in (members, numeric):
        assert set(registered.n_chunks("all")) == {frame.n_chunks()}
    assert members["segment_index"].to_list() == (np.arange(N) % 3).tolist()


def _profiles(frame: pl.DataFrame) -> pl.DataFrame:
    feats, model = fitted(frame)
    return DuckDBEngine(demo_config()).segment_profiles(
        feats, model, [1, 2, 3], profile_query(feats, model, [1, 2, 3]))


def test_profiles_are_the_same_whatever_the_chunks():
    frame = features_from_duckdb()
    chunked = _profiles(frame)
    assert chunked.equals(_profiles(frame.rechunk()))
    segment = frame.with_columns(segment=pl.Series(np.arange(N) % 3))
    expected = segment.group_by("segment").agg(pl.col("monetary").median()).sort("segment")
    rows = chunked.filter(pl.col("feature") == "monetary").sort("segment_index")
    assert rows["median"].to_list() == expected["monetary"].to_list()
    # One-hot levels carry shares, never a median.
    onehot = chunked.filter(pl.col("kind") == "onehot")
    assert onehot["median"].null_count() == onehot.height == 6


def test_segment_history_gives_every_customer_its_segment_id_and_name():
    frame = features_from_duckdb().head(6)
    feats, model = fitted(frame)
    model.labels_ = np.array([0, 1, 2, 2, 1, 0], dtype=np.int32)
    model.distances_ = np.linspace(0, 1, 6)
    model.binned_ = np.zeros((6, 2))
    tables = DuckDBEngine(demo_config()).customer_tables("run-1", feats, model, [7, 3, 9])
    history = tables["segments.segment_history"]
    assert history["customer_id"].to_list() == frame["customer_id"].to_list()
    assert history["segment_id"].to_list() == [7, 3, 9, 9, 3, 7]
    assert history["segment_name"].to_list() == ["Loyal", "At Risk", "Lost", "Lost",
                                                 "At Risk", "Loyal"]
    assert history["run_id"].unique().to_list() == ["run-1"]
