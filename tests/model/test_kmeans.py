"""Tests for segkit/model/kmeans.py: k-means on weighted distinct vectors and the batched bootstrap refits."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits


@pytest.mark.parametrize("k", [3, 5, 7])
def test_same_init_weighted_fit_equals_plain_fit(seg, k):
    rng = np.random.default_rng(k)
    # Jittered off the grid so no customer is equidistant from two centres.
    init = seg.distinct_[rng.choice(seg.n_distinct_, size=k, replace=False)] + rng.uniform(-0.1, 0.1, (k, 3))
    with threadpool_limits(limits=1):
        weighted = KMeans(k, init=init, n_init=1, tol=0.0).fit(seg.distinct_, sample_weight=seg.weights_)
        plain = KMeans(k, init=init, n_init=1, tol=0.0).fit(seg.binned_)
    np.testing.assert_array_equal(weighted.labels_[seg.inverse_], plain.labels_)
    assert weighted.inertia_ == pytest.approx(plain.inertia_, rel=1e-10)
    np.testing.assert_allclose(weighted.cluster_centers_, plain.cluster_centers_, rtol=1e-10, atol=1e-12)


def test_weighted_many_restarts_no_worse_than_plain_kmeans_on_all_customers(seg):
    table = seg.selection_
    for k, inertia in zip(table["k"], table["inertia"]):
        with threadpool_limits(limits=1):
            plain = KMeans(k, n_init=10, random_state=0).fit(seg.binned_)
        assert inertia <= plain.inertia_ * (1 + 1e-9), f"k={k}"


def test_vectorized_bootstrap_kmeans_finds_sklearn_optimum(seg):
    """The numpy k-means used for the resample refits reaches sklearn's optimum."""
    from segkit.model.kmeans import _batched_weighted_kmeans

    w = seg.weights_.astype(float)
    for k, inertia in zip(seg.selection_["k"], seg.selection_["inertia"]):
        if k > 5:  # beyond 5, 100 restarts do not reliably find the optimum (docs/MODEL.md)
            break
        labels, inert = _batched_weighted_kmeans(seg.distinct_, w[None, :], k, 100, np.random.default_rng(k))
        assert inert[0] == pytest.approx(inertia, rel=1e-9), f"k={k}"
        assert labels.shape == (1, seg.n_distinct_)


def _reference_batched_weighted_kmeans(X, W, k, n_init, rng, max_iter=300):
    """The bootstrap k-means as it was before the centre-major rewrite (verbatim)."""
    from segkit.model.kmeans import _sample_rows

    def sqdist(X, x2, C):
        d2 = x2[None, :, None] - 2.0 * np.matmul(C, X.T).transpose(0, 2, 1) + np.einsum("bkd,bkd->bk", C, C)[:, None, :]
        return np.maximum(d2, 0.0)

    m = X.shape[0]
    x2 = np.einsum("md,md->m", X, X)
    Wr = np.repeat(W, n_init, axis=0)
    b = Wr.shape[0]
    n_trials = 2 + int(np.log(k))
    idx = np.empty((b, k), dtype=np.int64)
    idx[:, 0] = _sample_rows(Wr, rng)
    closest = sqdist(X, x2, X[idx[:, :1]])[:, :, 0]
    for j in range(1, k):
        p = Wr * closest
        empty = p.sum(axis=1) <= 0
        p[empty] = Wr[empty]
        trials = np.column_stack([_sample_rows(p, rng) for _ in range(n_trials)])
        cand = np.minimum(closest[:, None, :], sqdist(X, x2, X[trials]).transpose(0, 2, 1))
        best = np.einsum("blm,bm->bl", cand, Wr).argmin(axis=1)
        idx[:, j] = trials[np.arange(b), best]
        closest = cand[np.arange(b), best]
    C = X[idx]
    labels = np.full((b, m), -1)
    active = np.arange(b)
    for _ in range(max_iter):
        new = sqdist(X, x2, C[active]).argmin(axis=2)
        changed = (new != labels[active]).any(axis=1)
        labels[active] = new
        active, new = active[changed], new[changed]
        if active.size == 0:
            break
        flat = (np.arange(active.size)[:, None] * k + new).ravel()
        w = Wr[active].ravel()
        size = np.bincount(flat, weights=w, minlength=active.size * k).reshape(-1, k)
        sums = np.stack(
            [np.bincount(flat, weights=w * np.tile(X[:, j], active.size), minlength=active.size * k)
             for j in range(X.shape[1])],
            axis=-1,
        ).reshape(active.size, k, -1)
        C[active] = np.where(size[:, :, None] > 0, sums / np.maximum(size, 1e-300)[:, :, None], C[active])
    d2 = sqdist(X, x2, C)
    labels = d2.argmin(axis=2)
    inertia = (Wr * np.take_along_axis(d2, labels[:, :, None], axis=2)[:, :, 0]).sum(axis=1)
    best = inertia.reshape(-1, n_init).argmin(axis=1) + np.arange(W.shape[0]) * n_init
    return labels[best], inertia[best]


