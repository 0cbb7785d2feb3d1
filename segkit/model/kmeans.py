"""K-means fits on the weighted distinct vectors: one k with its metrics, and the bootstrap.

:func:`fit_range` fits every k of a sweep, side by side on the cores when the
vectors are many; :func:`fit_k` fits one k with scikit-learn's KMeans and scores
it; the many resample refits that measure its stability run here, batched in numpy.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import ThreadpoolController

from segkit.model.metrics import (
    weighted_adjusted_rand,
    weighted_calinski_harabasz,
    weighted_davies_bouldin,
    weighted_silhouette,
)


# Random restarts per bootstrap refit (capped by ``n_init``). The full fit uses
# sklearn KMeans with ``n_init`` (default 100) restarts; the 9 x 50 resample refits
# use the vectorized numpy k-means below. Measured on CDNOW RFM (docs/MODEL.md):
# mean ARI per k with 10 / 30 / 100 restarts is 0.87 / 0.91 / 0.92 at k=2 and 1.0
# at k=4 for all three; 30 restarts cost ~0.35 s for k = 2..10, 100 cost ~1.5 s.
# Too few restarts can only make stability look worse, never better.
_RESAMPLE_RESTARTS = 30
# With many distinct vectors (demographics: hundreds) the refits' cost grows with
# m * k * n_resamples * restarts; fewer restarts (at least 3) keep it near a few
# seconds. RFM data (m <= 64) is far below this and keeps all 30.
_RESAMPLE_WORK = 2_000_000

# Distinct vectors from which the k values of a sweep are fitted on parallel
# threads (fit_range). Measured on 2 idle cores: the wide table's 2,210 vectors
# fit in 4.2 s instead of 6.8-7.4 s; the demo's 32 take 0.5 s either way (the
# GIL), and one thread leaves the other core to the build's warm-up imports.
_PARALLEL_MIN_VECTORS = 256

# Upper bound on the elements of one (batch, m, k) distance block in the
# vectorized k-means; bounds memory at ~32 MB per block.
_MAX_BLOCK = 4_000_000

_controller: ThreadpoolController | None = None


def one_thread():
    """A context in which BLAS and OpenMP use one thread (threadpoolctl's ``limit``).

    One controller for the process: ``threadpool_limits`` finds the loaded
    libraries again at every call, 3-11 ms each with DuckDB, Polars and MLflow
    loaded, and a build enters it a dozen times. Created at the first fit, when
    scikit-learn's and numpy's libraries are loaded.
    """
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1)


# ---------------------------------------------------------------------------
# Vectorized weighted k-means for the bootstrap refits
# ---------------------------------------------------------------------------


def _sample_rows(p, rng):
    """One index per row of the (b, m) non-negative matrix p, proportional to p."""
    c = np.cumsum(p, axis=1)
    u = rng.random(p.shape[0]) * c[:, -1]
    return np.minimum((c <= u[:, None]).sum(axis=1), p.shape[1] - 1)


def _sqdist(X, x2, C):
    """Squared distances (b, k, m) between centres C (b, k, d) and rows of X (m, d).

    Centre-major, so each centre's distances are one contiguous row: the
    nearest-centre loop below and the k-means++ candidates read them without a
    transposed copy.
    """
    # In place, no temporaries: (-2 g) + x2 is exactly x2 - 2 g (IEEE addition
    # commutes and negation is exact), then + |c|^2: the floats of the textbook
    # expression, which tests/model/test_kmeans.py checks against the former layout.
    d2 = np.matmul(C, X.T)
    d2 *= -2.0
    d2 += x2[None, None, :]
    d2 += np.einsum("bkd,bkd->bk", C, C)[:, :, None]
    return np.maximum(d2, 0.0, out=d2)


def _nearest(d2):
    """``d2.argmin(axis=1)`` for (b, k, m) distances: the first nearest centre.

    A loop over the few centres on contiguous (b, m) slices; numpy's argmin over
    a middle axis copies the array and is several times slower. Strict ``<``
    keeps the first of equal distances, as argmin does.
    """
    best = d2[:, 0, :].copy()
    labels = np.zeros(best.shape, dtype=np.intp)
    for j in range(1, d2.shape[1]):
        closer = np.less(d2[:, j, :], best)
        np.copyto(best, d2[:, j, :], where=closer)
        np.copyto(labels, j, where=closer)
    return labels, best


def _sums_are_exact(X, W):
    """True when every cluster sum of ``W * X`` is an exact integer in float64.

    Binned vectors are small integers and bootstrap weights are counts, so each
    product and every partial sum is an integer below 2**53: float addition is
    then exact and the order of summation cannot change a bit of the result.
    """
    bound = float(np.abs(X).max(initial=0.0)) * float(W.sum(axis=1).max(initial=0.0))
    return (bound < 2.0 ** 52 and bool(np.all(X >= 0)) and bool(np.all(X == np.round(X)))
            and bool(np.all(W >= 0)) and bool(np.all(W == np.round(W))))


def _exact_totals(X1, w, labels, k):
    """Exact weighted coordinate sums and sizes (b, k, d + 1) of each row's clusters.

    One batched matrix product of the weighted one-hot labels with ``X1`` (the
    vectors with a last column of ones); ``_sums_are_exact`` makes its floats
    those of the per-coordinate ``bincount`` of ``_cluster_sums``.
    """
    onehot = np.equal(labels[:, None, :], np.arange(k)[None, :, None]) * w[:, None, :]
    return np.matmul(onehot, X1)


def _move_points(totals, X1, w, rows, old, new):
    """Update exact running totals for the points whose cluster changed, in place.

    After the first Lloyd passes few points move, so this touches a few hundred
    entries instead of every (row, point); integer arithmetic keeps the totals
    equal to a full recount.
    """
    r, i = np.nonzero(old != new)
    row = rows[r]
    v = w[row, i][:, None] * X1[i]
    np.add.at(totals, (row, new[r, i]), v)
    np.subtract.at(totals, (row, old[r, i]), v)


def _cluster_sums(X, w, labels, k):
    """Weighted size (b, k) and coordinate sums (b, k, d) of each row's clusters.

    One flat bincount per coordinate, which adds in row order: used when the
    sums are not exact integers (see ``_sums_are_exact``).
    """
    n_act, d = labels.shape[0], X.shape[1]
    flat = (np.arange(n_act)[:, None] * k + labels).ravel()
    size = np.bincount(flat, weights=w.ravel(), minlength=n_act * k).reshape(-1, k)
    sums = np.stack([np.bincount(flat, weights=(w * X[:, j]).ravel(), minlength=n_act * k)
                     for j in range(d)], axis=-1).reshape(n_act, k, d)
    return size, sums


def _batched_weighted_kmeans(X, W, k, n_init, rng, max_iter=300):
    """Weighted k-means (k-means++ init, Lloyd) for many weight vectors at once.

    sklearn's KMeans costs a few ms per call even on 32 points, which is ~10 s for
    the 9 x 50 bootstrap refits; this runs all refits of one k as one numpy batch.

    Parameters
    ----------
    X : ndarray (m, d)
        Distinct vectors.
    W : ndarray (B, m)
        One weight vector per resample.
    k, n_init : int
        Clusters and random (k-means++) restarts per weight vector.
    rng : numpy.random.Generator

    Returns
    -------
    labels : ndarray (B, m)
        Nearest best centre for *every* distinct vector (also zero-weight ones).
    inertia : ndarray (B,)
    """
    m, d = X.shape
    x2 = np.einsum("md,md->m", X, X)
    Wr = np.repeat(W, n_init, axis=0)
    exact = _sums_are_exact(X, W)
    # "+ 0.0" turns a -0.0 into 0.0, the zero bincount's sums start from.
    X1 = np.hstack([X, np.ones((m, 1))]) + 0.0 if exact else X
    b = Wr.shape[0]
    # Greedy k-means++ as in sklearn: first centre proportional to weight; each
    # next one is the best (lowest potential) of 2 + log(k) candidates drawn
    # proportional to weight * D^2. Plain k-means++ reached the best optimum on
    # too few restarts for k >= 6 on CDNOW, which made stability look worse.
    n_trials = 2 + int(np.log(k))
    idx = np.empty((b, k), dtype=np.int64)
    idx[:, 0] = _sample_rows(Wr, rng)
    closest = _sqdist(X, x2, X[idx[:, :1]])[:, 0, :]
    for j in range(1, k):
        p = Wr * closest
        empty = p.sum(axis=1) <= 0  # fewer occupied points than k: any point will do
        p[empty] = Wr[empty]
        trials = np.column_stack([_sample_rows(p, rng) for _ in range(n_trials)])  # (b, L)
        cand = np.minimum(closest[:, None, :], _sqdist(X, x2, X[trials]))  # (b, L, m)
        best = np.einsum("blm,bm->bl", cand, Wr).argmin(axis=1)
        idx[:, j] = trials[np.arange(b), best]
        closest = cand[np.arange(b), best]
    C = X[idx]
    # Lloyd iterations; rows that reached a fixed point (labels unchanged) are
    # frozen so the batch shrinks as restarts converge.
    labels = np.full((b, m), -1)
    active = np.arange(b)
    totals = None  # exact sums: (b, k, d + 1) running totals, sizes last
    for _ in range(max_iter):
        new, _ = _nearest(_sqdist(X, x2, C[active]))
        old = labels[active]
        changed = (new != old).any(axis=1)
        labels[active] = new
        active, new, old = active[changed], new[changed], old[changed]
        if active.size == 0:
            break
        if not exact:
            size, sums = _cluster_sums(X, Wr[active], new, k)
        else:
            if totals is None:  # first pass: every row, every point
                totals = _exact_totals(X1, Wr, new, k)
            else:  # integers: moving the points that changed cluster is exact
                _move_points(totals, X1, Wr, active, old, new)
            size, sums = totals[active, :, -1], totals[active, :, :-1]
        # Empty clusters keep their centre (sklearn relocates; rare on resamples).
        C[active] = np.where(size[:, :, None] > 0, sums / np.maximum(size, 1e-300)[:, :, None], C[active])
    labels, nearest = _nearest(_sqdist(X, x2, C))
    inertia = (Wr * nearest).sum(axis=1)
    # Row r of the batch is restart r % n_init of weight vector r // n_init.
    best = inertia.reshape(-1, n_init).argmin(axis=1) + np.arange(W.shape[0]) * n_init
    return labels[best], inertia[best]


def _bootstrap_labels(X, counts, k, n_resamples, n_init, rng):
    """Labels of all distinct vectors under each bootstrap refit, shape (B, m)."""
    n = int(counts.sum())
    W = rng.multinomial(n, counts / n, size=n_resamples).astype(float)
    per_block = max(1, _MAX_BLOCK // (X.shape[0] * k * n_init))
    out = []
    for start in range(0, n_resamples, per_block):
        labels, _ = _batched_weighted_kmeans(X, W[start : start + per_block], k, n_init, rng)
        out.append(labels)
    return np.vstack(out)


def resample_restarts(m, k, n_init, n_resamples):
    """Random restarts of each bootstrap refit of k segments on m distinct vectors.

    ``min(n_init, 30)``, fewer (at least 3) when m * k * n_resamples * restarts
    would pass the work budget ``_RESAMPLE_WORK``.
    """
    return max(3, min(n_init, _RESAMPLE_RESTARTS, _RESAMPLE_WORK // (m * k * n_resamples)))


def fit_range(X, w, k_range, base_seed, *, n_init, n_resamples, n_customers, threads=None,
              baseline=None):
    """:func:`fit_k` for every k of ``k_range``, on as many threads as there are cores.

    A k's fit depends on (``base_seed``, k) only, so threads change when a fit
    runs, never what it finds. On many distinct vectors (customers-only tables
    with a dozen attributes: thousands) the fits are numpy and Cython work that
    releases the GIL, so k values run side by side on the cores. On a few dozen
    vectors (RFM) each call is mostly Python and threads would only queue for
    the GIL, so they run one after the other.

    ``threads`` overrides that choice (tests compare 1 with several).
    ``baseline``, when given, is a function of k returning the bootstrap ARIs
    of the random baseline (``segkit.model.baseline``): it runs in the same
    thread as that k's fit, and its ARIs are the fit's ``baseline_aris`` (its
    seconds under ``seconds["baseline"]``).

    Returns
    -------
    dict of int -> dict
        The fit of each k, in ``k_range`` order.
    """
    if threads is None:
        cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else os.cpu_count() or 1)
        threads = min(len(k_range), cores) if X.shape[0] >= _PARALLEL_MIN_VECTORS else 1

    def fit(k):
        result = fit_k(X, w, k, base_seed, n_init=n_init, n_resamples=n_resamples,
                       n_customers=n_customers)
        if baseline is not None:
            started = time.perf_counter()
            result["baseline_aris"] = baseline(k)
            result["seconds"]["baseline"] = time.perf_counter() - started
        return result

    # One thread inside each fit (see fit_k), set once around all of them: the
    # limit is process-wide, and threads entering and leaving their own limits
    # in turn would put the default back under a fit that is still running.
    with one_thread():
        if threads == 1:
            return {k: fit(k) for k in k_range}
        with ThreadPoolExecutor(threads, thread_name_prefix="segkit-k") as pool:
            return dict(zip(k_range, pool.map(fit, k_range)))


def fit_k(X, w, k, base_seed, *, n_init, n_resamples, n_customers):
    """Fit k segments on distinct vectors ``X`` with weights ``w``; score and bootstrap them.

    Seeds depend on (``base_seed``, k) only, so k=5 gives the same fit whether it
    is swept or forced, and whatever the rest of the range is. The fit's seconds
    are in ``seconds``: ``kmeans`` (the full fit) and ``stability`` (the refits).
    """
    rng = np.random.default_rng([base_seed, k])
    km = KMeans(
        n_clusters=k, n_init=n_init, tol=0.0, random_state=int(rng.integers(np.iinfo(np.int32).max))
    )
    # One thread: on a few dozen points OpenMP only adds overhead (20x slower
    # on a loaded 2-core box), and a fixed thread count keeps the floating
    # point summation order, hence the result, identical on every machine.
    t0 = time.perf_counter()
    with one_thread():
        km.fit(X, sample_weight=w)
    t1 = time.perf_counter()
    labels = km.labels_
    restarts = resample_restarts(X.shape[0], k, n_init, n_resamples)
    boot = _bootstrap_labels(X, w.astype(float), k, n_resamples, restarts, rng)
    aris = np.array([weighted_adjusted_rand(labels, b, w) for b in boot])
    seconds = {"kmeans": t1 - t0, "stability": time.perf_counter() - t1}
    n_clusters = np.unique(labels).size
    if 2 <= n_clusters <= n_customers - 1:
        metrics = (
            weighted_silhouette(X, labels, w),
            weighted_davies_bouldin(X, labels, w),
            weighted_calinski_harabasz(X, labels, w),
        )
    else:  # pathological (e.g. k-means returned fewer clusters than k)
        metrics = (float("nan"),) * 3
    return {
        "k": k,
        "kmeans": km,
        "inertia": float(km.inertia_),
        "silhouette": metrics[0],
        "davies_bouldin": metrics[1],
        "calinski_harabasz": metrics[2],
        "boot": boot,
        "aris": aris,
        "ari_mean": float(aris.mean()),
        "ari_p10": float(np.percentile(aris, 10)),
        "ari_min": float(aris.min()),
        "seconds": seconds,
    }
