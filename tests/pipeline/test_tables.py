"""Tests for segkit/pipeline/tables.py: the profile query's inputs, for either engine."""

from __future__ import annotations

from types import SimpleNamespace

import duckdb
import numpy as np
import polars as pl

from segkit.pipeline.tables import profile_query

N = 300_000  # more than two of DuckDB's Arrow batches: the frame arrives in chunks


def fitted(frame: pl.DataFrame):
    """The SQL stage's result and the fitted model, as far as the profiles read them."""
    feats = SimpleNamespace(
        frame=frame, feature_columns=frame.columns,
        numeric_features=["recency_days", "monetary", "not_a_column"],
        onehot_features=["is_region_north", "is_region_south"], labels={"monetary": "Spend"},
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


def features_from_duckdb() -> pl.DataFrame:
    con = duckdb.connect()
    try:
        return con.sql(f"""
            select 'c' || i as customer_id, (i * 7919) % 365 * 1.0 as recency_days,
                   (i % 101) * 2.5 as monetary,
                   (i % 5 = 0)::int as is_region_north, (i % 5 <> 0)::int as is_region_south
            from range({N}) as t(i) order by i""").pl()
    finally:
        con.close()


def test_profile_query_profiles_the_feature_columns_with_their_labels_and_levels():
    frame = features_from_duckdb().head(10)
    query = profile_query(*fitted(frame), [4, 5, 6])
    # a feature the frame lacks is not profiled; one-hot columns have no median
    assert query.profiled == ["recency_days", "monetary", "is_region_north", "is_region_south"]
    assert query.numeric == ["recency_days", "monetary"]
    catalog = query.frames["profile_features"]
    assert catalog.select("feature", "kind", "label", "level").rows() == [
        ("recency_days", "numeric", "recency_days", None), ("monetary", "numeric", "Spend", None),
        ("is_region_north", "onehot", "is_region_north", "North"),
        ("is_region_south", "onehot", "is_region_south", "South")]
    assert query.frames["fitted_segments"]["segment_id"].to_list() == [4, 5, 6]
    centroids = query.frames["segment_features"]
    assert centroids.height == 3 * 2
    assert centroids.filter(pl.col("feature") == "recency_days")["description_rank"].to_list() \
        == [1, 1, 1]
    assert "segment_means_wide" in query.sql  # the query an engine feeds its members
