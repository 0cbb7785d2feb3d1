"""Tests for segkit/pipeline/tables.py: the segment profiles a build computes from its frames."""

from __future__ import annotations

from types import SimpleNamespace

import duckdb
import numpy as np
import polars as pl

from segkit.pipeline.tables import _profile_frames, _segment_profiles

N = 300_000  # more than two of DuckDB's Arrow batches: the frame arrives in chunks


def _build(frame: pl.DataFrame):
    """The SQL stage's result and the fitted model, as far as the profiles read them."""
    feats = SimpleNamespace(
        frame=frame, numeric_features=["recency_days", "monetary"],
        onehot_features=["is_region_north", "is_region_south"], labels={},
        categoricals=[{"attribute": "region", "label": "Region",
                       "levels": [("is_region_north", "North"), ("is_region_south", "South")]}])
    labels = (np.arange(frame.height) % 3).astype(np.int32)
    model = SimpleNamespace(
        k_=3, labels_=labels, features_=["recency_days", "monetary"],
        centroids_=np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]]),
        segment_names_=["Loyal", "At Risk", "Lost"], segment_descriptions_=["a", "b", "c"],
        segment_stability_=np.array([0.9, 0.8, 0.7]),
        segment_key_features_=[[("recency_days", "bought recently")]] * 3)
    return feats, model


def _features_from_duckdb() -> pl.DataFrame:
    con = duckdb.connect()
    try:
        return con.sql(f"""
            select 'c' || i as customer_id, (i * 7919) % 365 * 1.0 as recency_days,
                   (i % 101) * 2.5 as monetary,
                   (i % 5 = 0)::int as is_region_north, (i % 5 <> 0)::int as is_region_south
            from range({N}) as t(i) order by i""").pl()
    finally:
        con.close()


def test_profile_frames_share_the_features_chunks_and_medians_read_numeric_columns():
    frame = _features_from_duckdb()
    assert frame.n_chunks() > 1
    frames = _profile_frames(*_build(frame), ids=[1, 2, 3])
    members, numeric = frames["segment_members"], frames["segment_numeric_members"]
    assert numeric.columns == ["segment_index", "recency_days", "monetary"]
    # Every column in the frame's chunks: selecting and exporting to Arrow (what
    # registering does) copy no column; uneven chunks would copy all of them.
    for registered in (members, numeric):
        assert set(registered.n_chunks("all")) == {frame.n_chunks()}
    assert members["segment_index"].to_list() == (np.arange(N) % 3).tolist()


def test_profiles_are_the_same_whatever_the_chunks():
    frame = _features_from_duckdb()
    chunked = _segment_profiles(*_build(frame), ids=[1, 2, 3])
    assert chunked.equals(_segment_profiles(*_build(frame.rechunk()), ids=[1, 2, 3]))
    segment = frame.with_columns(segment=pl.Series(np.arange(N) % 3))
    expected = segment.group_by("segment").agg(pl.col("monetary").median()).sort("segment")
    rows = chunked.filter(pl.col("feature") == "monetary").sort("segment_index")
    assert rows["median"].to_list() == expected["monetary"].to_list()
    # One-hot levels carry shares, never a median.
    onehot = chunked.filter(pl.col("kind") == "onehot")
    assert onehot["median"].null_count() == onehot.height == 6
