"""Tests for segkit/model/metrics.py: weighted metrics equal scikit-learn's on the expanded rows."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)

from segkit.model import (
    weighted_adjusted_rand,
    weighted_calinski_harabasz,
    weighted_davies_bouldin,
    weighted_silhouette,
)

from tests.model.helpers import expand, fit_quiet


@pytest.mark.parametrize("seed", range(5))
def test_weighted_metrics_equal_sklearn_on_expanded_data(seed):
    rng = np.random.default_rng(seed)
    X = np.unique(rng.integers(0, 4, size=(40, 3)).astype(float), axis=0)
    w = rng.integers(1, 30, size=len(X))
    w[0] = 1  # a singleton cluster below must get s(i) = 0
    labels = rng.integers(1, 5, size=len(X))
    labels[0] = 0
    Xe, le = expand(X, labels, w)
    assert weighted_silhouette(X, labels, w) == pytest.approx(silhouette_score(Xe, le), rel=1e-12, abs=1e-13)
    assert weighted_davies_bouldin(X, labels, w) == pytest.approx(davies_bouldin_score(Xe, le), rel=1e-12)
    assert weighted_calinski_harabasz(X, labels, w) == pytest.approx(calinski_harabasz_score(Xe, le), rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(1, 6), st.integers(0, 3), st.integers(0, 4)),
        min_size=2,
        max_size=25,
    )
)

def test_weighted_ari_and_silhouette_match_sklearn_property(rows):
    X = np.array([[a, b] for a, b, *_ in rows], dtype=float)
    w = np.array([r[2] for r in rows])
    la = np.array([r[3] for r in rows])
    lb = np.array([r[4] for r in rows])
    Xe, lae = expand(X, la, w)
    lbe = np.repeat(lb, w)
    # Bit-identical, not just close: same integer pair counts as sklearn.
    assert weighted_adjusted_rand(la, lb, w) == adjusted_rand_score(lae, lbe)
    n_labels = np.unique(la).size
    if 2 <= n_labels <= len(lae) - 1:
        assert weighted_silhouette(X, la, w) == pytest.approx(silhouette_score(Xe, lae), abs=1e-12)
    else:
        with pytest.raises(ValueError, match="Number of labels"):
            weighted_silhouette(X, la, w)


def test_weighted_ari_ignores_zero_weight_rows_and_rejects_bad_input():
    a, b = np.array([0, 0, 1, 1, 2]), np.array([1, 1, 0, 0, 0])
    w = np.array([3, 2, 4, 1, 0])
    assert weighted_adjusted_rand(a, b, w) == 1.0  # row 4 has no customers
    with pytest.raises(ValueError, match="equal length"):
        weighted_adjusted_rand(a, b[:-1], w)


def test_selection_metrics_equal_sklearn_on_all_customers(rfm):
    small = rfm.head(3000)
    s = fit_quiet(small, n_resamples=5)
    row = s.selection_.filter(pl.col("is_chosen"))
    assert row["silhouette"][0] == pytest.approx(silhouette_score(s.binned_, s.labels_), abs=1e-12)
    assert row["davies_bouldin"][0] == pytest.approx(davies_bouldin_score(s.binned_, s.labels_), rel=1e-12)
    assert row["calinski_harabasz"][0] == pytest.approx(calinski_harabasz_score(s.binned_, s.labels_), rel=1e-12)
    assert row["inertia"][0] == pytest.approx(((s.binned_ - s.centroids_[s.labels_]) ** 2).sum(), rel=1e-10)
