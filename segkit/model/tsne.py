"""The t-SNE map of the customers: a bounded, stratified sample embedded in 2-D."""

from __future__ import annotations

import time
from numbers import Integral

import numpy as np
from sklearn.manifold import TSNE

from segkit.model.kmeans import one_thread


# ---------------------------------------------------------------------------
# t-SNE map
# ---------------------------------------------------------------------------

#: Default t-SNE settings (chosen by measurement, see docs/MODEL.md).
TSNE_DEFAULTS = {
    "method": "distinct",
    "jitter": 0.15,
    "perplexity": 30.0,
    "max_iter": 1000,
    "init": "pca",
    "learning_rate": "auto",
}


#: Most distinct vectors the default ("distinct") map embeds; see :func:`tsne_map`.
TSNE_MAX_POINTS = 500


class TsneResult(tuple):
    """``(indices, coords)`` tuple with an extra ``info`` dict of the settings used."""

    def __new__(cls, indices, coords, info):
        obj = super().__new__(cls, (indices, coords))
        obj.info = info
        return obj

    @property
    def indices(self):
        return self[0]

    @property
    def coords(self):
        return self[1]


def stratified_sample(labels, sample_size, rng, min_per_segment=5):
    """Sorted positions of a sample of ``sample_size`` customers, drawn per segment.

    Each segment gets its share of the sample (floored), and at least
    ``min_per_segment`` (or all its customers), so that small segments show on
    the map. Which positions are drawn within a segment depends only on the
    segments' sizes and ``rng``: the Spark engine relies on it to draw the same
    customers without bringing the labels to Python.
    """
    n = labels.shape[0]
    if sample_size >= n:
        return np.arange(n)
    segs, sizes = np.unique(labels, return_counts=True)
    # Proportional allocation, but every segment gets at least a few points so
    # small segments are visible on the map.
    alloc = np.maximum(np.floor(sizes * sample_size / n).astype(int), min_per_segment)
    alloc = np.minimum(alloc, sizes)
    picks = [np.sort(rng.choice(np.flatnonzero(labels == s), size=a, replace=False)) for s, a in zip(segs, alloc)]
    return np.sort(np.concatenate(picks))


def tsne_map(binned, labels, *, sample_size=5000, seed=0, method="distinct",
             max_points=TSNE_MAX_POINTS, **tsne_params):
    """2-D t-SNE map of a stratified sample of customers for the report.

    Parameters
    ----------
    binned : array-like of shape (n, d)
        Binned feature vectors (``Segmenter.binned_``).
    labels : array-like of shape (n,)
        Segment of each customer (``Segmenter.labels_``).
    sample_size : int, default=5000
        Customers to map; sampled per segment proportionally to its size, at least
        5 per segment.
    seed : int, default=0
        Seeds the sample, the jitter and t-SNE; same seed gives the same map.
    max_points : int, default=TSNE_MAX_POINTS (500)
        ``"distinct"`` only: most distinct vectors t-SNE embeds. When the sample
        has more (wide data: nearly every customer is its own vector), the map
        shows a stratified sub-sample of about ``max_points`` customers instead;
        ``.info`` then records ``max_points``. RFM data (a few dozen vectors) is
        never affected.
    method : {"distinct", "jitter"}, default="distinct"
        ``"distinct"``: t-SNE of only the distinct binned vectors in the sample
        (a few dozen points: ~0.15 s), each customer then drawn at its vector's
        position plus Gaussian noise of 2% of the map extent so the point count
        stays visible. Every customer of a segment shares the segment's few grid
        vectors, so this loses nothing but the fake within-vector spread.
        ``"jitter"``: t-SNE of all sampled binned vectors plus uniform noise of
        +/- ``jitter`` bins (t-SNE handles massive ties badly). Measured 10-17 s
        for 5,000 customers on a busy 2-core box, so it is opt-in.
    **tsne_params
        Overrides of :data:`TSNE_DEFAULTS` (``jitter``, ``perplexity``,
        ``max_iter``, ``init``, ``learning_rate``).

    Returns
    -------
    TsneResult
        Unpacks as ``(indices, coords)``: row indices into ``binned`` (sorted) and
        their (s, 2) coordinates; ``.info`` is a JSON-safe dict of the method and
        parameters (``perplexity_used`` is the perplexity after capping at
        (points - 1) / 3), the number of points embedded and the seconds taken.
    """
    X = np.asarray(binned, dtype=float)
    labels = np.asarray(labels)
    _check_arguments(X, labels, method, tsne_params, sample_size, max_points)
    params = {**TSNE_DEFAULTS, **tsne_params, "method": method}
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    idx = stratified_sample(labels, sample_size, rng)
    Xs = X[idx]
    tsne_seed = int(rng.integers(2**31 - 1))
    if method == "jitter":
        jittered = Xs + rng.uniform(-params["jitter"], params["jitter"], size=Xs.shape)
        coords = _embed(jittered, params, tsne_seed)
        embedded = len(idx)
    else:
        idx, coords, embedded = _distinct_map(X, labels, idx, rng, max_points, params, tsne_seed)
    params["sample_size"] = int(len(idx))
    params["n_points_embedded"] = int(embedded)
    params["seed"] = int(seed) if isinstance(seed, Integral) else repr(seed)
    params["seconds"] = round(time.perf_counter() - start, 3)
    return TsneResult(idx, coords, params)


