"""Segmenter.fit_binned: the weighted distinct set alone gives fit's segmentation."""

import numpy as np
import polars as pl
import pytest

from segkit.model import Segmenter


def _frame(n=3000, seed=0):
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
    frame = _frame()
    kwargs = dict(features=features, n_init=10, n_resamples=5, random_state=3)
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
