"""Tests for segkit/model/selection.py: where k is chosen: the elbow, the k rule, the selection table."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from segkit.model import find_elbow, SegmentationWarning, Segmenter

from tests.model.helpers import fit_quiet, frame_from


def test_find_elbow_kneedle():
    assert find_elbow([1, 2, 3, 4, 5, 6, 7, 8, 9], [100, 70, 40, 10, 9, 8, 7, 6, 5]) == 4
    assert find_elbow([2, 3, 4, 5], [30, 20, 10, 0]) == 2  # straight line: no knee
    assert find_elbow([2, 3], [10, 5]) == 2
    with pytest.raises(ValueError, match="strictly increasing"):
        find_elbow([3, 2, 4], [1, 2, 3])


def test_selection_table_shape_and_chosen_rule(seg):
    t = seg.selection_
    assert t.columns == [
        "k", "inertia", "silhouette", "davies_bouldin", "calinski_harabasz",
        "stability_ari_mean", "stability_ari_p10", "stability_ari_min", "is_elbow", "is_chosen",
    ]  # fmt: skip
    assert t["k"].to_list() == seg.k_range_ == list(range(2, 11))
    assert t["is_chosen"].sum() == 1 and t["is_elbow"].sum() == 1
    assert t.filter(pl.col("is_elbow"))["k"][0] == seg.elbow_k_
    assert (t["inertia"].diff().drop_nulls() < 0).all()
    # The documented rule, recomputed from the table.
    cand = t.filter((pl.col("stability_ari_mean") >= 0.9) & (pl.col("k") <= seg.n_distinct_ / 2))
    best = cand.sort(["silhouette", "k"], descending=[True, False]).row(0, named=True)
    elbow = cand.filter(pl.col("k") == seg.elbow_k_)
    expected = seg.elbow_k_ if elbow.height and elbow["silhouette"][0] >= best["silhouette"] - 0.02 else best["k"]
    assert seg.k_ == expected


def test_forced_k_matches_the_swept_fit(seg, rfm):
    forced_k = 6 if seg.k_ != 6 else 5
    s = fit_quiet(rfm, k=forced_k)
    assert s.k_ == forced_k and s.centroids_.shape[0] == forced_k
    assert "set by the caller" in s.k_rule_
    # Seeds depend on (seed, k) only: the forced k reproduces the swept row.
    assert s.selection_.drop("is_chosen").equals(seg.selection_.drop("is_chosen"))
    assert s.selection_.filter(pl.col("is_chosen"))["k"][0] == forced_k


def test_no_stable_k_falls_back_with_warning():
    rng = np.random.default_rng(0)
    frame = frame_from({"a": rng.uniform(size=2000), "b": rng.uniform(size=2000)})
    with pytest.warns(SegmentationWarning, match="no stable segmentation"):
        # k = 4 (the quadrants of the uniform square) would be perfectly stable.
        s = Segmenter(n_bins=10, stability_threshold=1.0, n_resamples=20, k_max=3).fit(frame)
    t = s.selection_
    assert t["stability_ari_mean"].max() < 1.0
    assert s.k_ == t.sort(["stability_ari_mean", "silhouette"], descending=True)["k"][0]
    assert "most stable" in s.k_rule_


def test_few_distinct_vectors_adapt_k_range_with_warning():
    pts = np.array([[0.0, 0.0], [0.0, 10.0], [10.0, 0.0], [10.0, 10.0]])
    X = np.repeat(pts, [30, 20, 20, 30], axis=0)
    frame = frame_from({"a": X[:, 0], "b": X[:, 1]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = Segmenter(n_resamples=5).fit(frame)
    assert any(issubclass(w.category, SegmentationWarning) and "adapted" in str(w.message) for w in caught)
    assert s.n_distinct_ == 4
    assert s.k_range_ == [2, 3, 4]
    assert any("adapted" in w for w in s.warnings_)
    assert s.selection_["k"].to_list() == [2, 3, 4]
    assert s.k_ == 2  # at most n_distinct / 2 segments


def test_choose_k_is_a_pure_rule_elbow_within_tolerance_fallback_and_forced_k():
    from segkit.model.selection import choose_k

    def fit(silhouette, ari):
        return {"silhouette": silhouette, "ari_mean": ari}

    fits = {2: fit(0.50, 0.95), 3: fit(0.49, 0.95), 4: fit(0.40, 0.95)}
    rule_args = dict(elbow=3, k_min=2, k_max=4, n_distinct=10, threshold=0.9)
    k, rule, warning = choose_k(fits, k=None, **rule_args)
    assert (k, warning) == (3, None) and rule.startswith("k = 3: the elbow")
    k, rule, _ = choose_k(fits, k=4, **rule_args)
    assert k == 4 and "the automatic rule would have chosen k = 3: the elbow" in rule
    unstable = {2: fit(0.5, 0.6), 3: fit(0.4, 0.8)}
    k, rule, warning = choose_k(unstable, elbow=2, k_min=2, k_max=3, k=None, n_distinct=10,
                                threshold=0.9)
    assert k == 3 and "most stable k was taken" in rule
    assert warning.startswith("no stable segmentation: best mean bootstrap ARI is 0.80")
