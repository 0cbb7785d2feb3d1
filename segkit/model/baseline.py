"""The stability of data with no structure: what the segments' stability is read against.

Managers read structure into clusters of random data (Bottomley & Nairn 2004),
and a stable partition is not proof of structure: K-Means on a grid of binned
values can find the same cut on every resample of structureless data. So the
bootstrap behind ``stability_ari_mean`` is also run on the same binned vectors
with every column shuffled independently among the customers: each column keeps
its distribution, every link between columns is gone. The segments' stability
means something only where it stands above this baseline.

:func:`shuffle_columns` draws the shuffled customers from the distinct vectors
and their counts (no customer rows needed, as on Spark); :func:`baseline_aris`
runs the bootstrap on them; :func:`make_baseline` ties both to a Segmenter's
seed, for :func:`~segkit.model.kmeans.fit_range`.
"""

from __future__ import annotations

import numpy as np

from segkit.model.kmeans import _MAX_BLOCK, _batched_weighted_kmeans, resample_restarts
from segkit.model.metrics import weighted_adjusted_rand

# The baseline's random stream, apart from the fits': SeedSequence([seed, k])
# seeds a k's fit, [seed, BASELINE_STREAM] the shuffle and [seed, k,
# BASELINE_STREAM] its refits, so turning the baseline on changes no fit.
BASELINE_STREAM = 0xBA5E


def shuffle_columns(distinct, counts, rng):
    """The distinct vectors and counts of the customers once each column is shuffled alone.

    Shuffling a column among n customers pairs its values with the other
    columns' at random. Drawn column by column: the customers of each vector
    built so far receive the next column's values by a multivariate
    hypergeometric draw (sampling without replacement from that column's
    values), which is exactly how a random permutation deals them. A few draws
    per column, whatever the number of customers.

    Parameters
    ----------
    distinct : ndarray of shape (m, d)
        Distinct binned vectors.
    counts : ndarray of shape (m,)
        Customers per vector (non-negative integers, at least one positive).
    rng : numpy.random.Generator

    Returns
    -------
    distinct : ndarray of shape (m', d)
        The shuffled data's distinct vectors, in lexicographic order.
    counts : ndarray of shape (m',)
        Customers per vector; same total, and each column has the same values
        with the same counts as before.
    """
    X = np.asarray(distinct, dtype=float)
    w = np.asarray(counts, dtype=np.int64)
    if X.ndim != 2 or w.shape != (X.shape[0],):
        raise ValueError(f"distinct must be (m, d) and counts (m,), got {X.shape} and {w.shape}")
    if w.size == 0 or w.min() < 0 or w.sum() < 1:
        raise ValueError("counts must be non-negative with at least one customer")
    rows = np.zeros((1, 0))
    cell = np.array([int(w.sum())], dtype=np.int64)
    for j in range(X.shape[1]):
        values, inverse = np.unique(X[:, j], return_inverse=True)
        per_value = np.bincount(inverse.ravel(), weights=w, minlength=values.size).astype(np.int64)
        remaining = cell.copy()
        table = np.zeros((cell.size, values.size), dtype=np.int64)
        for v in range(values.size - 1):  # the last value takes the places left
            drawn = rng.multivariate_hypergeometric(remaining, int(per_value[v]))
            table[:, v] = drawn
            remaining -= drawn
        table[:, -1] = remaining
        # nonzero() walks the table row by row: vectors stay in lexicographic order.
        c, v = np.nonzero(table)
        rows = np.column_stack([rows[c], values[v]])
        cell = table[c, v]
    return rows, cell


def baseline_aris(X, w, k, *, n_resamples, restarts, rng):
    """Bootstrap ARIs of k segments on (shuffled) distinct vectors: the stability procedure.

    As for the segments (``kmeans.fit_k``): a reference fit, ``n_resamples``
    multinomial resamples of the customers, each refitted and predicting every
    vector, and the ARI over all customers. Here the reference fit takes the
    refits' ``restarts`` (best of them), not ``n_init``, and runs in the same
    numpy batch: a few hundred times cheaper on a wide table, and fewer
    restarts can only lower an ARI.

    Returns
    -------
    ndarray of shape (n_resamples,)
    """
    X = np.asarray(X, dtype=float)
    w = np.asarray(w, dtype=float)
    n = int(w.sum())
    W = np.vstack([w[None, :], rng.multinomial(n, w / n, size=n_resamples).astype(float)])
    per_block = max(1, _MAX_BLOCK // (X.shape[0] * k * restarts))
    labels = np.vstack([
        _batched_weighted_kmeans(X, W[start:start + per_block], k, restarts, rng)[0]
        for start in range(0, W.shape[0], per_block)])
    return np.array([weighted_adjusted_rand(labels[0], b, w) for b in labels[1:]])


def make_baseline(distinct, counts, base_seed, *, n_resamples, n_init, fit_resamples):
    """The baseline of a sweep: a function of k returning its bootstrap ARIs.

    The columns are shuffled once, from ``base_seed`` (the Segmenter's seed);
    each k refits with its own stream, so threads and the rest of the k range
    change nothing. Refits take the restarts of the segments' own refits
    (``resample_restarts`` on the real vectors and ``fit_resamples``).

    Returns
    -------
    callable
        ``baseline(k) -> ndarray of shape (n_resamples,)``.
    """
    X = np.asarray(distinct, dtype=float)
    Xs, ws = shuffle_columns(X, counts, np.random.default_rng([base_seed, BASELINE_STREAM]))

    def baseline(k):
        restarts = resample_restarts(X.shape[0], k, n_init, fit_resamples)
        return baseline_aris(Xs, ws, k, n_resamples=n_resamples, restarts=restarts,
                             rng=np.random.default_rng([base_seed, k, BASELINE_STREAM]))

    return baseline