@pytest.mark.parametrize("data", ["cdnow", "wide"])
def test_bootstrap_kmeans_is_bit_identical_to_the_reference(data, request):
    """Same rng draws, same labels and the very same inertia floats as before the rewrite."""
    from segkit.model.kmeans import _batched_weighted_kmeans

    s = request.getfixturevalue("seg" if data == "cdnow" else "wide")
    X, w = s.distinct_.astype(float), s.weights_.astype(float)
    n = int(w.sum())
    for k in (2, 3, 5, 7):
        W = np.random.default_rng(k).multinomial(n, w / n, size=6).astype(float)
        new = _batched_weighted_kmeans(X, W, k, 4, np.random.default_rng([1, k]))
        ref = _reference_batched_weighted_kmeans(X, W, k, 4, np.random.default_rng([1, k]))
        assert np.array_equal(new[0], ref[0]), f"{data} k={k}: labels differ"
        assert np.array_equal(new[1], ref[1]), f"{data} k={k}: inertia differs"


def test_bootstrap_kmeans_on_non_integer_vectors_is_bit_identical_to_the_reference(wide):
    """Off the bin grid the sums are not exact integers: the bincount path, same floats."""
    from segkit.model.kmeans import _batched_weighted_kmeans, _sums_are_exact

    X = wide.distinct_.astype(float) + np.random.default_rng(0).uniform(0, 0.3, wide.distinct_.shape)
    w = wide.weights_.astype(float)
    n = int(w.sum())
    W = np.random.default_rng(3).multinomial(n, w / n, size=4).astype(float)
    assert not _sums_are_exact(X, W)
    for k in (2, 5):
        new = _batched_weighted_kmeans(X, W, k, 3, np.random.default_rng([1, k]))
        ref = _reference_batched_weighted_kmeans(X, W, k, 3, np.random.default_rng([1, k]))
        assert np.array_equal(new[0], ref[0]) and np.array_equal(new[1], ref[1]), f"k={k}"


def test_cluster_sums_are_exact_only_for_small_non_negative_integers():
    from segkit.model.kmeans import _sums_are_exact

    X = np.array([[0.0, 3.0], [1.0, 2.0]])
    W = np.array([[5.0, 0.0], [2.0, 3.0]])
    assert _sums_are_exact(X, W)
    assert not _sums_are_exact(X + 0.5, W)
    assert not _sums_are_exact(X, W + 0.5)
    assert not _sums_are_exact(-X - 1, W)
    assert not _sums_are_exact(X * 2.0 ** 50, W)


def test_k_values_fitted_side_by_side_find_what_one_after_the_other_finds(wide):
    """Threads change when a k is fitted, never what it finds: every float is the same."""
    from segkit.model.kmeans import fit_range

    X, w = wide.distinct_, wide.weights_
    args = dict(n_init=10, n_resamples=6, n_customers=int(w.sum()))
    alone = fit_range(X, w, [2, 3, 4, 5], 7, threads=1, **args)
    side_by_side = fit_range(X, w, [2, 3, 4, 5], 7, threads=4, **args)
    assert list(side_by_side) == [2, 3, 4, 5]
    for k, fit in alone.items():
        other = side_by_side[k]
        for key in ("inertia", "silhouette", "davies_bouldin", "calinski_harabasz", "ari_mean"):
            assert fit[key] == other[key], f"k={k}: {key}"
        assert np.array_equal(fit["boot"], other["boot"]), f"k={k}: refits"
        assert np.array_equal(fit["kmeans"].cluster_centers_, other["kmeans"].cluster_centers_)
