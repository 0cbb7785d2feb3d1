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


# fit_binned: the weighted distinct set alone gives fit's segmentation (an engine
# that bins in place, Spark, hands over only that set).


def _binned_frame(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)],
        "recency_days": rng.integers(0, 500, n).astype(float),
        "frequency": rng.geometric(0.4, n).astype(float),
        "monetary": np.round(rng.lognormal(3, 1, n), 2),
        "is_country_uk": rng.integers(0, 2, n),
    })


@pytest.mark.parametrize("features", [None, ["recency_days", "frequency", "monetary",
                                             "is_country_uk"]])
def test_fit_binned_equals_fit(features):
    frame = _binned_frame()
    kwargs = dict(features=features, n_init=10, n_resamples=5, seed=3)
    full = Segmenter(**kwargs).fit(frame)
    # What an engine that bins in place hands over: the candidates' edges and
    # their distinct binned vectors with counts, in any order.
    binned = [f for f in full.features_in_ if not f.startswith("is_")]
    onehot = [f for f in full.features_in_ if f.startswith("is_")]
    vectors = np.column_stack(
        [np.searchsorted(np.asarray(full.bin_edges_[f])[1:-1], frame[f].to_numpy(), side="right")
         for f in binned] + [frame[f].to_numpy() for f in onehot]).astype(float)
    distinct, counts = np.unique(vectors, axis=0, return_counts=True)
    order = np.random.default_rng(1).permutation(len(counts))
    fitted = Segmenter(**kwargs).fit_binned(distinct[order], counts[order],
                                            bin_edges={f: full.bin_edges_[f] for f in binned},
                                            onehot=onehot)
    assert fitted.features_ == full.features_
    np.testing.assert_array_equal(fitted.distinct_, full.distinct_)
    np.testing.assert_array_equal(fitted.weights_, full.weights_)
    np.testing.assert_array_equal(fitted.centroids_, full.centroids_)
    assert fitted.selection_.equals(full.selection_)
    assert fitted.segment_names_ == full.segment_names_
    assert fitted.k_rule_ == full.k_rule_
    np.testing.assert_array_equal(fitted.segment_sizes_, full.segment_sizes_)
    # per distinct vector: the label every customer with that vector got
    np.testing.assert_array_equal(fitted.labels_[full.inverse_], full.labels_)
    # the fitted pipeline (what MLflow logs) is fit's: the same learned bins and the
    # same segment for every customer
    np.testing.assert_array_equal(fitted.to_pipeline().predict(frame), full.labels_)
    np.testing.assert_array_equal(fitted.predict(frame), full.labels_)
    if full.discretizer_ is not None:
        for got, want in zip(fitted.discretizer_.bin_edges_, full.discretizer_.bin_edges_):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(fitted.discretizer_.n_bins_, full.discretizer_.n_bins_)