def _check_arguments(X, labels, method, tsne_params, sample_size, max_points) -> None:
    if X.ndim != 2 or labels.shape != (X.shape[0],):
        raise ValueError(f"binned must be (n, d) and labels (n,), got {X.shape} and {labels.shape}")
    if method not in ("jitter", "distinct"):
        raise ValueError(f"method must be 'jitter' or 'distinct', got {method!r}")
    unknown = set(tsne_params) - set(TSNE_DEFAULTS) - {"method"}
    if unknown:
        raise ValueError(f"unknown t-SNE parameters {sorted(unknown)}; allowed: {sorted(TSNE_DEFAULTS)}")
    if not (isinstance(sample_size, Integral) and sample_size >= 2):
        raise ValueError(f"sample_size must be an integer >= 2, got {sample_size!r}")
    if not (isinstance(max_points, Integral) and max_points >= 4):
        raise ValueError(f"max_points must be an integer >= 4, got {max_points!r}")


def _embed(data, params: dict, tsne_seed: int) -> np.ndarray:
    """t-SNE of ``data`` to 2-D; records the perplexity used in ``params``."""
    # t-SNE needs perplexity < n points; a few dozen distinct vectors get less.
    perplexity = min(params["perplexity"], max(1.0, (data.shape[0] - 1) / 3))
    params["perplexity_used"] = float(perplexity)
    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        max_iter=params["max_iter"],
        init=params["init"],
        learning_rate=params["learning_rate"],
        random_state=tsne_seed,
    )
    # One OpenMP thread: measured 2.4 s vs 16-24 s for 2,000 points on a busy
    # 2-core box (spin-waiting threads), and the map no longer depends on cores.
    with one_thread():
        return tsne.fit_transform(data)


def _distinct_map(X, labels, idx, rng, max_points, params, tsne_seed):
    """The "distinct" method: embed the sample's distinct vectors, draw customers around them.

    Returns the (possibly sub-sampled) row indices, their coordinates and the
    number of points embedded.
    """
    Xs = X[idx]
    distinct, inverse = np.unique(Xs, axis=0, return_inverse=True)
    if distinct.shape[0] > max_points:
        # Barnes-Hut t-SNE costs ~10 ms per point here (2,200 distinct vectors of a
        # wide customer table: 9 s); a stratified sub-sample keeps every segment's
        # island at a bounded cost. Drawn only in this case, so maps of RFM data
        # (tens of vectors) are unchanged.
        idx = idx[stratified_sample(labels[idx], max_points, rng)]
        Xs = X[idx]
        distinct, inverse = np.unique(Xs, axis=0, return_inverse=True)
        params["max_points"] = int(max_points)
    if distinct.shape[0] < 4:
        # Too few points for t-SNE (it needs perplexity < points). Up to three
        # points lie in a plane, so their first two principal axes place them
        # at their exact distances: a valid map, not an error.
        centered = distinct - distinct.mean(axis=0)
        _, _, vt = np.linalg.svd(centered, full_matrices=False)
        layout = np.zeros((distinct.shape[0], 2))
        layout[:, :min(2, vt.shape[0])] = centered @ vt[:2].T
        params["layout"] = "pca (fewer than 4 distinct vectors)"
    else:
        layout = _embed(distinct + rng.uniform(-1e-3, 1e-3, size=distinct.shape), params,
                        tsne_seed)
    extent = layout.max(axis=0) - layout.min(axis=0)
    spread = 0.02 * np.where(extent > 0, extent, 1.0)
    coords = layout[inverse.ravel()] + rng.normal(0.0, 1.0, size=(len(idx), 2)) * spread
    return idx, coords, distinct.shape[0]
