"""Weighted clustering metrics: each equals scikit-learn's on the expanded rows.

A distinct binned vector with weight w stands for w identical customers, so
silhouette, Davies-Bouldin, Calinski-Harabasz, the adjusted Rand index and the
correlation here are computed on the distinct vectors with counts.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist


# ---------------------------------------------------------------------------
# Weighted metrics (exactly equal to sklearn on the expanded data)
# ---------------------------------------------------------------------------


def _check_weighted(X, labels, weights):
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    labels = np.asarray(labels)
    weights = np.asarray(weights, dtype=float)
    if not (X.shape[0] == labels.shape[0] == weights.shape[0]):
        raise ValueError(
            f"X, labels and weights must have the same number of rows, got "
            f"{X.shape[0]}, {labels.shape[0]} and {weights.shape[0]}"
        )
    if weights.size and (weights.min() < 0 or not np.all(np.isfinite(weights))):
        raise ValueError(f"weights must be finite and >= 0, got min {weights.min()!r}")
    # Rows with zero weight are absent from the expanded data.
    keep = weights > 0
    X, labels, weights = X[keep], labels[keep], weights[keep]
    _, codes = np.unique(labels, return_inverse=True)
    codes = codes.ravel()
    n_labels = int(codes.max()) + 1 if codes.size else 0
    n = weights.sum()
    if not 2 <= n_labels <= n - 1:
        raise ValueError(
            f"Number of labels is {n_labels}. Valid values are 2 to n_samples - 1 "
            f"(inclusive), n_samples = {n:g} (total weight)"
        )
    return X, codes, weights, n_labels


def weighted_silhouette(X, labels, weights):
    """Mean silhouette coefficient of rows repeated ``weights`` times.

    Equal (to floating point rounding) to
    ``sklearn.metrics.silhouette_score(np.repeat(X, weights, 0), np.repeat(labels, weights))``
    but costs O(m^2) in the number of distinct rows m instead of O(n^2).

    Parameters
    ----------
    X : array-like of shape (m, d)
        Distinct rows.
    labels : array-like of shape (m,)
        Cluster label of each row.
    weights : array-like of shape (m,)
        Number of customers behind each row (non-negative).

    Returns
    -------
    float
        Weighted mean of s(i). As in sklearn, the mean distance to the own
        cluster divides by ``W_c - 1`` (the point itself is excluded) and s(i) = 0
        for a cluster of total weight 1.
    """
    X, codes, w, k = _check_weighted(X, labels, weights)
    dist = cdist(X, X)
    # cluster_dist[i, c] = sum over rows j in cluster c of w_j * d(i, j).
    onehot = np.zeros((len(codes), k))
    onehot[np.arange(len(codes)), codes] = w
    cluster_dist = dist @ onehot
    size = onehot.sum(axis=0)
    own = size[codes]
    idx = np.arange(len(codes))
    with np.errstate(divide="ignore", invalid="ignore"):
        a = cluster_dist[idx, codes] / (own - 1)
        mean_other = cluster_dist / size
    mean_other[idx, codes] = np.inf
    b = mean_other.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (b - a) / np.maximum(a, b)
    s = np.nan_to_num(s)
    s[own <= 1] = 0.0
    return float(np.sum(w * s) / w.sum())


def _weighted_centroids(X, codes, w, k):
    size = np.bincount(codes, weights=w, minlength=k)
    sums = np.zeros((k, X.shape[1]))
    np.add.at(sums, codes, X * w[:, None])
    return sums / size[:, None], size


def weighted_davies_bouldin(X, labels, weights):
    """Davies-Bouldin index of rows repeated ``weights`` times.

    Equal to ``sklearn.metrics.davies_bouldin_score`` on the expanded data
    (lower is better). Parameters as in :func:`weighted_silhouette`.

    Returns
    -------
    float
    """
    X, codes, w, k = _check_weighted(X, labels, weights)
    centroids, size = _weighted_centroids(X, codes, w, k)
    to_centroid = np.linalg.norm(X - centroids[codes], axis=1)
    intra = np.bincount(codes, weights=w * to_centroid, minlength=k) / size
    centroid_dist = cdist(centroids, centroids)
    # Same degenerate-case handling as sklearn.
    if np.allclose(intra, 0) or np.allclose(centroid_dist, 0):
        return 0.0
    centroid_dist[centroid_dist == 0] = np.inf
    combined = intra[:, None] + intra[None, :]
    return float(np.mean(np.max(combined / centroid_dist, axis=1)))


def weighted_calinski_harabasz(X, labels, weights):
    """Calinski-Harabasz index of rows repeated ``weights`` times.

    Equal to ``sklearn.metrics.calinski_harabasz_score`` on the expanded data
    (higher is better). Parameters as in :func:`weighted_silhouette`.

    Returns
    -------
    float
    """
    X, codes, w, k = _check_weighted(X, labels, weights)
    n = w.sum()
    mean = (w[:, None] * X).sum(axis=0) / n
    centroids, size = _weighted_centroids(X, codes, w, k)
    extra = float(np.sum(size * np.sum((centroids - mean) ** 2, axis=1)))
    intra = float(np.sum(w * np.sum((X - centroids[codes]) ** 2, axis=1)))
    return 1.0 if intra == 0.0 else extra * (n - k) / (intra * (k - 1.0))


def weighted_adjusted_rand(labels_a, labels_b, weights):
    """Adjusted Rand index of two labelings of rows repeated ``weights`` times.

    Equal to ``sklearn.metrics.adjusted_rand_score`` on the expanded data
    (bit-identical for integer weights: the same integer pair-counting formula
    is used on the count-weighted contingency table).

    Parameters
    ----------
    labels_a, labels_b : array-like of shape (m,)
        Two labelings of the same distinct rows.
    weights : array-like of shape (m,)
        Number of customers behind each row (non-negative).

    Returns
    -------
    float
        1.0 for identical partitions (up to renaming), about 0 for random ones.
    """
    a = np.asarray(labels_a)
    b = np.asarray(labels_b)
    w = np.asarray(weights, dtype=float)
    if not (a.shape == b.shape == w.shape) or a.ndim != 1:
        raise ValueError(
            f"labels_a, labels_b and weights must be 1-D of equal length, got shapes "
            f"{a.shape}, {b.shape} and {w.shape}"
        )
    if w.size and w.min() < 0:
        raise ValueError(f"weights must be >= 0, got min {w.min()!r}")
    _, ca = np.unique(a, return_inverse=True)
    _, cb = np.unique(b, return_inverse=True)
    ca, cb = ca.ravel(), cb.ravel()
    ka = int(ca.max()) + 1 if ca.size else 1
    kb = int(cb.max()) + 1 if cb.size else 1
    table = np.bincount(ca * kb + cb, weights=w, minlength=ka * kb).reshape(ka, kb)
    integral = bool(np.all(w == np.round(w)))
    if integral:
        table = table.astype(np.int64)
    # sklearn.metrics.cluster.pair_confusion_matrix, on the weighted table.
    n = table.sum()
    n_c = table.sum(axis=1)
    n_k = table.sum(axis=0)
    sum_squares = (table**2).sum()
    tp = sum_squares - n
    fp = (table @ n_k).sum() - sum_squares
    fn = (table.T @ n_c).sum() - sum_squares
    tn = n**2 - fp - fn - sum_squares
    if integral:
        tn, fp, fn, tp = int(tn), int(fp), int(fn), int(tp)
    if fn == 0 and fp == 0:
        return 1.0
    return float(2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn)))


def _cluster_jaccard(labels_ref, labels_new, weights, k_ref):
    """Hennig's cluster-wise Jaccard: best match of each reference cluster."""
    kb = int(labels_new.max()) + 1
    table = np.bincount(labels_ref * kb + labels_new, weights=weights, minlength=k_ref * kb)
    table = table.reshape(k_ref, kb)
    union = table.sum(axis=1)[:, None] + table.sum(axis=0)[None, :] - table
    with np.errstate(divide="ignore", invalid="ignore"):
        jac = np.where(union > 0, table / union, 0.0)
    return jac.max(axis=1)


def _weighted_corr(X, w):
    """Pearson correlation of columns of rows repeated w times; NaN for constant columns."""
    if X.shape[1] == 0:
        return np.zeros((0, 0))
    cov = np.atleast_2d(np.cov(X.T, fweights=w, ddof=0))
    sd = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(sd, sd)
    corr[:, sd == 0] = np.nan
    corr[sd == 0, :] = np.nan
    np.fill_diagonal(corr, np.where(sd > 0, 1.0, np.nan))
    return np.clip(corr, -1.0, 1.0)
