"""Tests for segkit/model/tsne.py: the t-SNE map."""

from __future__ import annotations

import numpy as np
import pytest

from segkit.model import TSNE_DEFAULTS, tsne_map


def test_tsne_map_stratified_deterministic_and_records_params(seg):
    kw = dict(sample_size=400, seed=3, max_iter=250)  # default method: "distinct"
    idx, coords = tsne_map(seg.binned_, seg.labels_, **kw)
    again = tsne_map(seg.binned_, seg.labels_, **kw)
    np.testing.assert_array_equal(idx, again.indices)
    np.testing.assert_array_equal(coords, again.coords)
    assert coords.shape == (len(idx), 2) and np.all(np.diff(idx) > 0)
    assert abs(len(idx) - 400) <= 5 * seg.k_
    sampled = np.bincount(seg.labels_[idx], minlength=seg.k_)
    assert np.all(sampled >= np.minimum(5, seg.segment_sizes_))
    info = again.info
    assert info["method"] == "distinct" and info["max_iter"] == 250
    assert info["n_points_embedded"] == np.unique(seg.binned_[idx], axis=0).shape[0]
    # The opt-in method embeds every sampled customer.
    jit = tsne_map(seg.binned_, seg.labels_, method="jitter", **kw)
    np.testing.assert_array_equal(jit.indices, idx)
    assert jit.info["method"] == "jitter" and jit.info["n_points_embedded"] == len(idx)
    assert info["perplexity"] == TSNE_DEFAULTS["perplexity"] and info["sample_size"] == len(idx)
    assert info["perplexity_used"] == min(30.0, (info["n_points_embedded"] - 1) / 3)
    with pytest.raises(ValueError, match="method must be"):
        tsne_map(seg.binned_, seg.labels_, method="umap")


def test_tsne_map_bounds_wide_data_and_leaves_rfm_maps_alone(seg, wide):
    """Wide data: t-SNE embeds about max_points vectors, every segment kept; RFM: unchanged."""
    kw = dict(sample_size=2000, seed=1, max_iter=250)
    capped = tsne_map(wide.binned_, wide.labels_, max_points=60, **kw)
    assert capped.info["max_points"] == 60
    assert capped.info["n_points_embedded"] <= 60 + 5 * wide.k_
    assert set(np.unique(wide.labels_[capped.indices])) == set(range(wide.k_))
    assert capped.coords.shape == (len(capped.indices), 2)
    rfm_map = tsne_map(seg.binned_, seg.labels_, **kw)
    same = tsne_map(seg.binned_, seg.labels_, max_points=seg.n_distinct_, **kw)
    assert "max_points" not in rfm_map.info
    assert np.array_equal(rfm_map.indices, same.indices) and np.array_equal(rfm_map.coords, same.coords)
    with pytest.raises(ValueError, match="max_points"):
        tsne_map(seg.binned_, seg.labels_, max_points=2)
