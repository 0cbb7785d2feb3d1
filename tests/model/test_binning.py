"""Tests for segkit/model/binning.py: bins, collapsed bins, the feature drop rule, one-hot pass-through."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from segkit.model import SegmentationWarning, Segmenter
from segkit.model.binning import _distinct

from tests.model.helpers import blobs, fit_quiet, RFM


def test_cdnow_binning_records_tied_frequency_and_distinct_vectors(seg, rfm):
    assert seg.features_in_ == RFM and seg.features_ == RFM
    # About half the customers bought on one day: frequency cannot fill 4 bins.
    assert seg.collapsed_bins_["frequency"] >= 1
    assert seg.n_bins_["frequency"] == 4 - seg.collapsed_bins_["frequency"]
    assert len(seg.bin_edges_["frequency"]) == seg.n_bins_["frequency"] + 1
    assert any("frequency" in w and "collapsed" in w for w in seg.warnings_)
    assert seg.collapsed_bins_["recency_days"] == 0 and seg.collapsed_bins_["monetary"] == 0
    # Distinct vectors: same order as np.unique(axis=0), counts add up, inverse rebuilds the data.
    np.testing.assert_array_equal(seg.distinct_, np.unique(seg.binned_, axis=0))
    np.testing.assert_array_equal(seg.distinct_[seg.inverse_], seg.binned_)
    assert seg.weights_.sum() == seg.n_customers_ == rfm.height
    assert seg.n_distinct_ <= 4 * 4 * 4
    assert seg.correlation_.columns == ["feature", *RFM]


def test_constant_feature_dropped_with_reason():
    frame = blobs().with_columns(pl.lit(3.0).alias("tenure"))
    with pytest.warns(SegmentationWarning, match="tenure"):
        s = Segmenter(n_resamples=5, k_max=5).fit(frame)
    assert s.features_ == ["age", "income"]
    assert s.dropped_features_ == [
        {"feature": "tenure", "reason": "carries no information (a single bin after discretization)"}
    ]
    assert s.correlation_.filter(pl.col("feature") == "tenure")["age"][0] is None


def test_duplicate_feature_dropped_with_reason():
    frame = blobs().with_columns((pl.col("income") * 2 + 5).alias("income_x2"))
    s = fit_quiet(frame, n_resamples=5, k_max=5)
    assert s.features_ == ["age", "income"]
    assert s.dropped_features_ == [{"feature": "income_x2", "reason": "duplicates age (r=1.00)"}] or (
        s.dropped_features_[0]["feature"] == "income_x2"
        and s.dropped_features_[0]["reason"].startswith("duplicates ")
        and "(r=1.00)" in s.dropped_features_[0]["reason"]
    )
    # The pipeline needs only the kept columns.
    np.testing.assert_array_equal(s.to_pipeline().predict(frame.select("age", "income")), s.labels_)


def test_onehot_columns_pass_through_unbinned():
    frame = blobs().with_columns(is_member=pl.Series([1.0, 0.0] * 300))
    # One-hot columns feed the clustering only when asked for by name.
    assert fit_quiet(frame, n_resamples=5, k_max=4).features_ == ["age", "income"]
    s = fit_quiet(frame, n_resamples=5, k_max=4, features=["age", "income", "is_member"])
    assert s.features_ == ["age", "income", "is_member"] and s.onehot_ == ["is_member"]
    np.testing.assert_array_equal(s.binned_[:, 2], frame["is_member"].to_numpy())
    assert s.n_bins_["is_member"] == 2
    np.testing.assert_array_equal(s.to_pipeline().predict(frame), s.labels_)
    with pytest.raises(ValueError, match="only 0/1"):
        Segmenter(features=["age", "is_member"]).fit(
            frame.with_columns(is_member=pl.Series([2.0, 0.0] * 300)))


def test_drop_rule_keeps_the_first_of_correlated_features_and_drops_single_bins():
    from segkit.model.binning import drop_features

    corr = np.array([[1.0, 0.97, 0.1], [0.97, 1.0, 0.2], [0.1, 0.2, 1.0]])
    kept, dropped = drop_features(["a", "b", "c"], [4, 4, 1], corr, 0.95)
    assert kept == [0]
    assert dropped == [("b", "duplicates a (r=0.97)"),
                       ("c", "carries no information (a single bin after discretization)")]


@given(st.integers(1, 9).flatmap(lambda d: st.tuples(
    st.lists(st.integers(2, 5), min_size=d, max_size=d),
    st.integers(1, 400), st.integers(0, 2**32 - 1))))
@settings(max_examples=60, deadline=None)
def test_the_distinct_vectors_are_numpys_distinct_rows(case):
    # The distinct binned vectors, which customer has which and how many: the
    # same as np.unique over rows, whether codes are counted (few possible codes)
    # or sorted (up to 5^9).
    n_bins, n, seed = case
    rng = np.random.default_rng(seed)
    B = np.column_stack([rng.integers(0, nb, n) for nb in n_bins]).astype(float)
    distinct, inverse, counts = _distinct(B, n_bins)
    expected, expected_inverse, expected_counts = np.unique(
        B, axis=0, return_inverse=True, return_counts=True)
    assert np.array_equal(distinct, expected)
    assert np.array_equal(inverse, expected_inverse.ravel())
    assert np.array_equal(counts, expected_counts)
