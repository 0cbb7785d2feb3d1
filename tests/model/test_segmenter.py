"""Tests for segkit/model/segmenter.py: the Segmenter estimator end to end on CDNOW RFM."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import adjusted_rand_score

from segkit.model import Segmenter

from tests.model.helpers import blobs, fit_quiet, frame_from, RFM, RFM_NAMES


def test_cdnow_targets(seg):
    row = seg.selection_.filter(pl.col("is_chosen")).row(0, named=True)
    assert row["k"] == seg.k_
    assert row["stability_ari_mean"] >= 0.9
    assert row["silhouette"] >= 0.39
    assert seg.k_ <= seg.n_distinct_ / 2
    assert seg.k_rule_.startswith(f"k = {seg.k_}:")
    assert len(seg.segment_names_) == seg.k_ and set(seg.segment_names_) <= RFM_NAMES
    # Per-segment Jaccard stability is consistent with the ARIs.
    assert seg.segment_stability_.shape == (seg.k_,)
    assert np.all((seg.segment_stability_ >= 0) & (seg.segment_stability_ <= 1))
    if seg.stability_aris_.min() == 1.0:
        np.testing.assert_array_equal(seg.segment_stability_, 1.0)


def test_seed_to_seed_reproducible_segmentation(seg, rfm):
    other = fit_quiet(rfm, seed=1)
    assert other.k_ == seg.k_
    assert adjusted_rand_score(seg.labels_, other.labels_) == 1.0
    # Canonical order makes even the indices and names equal, not just the partition.
    np.testing.assert_array_equal(seg.labels_, other.labels_)
    assert other.segment_names_ == seg.segment_names_


def test_fit_is_deterministic_and_row_order_invariant(seg, rfm):
    again = fit_quiet(rfm, seed=0)
    assert again.selection_.equals(seg.selection_)
    np.testing.assert_array_equal(again.labels_, seg.labels_)
    np.testing.assert_array_equal(again.centroids_, seg.centroids_)
    assert again.segment_names_ == seg.segment_names_
    shuffled = rfm.sample(fraction=1.0, shuffle=True, seed=7)
    s = fit_quiet(shuffled, seed=0)
    assert s.selection_.equals(seg.selection_)
    by_id = dict(zip(rfm["customer_id"], seg.labels_))
    assert [by_id[c] for c in shuffled["customer_id"]] == s.labels_.tolist()


def test_canonical_order_labels_distances_and_pipeline(seg, rfm):
    nb = np.array([seg.n_bins_[f] for f in seg.features_]) - 1
    level = seg.centroids_ / nb
    level[:, 0] = 1 - level[:, 0]  # recent = valuable
    value = level.mean(axis=1)
    assert np.all(np.diff(value) <= 1e-9), "segments must be ordered most valuable first"
    d = np.linalg.norm(seg.binned_[:, None, :] - seg.centroids_[None], axis=2)
    np.testing.assert_allclose(seg.distances_, d.min(axis=1), rtol=1e-12)
    assert np.all(d[np.arange(len(d)), seg.labels_] <= d.min(axis=1) + 1e-12)
    np.testing.assert_array_equal(seg.segment_sizes_, np.bincount(seg.labels_, minlength=seg.k_))
    pipe = seg.to_pipeline()
    np.testing.assert_array_equal(pipe.predict(rfm.select(RFM)), seg.labels_)
    np.testing.assert_array_equal(pipe.predict(rfm), seg.labels_)  # extra columns are ignored
    np.testing.assert_array_equal(seg.predict(rfm), seg.labels_)
    pd = pytest.importorskip("pandas")
    np.testing.assert_array_equal(pipe.predict(pd.DataFrame(rfm.select(RFM).to_dict(as_series=False))), seg.labels_)
    assert pipe.named_steps["kmeans"] is not seg.kmeans_  # caller may mutate it safely


def test_all_customers_identical_raises_clear_error():
    frame = frame_from({"recency_days": [5.0] * 50, "frequency": [2.0] * 50, "monetary": [9.0] * 50})
    with pytest.raises(ValueError, match=r"all candidate features \['recency_days', 'frequency', 'monetary'\] were dropped"):
        fit_quiet(frame)
    frame = frame_from({"is_a": [1.0] * 10, "is_b": [0.0] * 10})
    with pytest.raises(ValueError, match="were dropped"):
        fit_quiet(frame)


def test_fit_prints_nothing(capsys):
    fit_quiet(blobs(n_per=50), n_resamples=3, k_max=4)
    assert capsys.readouterr() == ("", "")


def test_sklearn_estimator_protocol():
    from sklearn.base import clone

    est = clone(Segmenter(k=3, n_bins=5, onehot=["is_x"]))
    assert est.get_params()["k"] == 3 and est.get_params()["onehot"] == ["is_x"]
    assert not hasattr(est, "labels_")


def test_predict_before_fit_raises():
    with pytest.raises(ValueError, match="not fitted"):
        Segmenter().predict(blobs(n_per=5))
