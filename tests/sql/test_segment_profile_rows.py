"""sql/build/segment_profile_rows.sql on a few literal rows: the exact profile rows."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from segkit import warehouse


def run_profile_sql(members, catalog, segments, centroids):
    con = duckdb.connect(":memory:")
    try:
        numeric = catalog.filter(pl.col("kind") == "numeric")["feature"].to_list()
        for name, frame in (("segment_members", members),
                            ("segment_numeric_members", members.select("segment_index", *numeric)),
                            ("profile_features", catalog),
                            ("fitted_segments", segments), ("segment_features", centroids)):
            con.register(name, frame)
        sql = (warehouse.sql_dir() / "build" / "segment_profile_rows.sql").read_text()
        return con.sql(sql).pl()
    finally:
        con.close()


@pytest.fixture
def profile():
    # Five customers: segment 0 = three of them, segment 1 = two; region has
    # levels North, South and the folded "other".
    members = pl.DataFrame({
        "segment_index": [0, 0, 0, 1, 1],
        "recency_days": [10, 20, 60, 300, 400],
        "is_region_north": [1, 1, 0, 0, 0],
        "is_region_south": [0, 0, 1, 1, 0],
        "is_region_other": [0, 0, 0, 0, 1],
    })
    catalog = pl.DataFrame({
        "feature": ["recency_days", "is_region_north", "is_region_south", "is_region_other"],
        "kind": ["numeric", "onehot", "onehot", "onehot"],
        "label": ["recency_days", "Region: North", "Region: South", "Region: other"],
        "attribute": [None, "region", "region", "region"],
        "attribute_label": [None, "Region", "Region", "Region"],
        "level": [None, "North", "South", "other"],
        "position": [0, 1, 2, 3],
    })
    segments = pl.DataFrame({
        "segment_index": [0, 1], "segment_id": [7, 3], "segment_name": ["Loyal", "Lost"],
        "description": ["bought recently", "has not bought for a long time"],
        "stability": [0.9, 0.8]})
    centroids = pl.DataFrame({
        "segment_index": [0, 1], "feature": ["recency_days", "recency_days"],
        "centroid": [0.5, 3.0], "phrase": ["bought recently", "has not bought for a long time"],
        "description_rank": [1, 1]})
    return run_profile_sql(members, catalog, segments, centroids)


def test_numeric_rows_keep_mean_and_median(profile):
    rows = profile.filter(pl.col("kind") == "numeric").select(
        "segment_id", "segment_name", "n_customers", "share", "feature", "mean", "median",
        "centroid", "phrase", "description_rank").rows()
    assert rows == [(7, "Loyal", 3, 0.6, "recency_days", 30.0, 20.0, 0.5, "bought recently", 1),
                    (3, "Lost", 2, 0.4, "recency_days", 350.0, 350.0, 3.0,
                     "has not bought for a long time", 1)]


def test_onehot_rows_carry_shares_that_add_up_to_one(profile):
    onehot = profile.filter(pl.col("kind") == "onehot")
    assert onehot.select("segment_index", "level", "level_share", "overall_share",
                         "mean", "median").rows() == [
        (0, "North", 2 / 3, 0.4, None, None),
        (0, "South", 1 / 3, 0.4, None, None),
        (0, "other", 0.0, 0.2, None, None),
        (1, "North", 0.0, 0.4, None, None),
        (1, "South", 0.5, 0.4, None, None),
        (1, "other", 0.5, 0.2, None, None),
    ]
    sums = onehot.group_by("segment_index", "attribute").agg(pl.col("level_share").sum())
    assert sums["level_share"].to_list() == pytest.approx([1.0, 1.0])


def test_categorical_row_names_the_most_common_level(profile):
    rows = profile.filter(pl.col("kind") == "categorical").select(
        "segment_index", "feature", "label", "top_level", "level_share", "overall_share").rows()
    # Segment 1 has a tie (South, other): the level listed first wins.
    assert rows == [(0, "region", "Region", "North", 2 / 3, 0.4),
                    (1, "region", "Region", "South", 0.5, 0.4)]
    # The summary row comes before its levels.
    assert profile.filter(pl.col("segment_index") == 0)["feature"].to_list() == [
        "recency_days", "region", "is_region_north", "is_region_south", "is_region_other"]
