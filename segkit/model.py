"""Customer segmentation model: binned features + weighted K-Means on distinct vectors.

The model discretizes every (non one-hot) feature into a few ordinal bins, so the
customers collapse onto at most ``n_bins ** d`` distinct vectors (about 32-48 for
RFM with 4 bins). Everything after discretization -- K-Means, silhouette,
Davies-Bouldin, Calinski-Harabasz, bootstrap stability -- runs on the distinct
vectors with their customer counts as weights, which is exactly equivalent to
running it on all customers but thousands of times cheaper. See docs/MODEL.md.

This module does no I/O and prints nothing: degraded results are reported with
:class:`SegmentationWarning` and recorded in ``Segmenter.warnings_``.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from numbers import Integral, Real

import numpy as np
import polars as pl
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.manifold import TSNE
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import KBinsDiscretizer
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

__all__ = [
    "Segmenter",
    "SegmentationWarning",
    "TsneResult",
    "TSNE_DEFAULTS",
    "RFM_FEATURES",
    "describe_segment",
    "find_elbow",
    "match_segment_ids",
    "rfm_segment_name",
    "tsne_map",
    "weighted_adjusted_rand",
    "weighted_calinski_harabasz",
    "weighted_davies_bouldin",
    "weighted_silhouette",
]

#: Default features when ``features=None`` and all three columns exist (one list: feature_names).
from segkit.feature_names import RFM_FEATURES  # noqa: E402

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

# Upper bound on the elements of one (batch, m, k) distance block in the
# vectorized k-means; bounds memory at ~32 MB per block.
_MAX_BLOCK = 4_000_000

# Silhouette tolerance within which the elbow k is preferred to the best k.
ELBOW_SILHOUETTE_TOLERANCE = 0.02


class SegmentationWarning(UserWarning):
    """A degraded but usable result (collapsed bins, dropped features, ...)."""


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


# ---------------------------------------------------------------------------
# Elbow, id matching
# ---------------------------------------------------------------------------


def find_elbow(ks, inertias):
    """Knee of a decreasing inertia curve (Kneedle, Satopaa et al. 2011).

    Both axes are normalised to [0, 1]; the knee is the point furthest *below*
    the chord from the first to the last point (for a convex decreasing curve
    this is the point of maximum curvature). Written here because it is eight
    lines and the ``kneed`` package is not a dependency.

    Parameters
    ----------
    ks : array-like of int
        Increasing k values.
    inertias : array-like of float
        Inertia (within-cluster sum of squares) at each k.

    Returns
    -------
    int
        The elbow k. With fewer than three points, a flat curve, or no point
        below the chord (no knee), the smallest k is returned.
    """
    ks = np.asarray(ks, dtype=float)
    y = np.asarray(inertias, dtype=float)
    if ks.shape != y.shape or ks.ndim != 1 or ks.size == 0:
        raise ValueError(f"ks and inertias must be 1-D of equal non-zero length, got {ks.shape} and {y.shape}")
    if np.any(np.diff(ks) <= 0):
        raise ValueError(f"ks must be strictly increasing, got {ks.tolist()}")
    if ks.size < 3 or y.max() == y.min():
        return int(ks[0])
    x_n = (ks - ks[0]) / (ks[-1] - ks[0])
    y_n = (y - y.min()) / (y.max() - y.min())
    chord = y_n[0] + (y_n[-1] - y_n[0]) * x_n
    below = chord - y_n
    i = int(np.argmax(below))
    # Tolerance: a straight line is "no knee" despite rounding in the normalisation.
    return int(ks[i]) if below[i] > 1e-9 else int(ks[0])


def match_segment_ids(new_centroids, previous_centroids, previous_ids, *, max_distance):
    """Carry segment ids over from a previous build.

    Segments are paired by the Hungarian algorithm
    (:func:`scipy.optimize.linear_sum_assignment`) on the Euclidean distance
    between centroids in binned space; a pair within ``max_distance`` keeps the
    previous id. Unpaired or too-distant new segments get fresh ids
    ``max(previous_ids) + 1, + 2, ...`` in the order of the new segments.

    Parameters
    ----------
    new_centroids : array-like of shape (k_new, d)
    previous_centroids : array-like of shape (k_old, d)
        May have a different number of rows (k changed between builds).
    previous_ids : sequence of int of length k_old
    max_distance : float
        Largest centroid move (in bins) that still counts as "the same segment".

    Returns
    -------
    list of int
        One id per new segment.
    """
    new = np.atleast_2d(np.asarray(new_centroids, dtype=float))
    old = np.asarray(previous_centroids, dtype=float)
    ids = [int(i) for i in previous_ids]
    if old.size == 0:
        old = old.reshape(0, new.shape[1])
    if old.ndim != 2 or old.shape[1] != new.shape[1]:
        raise ValueError(
            f"previous_centroids has shape {old.shape} but new_centroids has {new.shape[1]} "
            f"columns; both builds must use the same features"
        )
    if len(ids) != old.shape[0]:
        raise ValueError(f"previous_ids has {len(ids)} ids for {old.shape[0]} previous centroids")
    if len(set(ids)) != len(ids):
        raise ValueError(f"previous_ids must be unique, got {ids}")
    if not (isinstance(max_distance, Real) and max_distance >= 0):
        raise ValueError(f"max_distance must be a number >= 0, got {max_distance!r}")
    result = [None] * new.shape[0]
    if old.shape[0]:
        cost = cdist(new, old)
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols):
            if cost[r, c] <= max_distance:
                result[r] = ids[c]
    next_id = max(ids) + 1 if ids else 0
    for i in range(len(result)):
        if result[i] is None:
            result[i] = next_id
            next_id += 1
    return result


# ---------------------------------------------------------------------------
# Naming
# ---------------------------------------------------------------------------


def _role(feature):
    name = feature.lower()
    for role in ("recency", "frequency", "monetary"):
        if role in name:
            return role
    return None


def _level(value, n_bins):
    """Centroid position in [0, 1] relative to the feature's bins."""
    return float(np.clip(value / max(n_bins - 1, 1), 0.0, 1.0))


def _score(level):
    """1..5 score, rounding half up so it does not depend on banker's rounding."""
    return int(math.floor(1 + 4 * level + 0.5))


# (rule, name) in priority order; r = R score, fm = rounded mean of F and M scores.
# The grid is the widely used R x FM map (e.g. Putler / "RFM segments"), plus Lost.
_RFM_RULES = (
    ("Champions", lambda r, fm: r == 5 and fm >= 4),
    ("Loyal", lambda r, fm: r in (3, 4) and fm >= 4),
    ("Potential Loyalist", lambda r, fm: r >= 4 and fm in (2, 3)),
    ("New", lambda r, fm: r == 5 and fm == 1),
    ("Promising", lambda r, fm: r == 4 and fm == 1),
    ("Need Attention", lambda r, fm: r == 3 and fm == 3),
    ("About to Sleep", lambda r, fm: r == 3 and fm <= 2),
    ("Can't Lose Them", lambda r, fm: r <= 2 and fm == 5),
    ("At Risk", lambda r, fm: r <= 2 and fm in (3, 4)),
    ("Lost", lambda r, fm: r == 1 and fm == 1),
    ("Hibernating", lambda r, fm: r <= 2 and fm <= 2),
)


def rfm_segment_name(r_score, fm_score):
    """Classic RFM segment name for an R score and an FM score (both 1..5).

    See the table in docs/MODEL.md; every (r, fm) pair in 1..5 x 1..5 maps to
    exactly one name.
    """
    r, fm = int(r_score), int(fm_score)
    if not (1 <= r <= 5 and 1 <= fm <= 5):
        raise ValueError(f"scores must be integers in 1..5, got r={r_score!r}, fm={fm_score!r}")
    for name, rule in _RFM_RULES:
        if rule(r, fm):
            return name
    raise AssertionError("unreachable: the RFM rules cover the whole 5x5 grid")


def _rfm_scores(centroid_row, features, n_bins_per_feature):
    scores = {}
    for value, feature, nb in zip(centroid_row, features, n_bins_per_feature):
        role = _role(feature)
        if role is None or role in scores:
            continue
        level = _level(value, nb)
        scores[role] = _score(1 - level if role == "recency" else level)
    return scores


_WORDS = {
    "recency": ("has not bought for a long time", "bought a while ago", "bought recently"),
    "frequency": ("buys rarely", "buys occasionally", "buys often"),
    "monetary": ("spends little", "spends a moderate amount", "spends a lot"),
}


def _human(feature, labels=None):
    """How people call a feature: its label (the source spelling), else the name in words."""
    if labels and feature in labels:
        return labels[feature]
    name = feature[3:] if feature.startswith("is_") else feature
    return name.replace("_", " ")


def _band(level):
    # Thirds of the bin range: low / middle / high.
    return 0 if level < 1 / 3 else (2 if level > 2 / 3 else 1)


def _phrase(feature, level, labels=None):
    """The words for one feature at a centroid level, e.g. "bought recently"."""
    role = _role(feature)
    if role == "recency":
        return _WORDS[role][_band(1 - level)]
    if role is not None:
        return _WORDS[role][_band(level)]
    if feature.startswith("is_"):
        return ("few ", "some ", "mostly ")[_band(level)] + _human(feature, labels)
    band = _band(level)
    if feature in _ADJECTIVES and band != 1 and not (labels and feature in labels):
        return _ADJECTIVES[feature][band // 2]
    return ("low ", "medium ", "high ")[band] + _human(feature, labels)


# A centroid this close to the average customer (in bin-range units) says nothing.
_KEY_MIN_GAP = 0.1


def _key_features(row, features, n_bins, overall=None, labels=None, n_features=3):
    """The (up to ``n_features``) features that set a centroid apart, in feature order.

    Returns a list of ``(feature index, phrase)``; "apart" is the distance of the
    centroid's level from the average customer's (``overall``, in bins; the middle
    of the bins when not given).
    """
    levels = [_level(v, nb) for v, nb in zip(row, n_bins)]
    middle = ([0.5] * len(levels) if overall is None
              else [_level(v, nb) for v, nb in zip(overall, n_bins)])
    gaps = [abs(a - b) for a, b in zip(levels, middle)]
    order = sorted(range(len(features)), key=lambda i: (-round(gaps[i], 9), i))
    # Chosen by distance, told in feature order, so cards read alike.
    chosen = sorted(i for i in order[:n_features] if gaps[i] >= _KEY_MIN_GAP)
    return [(i, _phrase(features[i], levels[i], labels)) for i in chosen]


def describe_segment(centroid_row, features, n_bins_per_feature, *, overall=None, labels=None,
                     n_features=3):
    """Plain-words description of what sets a centroid apart, e.g. "bought recently, spends a lot".

    Parameters
    ----------
    centroid_row : array-like of shape (d,)
        Centroid in binned space (bin index units).
    features : sequence of str of length d
    n_bins_per_feature : sequence of int of length d
        Number of bins each feature really has (2 for one-hot columns).
    overall : array-like of shape (d,) or None, default=None
        The average customer in binned space; ``None``: the middle of each feature's bins.
    labels : dict of str -> str or None, default=None
        How people call a feature (the source column as written); default: the
        feature name with underscores as spaces.
    n_features : int, default=3
        At most this many clauses.

    Returns
    -------
    str
        One clause per feature that sets the segment apart (the furthest from
        ``overall``, at least 0.1 of the bin range away; in feature order). RFM features
        get fixed wording (recency is inverted: a low bin means "bought
        recently"); other features read "low/medium/high <label>"; one-hot
        columns read "mostly/some/few <label>". "close to the average customer"
        when no feature stands out.
    """
    row = np.asarray(centroid_row, dtype=float).ravel()
    if not (len(row) == len(features) == len(n_bins_per_feature)):
        raise ValueError(
            f"centroid_row, features and n_bins_per_feature must have equal length, got "
            f"{len(row)}, {len(features)} and {len(n_bins_per_feature)}"
        )
    parts = _key_features(row, features, n_bins_per_feature, overall, labels, n_features)
    return ", ".join(p for _, p in parts) or "close to the average customer"


# Adjectives for common demographic features (low, high); others read "low x"/"high x".
_ADJECTIVES = {"age": ("younger", "older"), "tenure_days": ("newer", "long-standing")}


def _descriptive_name(row, features, n_bins, overall=None, labels=None):
    levels = np.array([_level(v, nb) for v, nb in zip(row, n_bins)])
    middle = (np.full(len(levels), 0.5) if overall is None
              else np.array([_level(v, nb) for v, nb in zip(overall, n_bins)]))
    # The two features furthest from the average customer that are high or low.
    order = sorted(range(len(features)), key=lambda i: (-round(abs(levels[i] - middle[i]), 9), i))
    words = []
    for i in order:
        band = _band(levels[i])
        if band == 1 or len(words) == 2:
            continue
        f = features[i]
        if f.startswith("is_"):
            words.append(("mostly not " if band == 0 else "mostly ") + _human(f, labels))
        elif f in _ADJECTIVES and not (labels and f in labels):
            words.append(_ADJECTIVES[f][band // 2])
        else:
            words.append(("low " if band == 0 else "high ") + _human(f, labels))
    if not words:
        return "Average"
    text = ", ".join(words)
    return text[0].upper() + text[1:]


# Words for "lower" / "higher" on a feature, used to tell apart segments that
# share a name (comparisons within the group, not absolute levels).
_COMPARE = {
    "recency": ("bought more recently", "bought longer ago"),
    "frequency": ("buys less often", "buys more often"),
    "monetary": ("spends less", "spends more"),
}


def _compare_words(feature, labels=None):
    role = _role(feature)
    if role is not None:
        return _COMPARE[role]
    label = _human(feature, labels)
    if feature.startswith("is_"):
        return (f"fewer {label}", f"more {label}")
    if feature in _ADJECTIVES and not (labels and feature in labels):
        return {"age": ("younger", "older"), "tenure_days": ("newer", "longer-standing")}[feature]
    return (f"lower {label}", f"higher {label}")


def _qualifiers(members, levels, features, labels, used=()):
    """Words that tell apart the segments ``members`` (indexes) sharing one name.

    The group is split on the feature whose centroid levels differ most within
    it (ties: the earlier feature), at the middle of that range: one side gets
    the "lower" word, the other the "higher" word. A side that still holds
    several segments is split again on the next feature. Returns one list of
    words per member.
    """
    result = {i: [] for i in members}
    if len(members) < 2:
        return result
    free = [j for j in range(len(features)) if j not in used]
    spans = [(round(float(np.ptp(levels[members, j])), 9), j) for j in free]
    spans = [(span, j) for span, j in spans if span > 0]
    if not spans:
        # Identical centroids (only possible for degenerate fits): letters, not numbers.
        for n, i in enumerate(members):
            result[i].append(f"variant {chr(ord('A') + n % 26)}")
        return result
    span, j = min(spans, key=lambda t: (-t[0], t[1]))
    middle = levels[members, j].min() + span / 2
    low_word, high_word = _compare_words(features[j], labels)
    sides = ([i for i in members if levels[i, j] <= middle],
             [i for i in members if levels[i, j] > middle])
    for side, word in zip(sides, (low_word, high_word)):
        deeper = _qualifiers(side, levels, features, labels, (*used, j))
        for i in side:
            result[i] = [word] + deeper[i]
    return result


def _segment_names(centroids, features, n_bins, overall=None, labels=None):
    """One distinct, deterministic name per centroid (see docs/MODEL.md, "Names")."""
    roles = {_role(f) for f in features}
    use_rfm = "recency" in roles and ("frequency" in roles or "monetary" in roles)
    names = []
    for row in centroids:
        if use_rfm:
            s = _rfm_scores(row, features, n_bins)
            fm_parts = [s[r] for r in ("frequency", "monetary") if r in s]
            fm = int(math.floor(sum(fm_parts) / len(fm_parts) + 0.5))
            names.append(rfm_segment_name(s["recency"], fm))
        else:
            names.append(_descriptive_name(row, features, n_bins, overall, labels))
    # Segments sharing a name get what separates them: "At Risk · spends more".
    levels = np.array([[_level(v, nb) for v, nb in zip(row, n_bins)] for row in centroids])
    unique = list(names)
    for name in dict.fromkeys(names):
        members = [i for i, n in enumerate(names) if n == name]
        if len(members) > 1:
            for i, words in _qualifiers(members, levels, features, labels).items():
                unique[i] = f"{name} · {', '.join(words)}"
    return unique


def _carry_names(names, kept, centroids, features, n_bins, labels=None):
    """Names after segments that kept their id took back their previous names.

    ``kept`` maps a segment index to its previous name. A segment named afresh
    whose name is now taken gets what separates it from the namesake(s), as in
    :func:`_segment_names`.
    """
    result = list(names)
    for i, name in kept.items():
        result[i] = name
    levels = np.array([[_level(v, nb) for v, nb in zip(row, n_bins)] for row in centroids])
    for i in range(len(result)):
        if i in kept:
            continue
        twins = [j for j in range(len(result)) if result[j] == result[i]]
        if len(twins) < 2:
            continue
        words = _qualifiers(twins, levels, features, labels)[i]
        joiner = ", " if " · " in result[i] else " · "
        candidate = result[i] + joiner + ", ".join(words)
        letter = 0
        while candidate in result:  # only identical centroids can get here
            candidate = f"{result[i]} · variant {chr(ord('A') + letter % 26)}"
            letter += 1
        result[i] = candidate
    return result


def _value_scores(centroids, features, n_bins, onehot):
    """Higher = more valuable customers. Recency is inverted (recent = valuable)."""
    cols = [i for i, f in enumerate(features) if f not in onehot] or list(range(len(features)))
    levels = np.column_stack(
        [
            (1 - centroids[:, i] / max(n_bins[i] - 1, 1))
            if _role(features[i]) == "recency"
            else centroids[:, i] / max(n_bins[i] - 1, 1)
            for i in cols
        ]
    )
    # Rounded so float noise in the last bits cannot reorder segments.
    return np.round(levels.mean(axis=1), 9)


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
    # expression, which tests/test_model.py checks against the former layout.
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
    for _ in range(max_iter):
        new, _ = _nearest(_sqdist(X, x2, C[active]))
        changed = (new != labels[active]).any(axis=1)
        labels[active] = new
        active, new = active[changed], new[changed]
        if active.size == 0:
            break
        # Weighted cluster sums via one flat bincount per coordinate.
        n_act = active.size
        flat = (np.arange(n_act)[:, None] * k + new).ravel()
        w = Wr[active]
        size = np.bincount(flat, weights=w.ravel(), minlength=n_act * k).reshape(-1, k)
        sums = np.stack([np.bincount(flat, weights=(w * X[:, j]).ravel(), minlength=n_act * k)
                         for j in range(d)], axis=-1).reshape(n_act, k, d)
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


def _stratified_sample(labels, sample_size, rng, min_per_segment=5):
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


def tsne_map(binned, labels, *, sample_size=5000, random_state=0, method="distinct",
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
    random_state : int, default=0
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
    params = {**TSNE_DEFAULTS, **tsne_params, "method": method}
    start = time.perf_counter()
    rng = np.random.default_rng(random_state)
    idx = _stratified_sample(labels, sample_size, rng)
    Xs = X[idx]
    tsne_seed = int(rng.integers(2**31 - 1))

    def run(data):
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
        with threadpool_limits(limits=1):
            return tsne.fit_transform(data)

    if method == "jitter":
        coords = run(Xs + rng.uniform(-params["jitter"], params["jitter"], size=Xs.shape))
    else:
        distinct, inverse = np.unique(Xs, axis=0, return_inverse=True)
        if distinct.shape[0] > max_points:
            # Barnes-Hut t-SNE costs ~10 ms per point here (2,200 distinct vectors of a
            # wide customer table: 9 s); a stratified sub-sample keeps every segment's
            # island at a bounded cost. Drawn only in this case, so maps of RFM data
            # (tens of vectors) are unchanged.
            idx = idx[_stratified_sample(labels[idx], max_points, rng)]
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
            layout = run(distinct + rng.uniform(-1e-3, 1e-3, size=distinct.shape))
        extent = layout.max(axis=0) - layout.min(axis=0)
        spread = 0.02 * np.where(extent > 0, extent, 1.0)
        coords = layout[inverse.ravel()] + rng.normal(0.0, 1.0, size=(len(idx), 2)) * spread
    params["sample_size"] = int(len(idx))
    params["n_points_embedded"] = int(len(idx) if method == "jitter" else distinct.shape[0])
    params["random_state"] = int(random_state) if isinstance(random_state, Integral) else repr(random_state)
    params["seconds"] = round(time.perf_counter() - start, 3)
    return TsneResult(idx, coords, params)


# ---------------------------------------------------------------------------
# Segmenter
# ---------------------------------------------------------------------------


def _codes(B, n_bins):
    """Mixed-radix integer code per row; sorting codes = lexicographic row order."""
    code = np.zeros(B.shape[0], dtype=np.int64)
    for j, nb in enumerate(n_bins):
        code = code * int(nb) + B[:, j].astype(np.int64)
    return code


def _distinct(B, n_bins):
    """Same result as ``np.unique(B, axis=0, return_inverse=True, return_counts=True)``, faster."""
    if math.prod(int(x) for x in n_bins) < 2**62:
        _, first, inverse, counts = np.unique(
            _codes(B, n_bins), return_index=True, return_inverse=True, return_counts=True
        )
        return B[first], inverse.ravel(), counts
    distinct, inverse, counts = np.unique(B, axis=0, return_inverse=True, return_counts=True)
    return distinct, inverse.ravel(), counts


class Segmenter(BaseEstimator):
    """Customer segmentation: quantile bins + weighted K-Means on distinct binned vectors.

    Parameters
    ----------
    features : list of str or None, default=None
        Candidate feature columns. ``None``: ``recency_days, frequency, monetary``
        if all three exist, otherwise every numeric column except ``customer_id``.
    n_bins : int, default=4
        Bins per (non one-hot) feature before tie-collapsing.
    strategy : {"quantile", "uniform", "kmeans"}, default="quantile"
        Binning strategy of :class:`~sklearn.preprocessing.KBinsDiscretizer`.
    k_min, k_max : int, default=2, 10
        Range of k swept (shrunk when there are few distinct vectors).
    k : int or None, default=None
        Force this number of segments (the sweep still runs for the report).
    correlation_threshold : float, default=0.95
        A feature whose binned values correlate with an earlier kept feature by
        more than this (absolute Pearson r) is dropped.
    n_init : int, default=100
        K-Means restarts for each full fit (cheap: runs on distinct vectors).
    n_resamples : int, default=50
        Bootstrap resamples per k for the stability analysis.
    stability_threshold : float, default=0.9
        Minimum mean bootstrap ARI for a k to be a candidate.
    onehot : list of str or None, default=None
        Columns passed through un-binned (values must be 0/1). ``None``: feature
        columns whose name starts with ``is_``.
    labels : dict of str -> str or None, default=None
        How segment names and descriptions call a feature (the source column as
        written, or the user's label); ``None``: the column name in words.
    random_state : int, default=0
        Seeds every random step (K-Means, bootstrap).

    Attributes
    ----------
    features_in_ : list of str
        Candidate features (binned ones, then one-hot ones).
    features_ : list of str
        Kept features, in the column order of ``binned_`` / ``centroids_``.
    onehot_ : list of str
        The kept one-hot features (a suffix of ``features_``).
    dropped_features_ : list of dict
        ``{"feature": name, "reason": text}`` per dropped candidate.
    correlation_ : polars.DataFrame
        Pearson correlation of the binned candidates: column ``feature`` plus one
        column per candidate (null where a feature is constant).
    discretizer_ : KBinsDiscretizer or None
        Fitted on the kept non one-hot features (exact quantiles, no subsampling).
    bin_edges_ : dict of str -> list of float
        Edges per binned candidate after sklearn removed collapsed bins.
    n_bins_ : dict of str -> int
        Bins each candidate really has (2 for one-hot features).
    collapsed_bins_ : dict of str -> int
        Bins lost to ties per binned candidate (0 when all ``n_bins`` survive).
    binned_ : ndarray of shape (n, d)
        Bin index (one-hot value) of every customer for the kept features.
    distinct_ : ndarray of shape (m, d)
        Distinct rows of ``binned_`` in lexicographic order (as ``np.unique(axis=0)``).
    weights_ : ndarray of shape (m,)
        Customers per distinct row.
    inverse_ : ndarray of shape (n,)
        Index into ``distinct_`` of each customer.
    n_customers_, n_distinct_ : int
    k_range_ : list of int
        k values swept.
    selection_ : polars.DataFrame
        One row per swept k: k, inertia, silhouette, davies_bouldin,
        calinski_harabasz, stability_ari_mean, stability_ari_p10,
        stability_ari_min, is_elbow, is_chosen.
    elbow_k_, k_ : int
        Elbow of the inertia curve; chosen number of segments.
    k_rule_ : str
        One sentence explaining why ``k_`` was chosen.
    kmeans_ : KMeans
        Fitted on ``distinct_`` with ``weights_``; ``cluster_centers_`` and
        ``labels_`` are re-ordered into the canonical segment order.
    centroids_ : ndarray of shape (k_, d)
        Segment centres in binned space, canonical order (most valuable first).
    labels_ : ndarray of shape (n,)
        Canonical segment index of each customer (row order of the input).
    distances_ : ndarray of shape (n,)
        Euclidean distance of each customer's binned vector to its centroid.
    segment_sizes_ : ndarray of shape (k_,)
    segment_names_ : list of str
        Distinct, deterministic names (RFM names when recency and frequency or
        monetary are kept, else descriptive names); segments that share a name
        get what separates them ("At Risk · spends more").
    segment_descriptions_ : list of str
        :func:`describe_segment` of each centroid against the average customer.
    segment_key_features_ : list of list of (str, str)
        Per segment, the ``(feature, phrase)`` pairs of its description.
    segment_stability_ : ndarray of shape (k_,)
        Mean over resamples of Hennig's cluster-wise Jaccard of each segment.
    stability_aris_ : ndarray of shape (n_resamples,)
        Bootstrap ARIs of the chosen k.
    warnings_ : list of str
        Every degraded situation met during fit (also emitted as
        :class:`SegmentationWarning`).
    timings_ : dict of str -> float
        Seconds spent in each fit stage.
    """

    def __init__(
        self,
        *,
        features=None,
        n_bins=4,
        strategy="quantile",
        k_min=2,
        k_max=10,
        k=None,
        correlation_threshold=0.95,
        n_init=100,
        n_resamples=50,
        stability_threshold=0.9,
        onehot=None,
        labels=None,
        random_state=0,
    ):
        self.features = features
        self.n_bins = n_bins
        self.strategy = strategy
        self.k_min = k_min
        self.k_max = k_max
        self.k = k
        self.correlation_threshold = correlation_threshold
        self.n_init = n_init
        self.n_resamples = n_resamples
        self.stability_threshold = stability_threshold
        self.onehot = onehot
        self.labels = labels
        self.random_state = random_state

    # -- validation ---------------------------------------------------------

    def _validate_params(self):
        def is_int(v):
            return isinstance(v, Integral) and not isinstance(v, bool)

        if not (is_int(self.n_bins) and self.n_bins >= 2):
            raise ValueError(f"n_bins must be an integer >= 2, got {self.n_bins!r}")
        if self.strategy not in ("quantile", "uniform", "kmeans"):
            raise ValueError(f"strategy must be 'quantile', 'uniform' or 'kmeans', got {self.strategy!r}")
        if not (is_int(self.k_min) and self.k_min >= 2):
            raise ValueError(f"k_min must be an integer >= 2, got {self.k_min!r}")
        if not (is_int(self.k_max) and self.k_max >= self.k_min):
            raise ValueError(f"k_max must be an integer >= k_min ({self.k_min}), got {self.k_max!r}")
        if self.k is not None and not (is_int(self.k) and self.k >= 2):
            raise ValueError(f"k must be None or an integer >= 2, got {self.k!r}")
        if not (isinstance(self.correlation_threshold, Real) and 0 < self.correlation_threshold <= 1):
            raise ValueError(f"correlation_threshold must be in (0, 1], got {self.correlation_threshold!r}")
        if self.labels is not None and not (
                isinstance(self.labels, dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in self.labels.items())):
            raise ValueError(f"labels must be None or a dict of feature -> label, got {self.labels!r}")
        if not (is_int(self.n_init) and self.n_init >= 1):
            raise ValueError(f"n_init must be an integer >= 1, got {self.n_init!r}")
        if not (is_int(self.n_resamples) and self.n_resamples >= 1):
            raise ValueError(f"n_resamples must be an integer >= 1, got {self.n_resamples!r}")
        if not (isinstance(self.stability_threshold, Real) and 0 <= self.stability_threshold <= 1):
            raise ValueError(f"stability_threshold must be in [0, 1], got {self.stability_threshold!r}")
        for name in ("features", "onehot"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, str) or not all(isinstance(v, str) for v in value) or len(set(value)) != len(value)
            ):
                raise ValueError(f"{name} must be None or a list of unique column names, got {value!r}")
        if self.features is not None and len(self.features) == 0:
            raise ValueError("features must not be empty; use None for the default")
        rs = self.random_state
        if not (rs is None or is_int(rs) or isinstance(rs, np.random.RandomState)):
            raise ValueError(f"random_state must be None, an int or a RandomState, got {self.random_state!r}")

    def _resolve_features(self, frame):
        if not isinstance(frame, pl.DataFrame):
            raise ValueError(f"frame must be a polars.DataFrame, got {type(frame).__name__}")
        if frame.height == 0:
            raise ValueError("frame has no rows; need at least 2 customers")
        numeric = [c for c, t in frame.schema.items() if t.is_numeric() and c != "customer_id"]
        if self.features is None:
            # Without RFM, every numeric attribute; one-hot columns only when asked for,
            # since "mostly not education master" names no segment a marketer can use.
            onehot_default = set(self.onehot) if self.onehot is not None else {
                c for c in numeric if c.startswith("is_")}
            features = (list(RFM_FEATURES) if all(c in frame.columns for c in RFM_FEATURES)
                        else [c for c in numeric if c not in onehot_default] or numeric)
            if not features:
                raise ValueError(f"frame has no numeric feature columns; columns are {frame.columns}")
        else:
            features = list(self.features)
            missing = [f for f in features if f not in frame.columns]
            if missing:
                raise ValueError(f"features {missing} are not columns of the frame; columns are {frame.columns}")
            bad = [f for f in features if f not in numeric]
            if bad:
                raise ValueError(f"features {bad} are not numeric; numeric columns are {numeric}")
        if self.onehot is None:
            onehot = [f for f in features if f.startswith("is_")]
        else:
            stray = [f for f in self.onehot if f not in features]
            if stray:
                raise ValueError(f"onehot columns {stray} are not among the features {features}")
            onehot = list(self.onehot)
        binned = [f for f in features if f not in onehot]
        return binned, onehot

    @staticmethod
    def _matrix(frame, columns, onehot):
        X = frame.select(pl.col(c).cast(pl.Float64) for c in columns).to_numpy()
        if X.size and not np.all(np.isfinite(X)):
            bad = [c for j, c in enumerate(columns) if not np.all(np.isfinite(X[:, j]))]
            raise ValueError(f"columns {bad} contain nulls, NaN or infinite values; impute them upstream")
        for j, c in enumerate(columns):
            if c in onehot and not np.all((X[:, j] == 0) | (X[:, j] == 1)):
                vals = np.unique(X[:, j])[:5].tolist()
                raise ValueError(f"one-hot column {c!r} must contain only 0/1, found values like {vals}")
        return X

    def _warn(self, message):
        self.warnings_.append(message)
        warnings.warn(message, SegmentationWarning, stacklevel=3)

    def _make_transformer(self, binned, onehot):
        steps = []
        if binned:
            steps.append(
                (
                    "bins",
                    KBinsDiscretizer(
                        n_bins=self.n_bins,
                        encode="ordinal",
                        strategy=self.strategy,
                        quantile_method="averaged_inverted_cdf",
                        subsample=None,
                    ),
                    binned,
                )
            )
        if onehot:
            steps.append(("onehot", "passthrough", onehot))
        return ColumnTransformer(steps, remainder="drop", sparse_threshold=0.0)

    @staticmethod
    def _fit_transformer(ct, frame):
        with warnings.catch_warnings():
            # Collapsed bins and constant features are reported by us, with names.
            warnings.filterwarnings("ignore", message=".*[Bb]ins whose width are too small.*")
            warnings.filterwarnings("ignore", message=".*is constant and will be replaced with 0.*")
            return ct.fit_transform(frame)

    # -- fit ----------------------------------------------------------------

    def fit(self, frame, y=None):
        """Bin the features, choose k and fit the segmentation.

        Parameters
        ----------
        frame : polars.DataFrame
            One row per customer: ``customer_id`` plus numeric feature columns
            without nulls. The result does not depend on the row order (only
            ``labels_``/``binned_`` etc. follow it).
        y : ignored

        Returns
        -------
        self
        """
        t0 = time.perf_counter()
        self._validate_params()
        binned_cols, onehot_cols = self._resolve_features(frame)
        self.warnings_ = []
        self.timings_ = {}
        candidates = binned_cols + onehot_cols
        self.features_in_ = candidates
        self._matrix(frame, candidates, set(onehot_cols))  # validation only
        if frame.height < 2:
            raise ValueError(f"need at least 2 customers to segment, got {frame.height}")

        # 1. Discretize all candidates.
        ct = self._make_transformer(binned_cols, onehot_cols)
        B = self._fit_transformer(ct, frame)
        disc = ct.named_transformers_["bins"] if binned_cols else None
        self.bin_edges_, self.n_bins_, self.collapsed_bins_ = {}, {}, {}
        for j, f in enumerate(binned_cols):
            edges = np.asarray(disc.bin_edges_[j], dtype=float)
            self.bin_edges_[f] = edges.tolist()
            self.n_bins_[f] = int(disc.n_bins_[j])
            self.collapsed_bins_[f] = int(self.n_bins - disc.n_bins_[j])
            if 1 < disc.n_bins_[j] < self.n_bins:
                self._warn(
                    f"feature {f!r} has only {disc.n_bins_[j]} of {self.n_bins} bins: "
                    f"{self.collapsed_bins_[f]} collapsed because of tied values"
                )
        for f in onehot_cols:
            self.n_bins_[f] = 2
        self.timings_["discretize"] = time.perf_counter() - t0

        # 2. Correlation of binned candidates (on distinct vectors with counts: same
        #    as over all customers) and the drop rules.
        cand_distinct, _, cand_counts = _distinct(B, [self.n_bins_[f] for f in candidates])
        n_values = [np.unique(cand_distinct[:, j]).size for j in range(len(candidates))]
        corr = _weighted_corr(cand_distinct, cand_counts)
        self.correlation_ = pl.DataFrame(
            {"feature": candidates, **{f: corr[:, j] for j, f in enumerate(candidates)}}
        ).with_columns(pl.col(f).fill_nan(None) for f in candidates)
        self.dropped_features_, kept = [], []
        for j, f in enumerate(candidates):
            if n_values[j] < 2:
                reason = "carries no information (a single bin after discretization)"
            else:
                partners = [(abs(corr[i, j]), i) for i in kept if abs(corr[i, j]) > self.correlation_threshold]
                reason = None
                if partners:
                    _, i = max(partners, key=lambda t: (t[0], -t[1]))
                    reason = f"duplicates {candidates[i]} (r={corr[i, j]:.2f})"
            if reason is None:
                kept.append(j)
            else:
                self.dropped_features_.append({"feature": f, "reason": reason})
                self._warn(f"dropped feature {f!r}: {reason}")
        if not kept:
            raise ValueError(
                f"all candidate features {candidates} were dropped (each carries no information "
                f"after discretization); cannot segment"
            )
        self.features_ = [candidates[j] for j in kept]
        self.onehot_ = [f for f in self.features_ if f in onehot_cols]
        kept_binned = [f for f in self.features_ if f not in onehot_cols]
        if len(kept) < len(candidates):
            # Refit on the kept columns only, so the pipeline needs only them;
            # per-feature exact quantiles make the edges identical.
            ct = self._make_transformer(kept_binned, self.onehot_)
            B = self._fit_transformer(ct, frame)
        self._transformer = ct
        self.discretizer_ = ct.named_transformers_["bins"] if kept_binned else None
        self.binned_ = B
        nb = [self.n_bins_[f] for f in self.features_]
        self.distinct_, self.inverse_, counts = _distinct(self.binned_, nb)
        self.weights_ = counts.astype(np.int64)
        self.n_customers_ = int(self.binned_.shape[0])
        self.n_distinct_ = int(self.distinct_.shape[0])
        if self.n_distinct_ < 2:
            raise ValueError(
                f"all {self.n_customers_} customers have the same binned feature vector "
                f"{self.distinct_[0].tolist()} (1 distinct vector); there is nothing to segment"
            )
        self.timings_["distinct"] = time.perf_counter() - t0 - self.timings_["discretize"]

        # 3. Sweep k.
        hi = min(self.k_max, self.n_distinct_)
        lo = min(self.k_min, hi)
        k_range = list(range(lo, hi + 1))
        if hi < self.k_max:
            self._warn(
                f"only {self.n_distinct_} distinct binned vectors: k range adapted from "
                f"{self.k_min}..{self.k_max} to {lo}..{hi}"
            )
        if self.k is not None:
            if self.k > self.n_distinct_:
                raise ValueError(
                    f"k={self.k} exceeds the number of distinct binned vectors ({self.n_distinct_}); "
                    f"allowed: 2..{self.n_distinct_}"
                )
            k_range = sorted(set(k_range) | {self.k})
        self.k_range_ = k_range
        base_seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        t1 = time.perf_counter()
        fits = {k: self._fit_k(k, base_seed) for k in k_range}
        self.timings_["sweep"] = time.perf_counter() - t1

        # 4. Choose k.
        ks = np.array(k_range)
        inertia = np.array([fits[k]["inertia"] for k in k_range])
        self.elbow_k_ = find_elbow(ks, inertia)
        self.k_, self.k_rule_ = self._choose_k(fits)

        # 5. Final model in canonical order.
        self._finalize(fits[self.k_])
        self.selection_ = pl.DataFrame(
            {
                "k": pl.Series(k_range, dtype=pl.Int64),
                "inertia": inertia,
                "silhouette": [fits[k]["silhouette"] for k in k_range],
                "davies_bouldin": [fits[k]["davies_bouldin"] for k in k_range],
                "calinski_harabasz": [fits[k]["calinski_harabasz"] for k in k_range],
                "stability_ari_mean": [fits[k]["ari_mean"] for k in k_range],
                "stability_ari_p10": [fits[k]["ari_p10"] for k in k_range],
                "stability_ari_min": [fits[k]["ari_min"] for k in k_range],
                "is_elbow": [k == self.elbow_k_ for k in k_range],
                "is_chosen": [k == self.k_ for k in k_range],
            }
        )
        self.timings_["total"] = time.perf_counter() - t0
        return self

    def fit_binned(self, distinct, counts, *, bin_edges, onehot=()):
        """Fit from distinct binned vectors and their customer counts, binned elsewhere.

        For an engine that bins in place (Spark): the candidates' edges are
        computed there exactly as :class:`~sklearn.preprocessing.KBinsDiscretizer`
        computes them, and only the distinct binned vectors come here. The
        result is the one :meth:`fit` gives on the customers behind them,
        except that per-customer attributes (``binned_``, ``labels_``,
        ``distances_``, ``inverse_``) are per distinct vector, and there is no
        fitted discretizer (``to_pipeline`` is unavailable).

        Parameters
        ----------
        distinct : ndarray of shape (m, d)
            Distinct binned vectors of the candidate features (any order).
        counts : ndarray of shape (m,)
            Customers per vector.
        bin_edges : dict of str -> list of float
            Edges of each binned candidate (keys in column order), after
            collapsed bins were removed; one-hot candidates follow, in ``onehot``.
        onehot : sequence of str, default=()
            One-hot candidates (0/1, unbinned), the last columns of ``distinct``.

        Returns
        -------
        self
        """
        t0 = time.perf_counter()
        self._validate_params()
        self.warnings_, self.timings_ = [], {}
        binned_cols, onehot_cols = list(bin_edges), list(onehot)
        candidates = binned_cols + onehot_cols
        self.features_in_ = candidates
        B = np.asarray(distinct, dtype=float).reshape(-1, len(candidates))
        w = np.asarray(counts, dtype=np.int64)
        if w.sum() < 2:
            raise ValueError(f"need at least 2 customers to segment, got {int(w.sum())}")
        self.bin_edges_, self.n_bins_, self.collapsed_bins_ = {}, {}, {}
        for f in binned_cols:
            edges = np.asarray(bin_edges[f], dtype=float)
            self.bin_edges_[f] = edges.tolist()
            self.n_bins_[f] = int(len(edges) - 1)
            self.collapsed_bins_[f] = int(self.n_bins - self.n_bins_[f]) if np.all(np.isfinite(edges)) \
                else self.n_bins - 1
            if 1 < self.n_bins_[f] < self.n_bins:
                self._warn(f"feature {f!r} has only {self.n_bins_[f]} of {self.n_bins} bins: "
                           f"{self.collapsed_bins_[f]} collapsed because of tied values")
        for f in onehot_cols:
            self.n_bins_[f] = 2

        def grouped(columns):
            # The rows repeated by their counts, as fit's _distinct gives them: sorted, summed.
            nb = [self.n_bins_[candidates[j]] for j in columns]
            code_distinct, inverse, _ = _distinct(B[:, columns], nb)
            return code_distinct, np.bincount(inverse, weights=w).astype(np.int64)

        cand_distinct, cand_counts = grouped(list(range(len(candidates))))
        self.timings_["discretize"] = time.perf_counter() - t0
        n_values = [np.unique(cand_distinct[:, j]).size for j in range(len(candidates))]
        corr = _weighted_corr(cand_distinct, cand_counts)
        self.correlation_ = pl.DataFrame(
            {"feature": candidates, **{f: corr[:, j] for j, f in enumerate(candidates)}}
        ).with_columns(pl.col(f).fill_nan(None) for f in candidates)
        self.dropped_features_, kept = [], []
        for j, f in enumerate(candidates):
            if n_values[j] < 2:
                reason = "carries no information (a single bin after discretization)"
            else:
                partners = [(abs(corr[i, j]), i) for i in kept if abs(corr[i, j]) > self.correlation_threshold]
                reason = None
                if partners:
                    _, i = max(partners, key=lambda t: (t[0], -t[1]))
                    reason = f"duplicates {candidates[i]} (r={corr[i, j]:.2f})"
            if reason is None:
                kept.append(j)
            else:
                self.dropped_features_.append({"feature": f, "reason": reason})
                self._warn(f"dropped feature {f!r}: {reason}")
        if not kept:
            raise ValueError(
                f"all candidate features {candidates} were dropped (each carries no information "
                f"after discretization); cannot segment")
        self.features_ = [candidates[j] for j in kept]
        self.onehot_ = [f for f in self.features_ if f in onehot_cols]
        self._transformer = None
        self.discretizer_ = None
        self.distinct_, self.weights_ = grouped(kept)
        self.binned_ = self.distinct_
        self.inverse_ = np.arange(self.distinct_.shape[0])
        self.n_customers_ = int(self.weights_.sum())
        self.n_distinct_ = int(self.distinct_.shape[0])
        if self.n_distinct_ < 2:
            raise ValueError(
                f"all {self.n_customers_} customers have the same binned feature vector "
                f"{self.distinct_[0].tolist()} (1 distinct vector); there is nothing to segment")
        self.timings_["distinct"] = time.perf_counter() - t0 - self.timings_["discretize"]
        hi = min(self.k_max, self.n_distinct_)
        lo = min(self.k_min, hi)
        k_range = list(range(lo, hi + 1))
        if hi < self.k_max:
            self._warn(f"only {self.n_distinct_} distinct binned vectors: k range adapted from "
                       f"{self.k_min}..{self.k_max} to {lo}..{hi}")
        if self.k is not None:
            if self.k > self.n_distinct_:
                raise ValueError(
                    f"k={self.k} exceeds the number of distinct binned vectors ({self.n_distinct_}); "
                    f"allowed: 2..{self.n_distinct_}")
            k_range = sorted(set(k_range) | {self.k})
        self.k_range_ = k_range
        base_seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        t1 = time.perf_counter()
        fits = {k: self._fit_k(k, base_seed) for k in k_range}
        self.timings_["sweep"] = time.perf_counter() - t1
        inertia = np.array([fits[k]["inertia"] for k in k_range])
        self.elbow_k_ = find_elbow(np.array(k_range), inertia)
        self.k_, self.k_rule_ = self._choose_k(fits)
        self._finalize(fits[self.k_])
        # _finalize counted distinct vectors: a segment's size is its customers.
        self.segment_sizes_ = np.bincount(self.labels_, weights=self.weights_,
                                          minlength=self.k_).astype(np.int64)
        self.selection_ = pl.DataFrame({
            "k": pl.Series(k_range, dtype=pl.Int64), "inertia": inertia,
            "silhouette": [fits[k]["silhouette"] for k in k_range],
            "davies_bouldin": [fits[k]["davies_bouldin"] for k in k_range],
            "calinski_harabasz": [fits[k]["calinski_harabasz"] for k in k_range],
            "stability_ari_mean": [fits[k]["ari_mean"] for k in k_range],
            "stability_ari_p10": [fits[k]["ari_p10"] for k in k_range],
            "stability_ari_min": [fits[k]["ari_min"] for k in k_range],
            "is_elbow": [k == self.elbow_k_ for k in k_range],
            "is_chosen": [k == self.k_ for k in k_range]})
        self.timings_["total"] = time.perf_counter() - t0
        return self

    def _fit_k(self, k, base_seed):
        # Seeds depend on (random_state, k) only, so k=5 gives the same fit whether
        # it is swept or forced, and whatever the rest of the range is.
        rng = np.random.default_rng([base_seed, k])
        X, w = self.distinct_, self.weights_
        km = KMeans(
            n_clusters=k, n_init=self.n_init, tol=0.0, random_state=int(rng.integers(np.iinfo(np.int32).max))
        )
        # One thread: on a few dozen points OpenMP only adds overhead (20x slower
        # on a loaded 2-core box), and a fixed thread count keeps the floating
        # point summation order, hence the result, identical on every machine.
        t0 = time.perf_counter()
        with threadpool_limits(limits=1):
            km.fit(X, sample_weight=w)
        t1 = time.perf_counter()
        labels = km.labels_
        restarts = max(3, min(self.n_init, _RESAMPLE_RESTARTS,
                              _RESAMPLE_WORK // (X.shape[0] * k * self.n_resamples)))
        boot = _bootstrap_labels(X, w.astype(float), k, self.n_resamples, restarts, rng)
        aris = np.array([weighted_adjusted_rand(labels, b, w) for b in boot])
        self.timings_["kmeans"] = self.timings_.get("kmeans", 0.0) + t1 - t0
        self.timings_["stability"] = self.timings_.get("stability", 0.0) + time.perf_counter() - t1
        n_clusters = np.unique(labels).size
        if 2 <= n_clusters <= self.n_customers_ - 1:
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
        }

    def _choose_k(self, fits):
        thr = self.stability_threshold
        cap = self.n_distinct_ / 2
        ks = list(fits)
        sil = {k: fits[k]["silhouette"] for k in ks}
        ari = {k: fits[k]["ari_mean"] for k in ks}
        elbow = self.elbow_k_
        in_range = [k for k in ks if self.k_min <= k <= self.k_max] or ks
        candidates = [k for k in in_range if ari[k] >= thr and k <= cap and np.isfinite(sil[k])]
        if candidates:
            best = max(candidates, key=lambda k: (sil[k], -k))
            if elbow in candidates and elbow != best and sil[elbow] >= sil[best] - ELBOW_SILHOUETTE_TOLERANCE:
                auto = elbow
                rule = (
                    f"k = {elbow}: the elbow of the inertia curve, whose silhouette ({sil[elbow]:.2f}) is "
                    f"within {ELBOW_SILHOUETTE_TOLERANCE} of the most separated stable k (k = {best}, "
                    f"silhouette {sil[best]:.2f}); its segments are stable (mean bootstrap ARI "
                    f"{ari[elbow]:.2f} ≥ {thr:.2f})."
                )
            else:
                auto = best
                rule = (
                    f"k = {best}: the most separated (silhouette {sil[best]:.2f}) of the k values whose "
                    f"segments are stable (mean bootstrap ARI ≥ {thr:.2f}) and that have at most half as "
                    f"many segments as distinct binned vectors ({self.n_distinct_}); the elbow is at k = {elbow}."
                )
        else:
            pool = [k for k in in_range if k <= cap] or in_range
            auto = max(pool, key=lambda k: (ari[k], np.nan_to_num(sil[k], nan=-1.0), -k))
            rule = (
                f"k = {auto}: no k in {min(in_range)}..{max(in_range)} had stable segments (mean bootstrap "
                f"ARI ≥ {thr:.2f}), so the most stable k was taken (mean ARI {ari[auto]:.2f}, silhouette "
                f"{sil[auto]:.2f}); the elbow is at k = {elbow}."
            )
            if self.k is None:
                self._warn(
                    f"no stable segmentation: best mean bootstrap ARI is {ari[auto]:.2f} < "
                    f"stability_threshold {thr:.2f} (k = {auto}); segments may not be reproducible"
                )
        if self.k is not None:
            if self.k == auto:
                return self.k, f"k = {self.k}: set by the caller (k={self.k}), as the rule would: " + rule
            rule_auto = rule[0].lower() + rule[1:]
            return self.k, (
                f"k = {self.k}: set by the caller (k={self.k}; silhouette {sil[self.k]:.2f}, mean bootstrap "
                f"ARI {ari[self.k]:.2f}); the automatic rule would have chosen {rule_auto}"
            )
        return auto, rule

    def _finalize(self, fit):
        km = copy.deepcopy(fit["kmeans"])
        centers = km.cluster_centers_
        nb = [self.n_bins_[f] for f in self.features_]
        value = _value_scores(centers, self.features_, nb, set(self.onehot_))
        # Canonical order: most valuable first; ties by centroid coordinates.
        order = np.lexsort(tuple(centers[:, j] for j in range(centers.shape[1] - 1, -1, -1)) + (-value,))
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        km.cluster_centers_ = centers[order].copy()
        km.labels_ = rank[km.labels_]
        self.kmeans_ = km
        self.centroids_ = km.cluster_centers_
        # Labels are what the (canonical) model predicts, so to_pipeline().predict
        # reproduces them exactly, equidistant ties included.
        distinct_labels = km.predict(self.distinct_)
        self.labels_ = distinct_labels[self.inverse_]
        d = np.linalg.norm(self.distinct_ - self.centroids_[distinct_labels], axis=1)
        self.distances_ = d[self.inverse_]
        k = self.k_
        self.segment_sizes_ = np.bincount(self.labels_, minlength=k)
        # Names say what sets a segment apart from the average customer.
        overall = np.average(self.distinct_, axis=0, weights=self.weights_)
        labels = self.labels or {}
        self.segment_names_ = _segment_names(self.centroids_, self.features_, nb, overall, labels)
        self.segment_key_features_ = [
            [(self.features_[j], phrase)
             for j, phrase in _key_features(c, self.features_, nb, overall, labels)]
            for c in self.centroids_]
        self.segment_descriptions_ = [", ".join(p for _, p in key) or "close to the average customer"
                                      for key in self.segment_key_features_]
        w = self.weights_.astype(float)
        jac = np.array([_cluster_jaccard(distinct_labels, b, w, k) for b in fit["boot"]])
        self.segment_stability_ = jac.mean(axis=0)
        self.stability_aris_ = fit["aris"]
        if np.any(self.segment_sizes_ == 0):
            self._warn(f"{int(np.sum(self.segment_sizes_ == 0))} segment(s) are empty after canonical assignment")

    # -- use ----------------------------------------------------------------

    def keep_names(self, kept):
        """Give segments that are the same as in a previous build their previous words.

        Parameters
        ----------
        kept : dict of int -> (str, str, list of (str, str))
            Segment index -> previous ``(name, description, key features)``;
            key features as in ``segment_key_features_``.

        Returns
        -------
        self
            ``segment_names_``, ``segment_descriptions_`` and
            ``segment_key_features_`` updated; names stay distinct.
        """
        self._check_fitted()
        nb = [self.n_bins_[f] for f in self.features_]
        self.segment_names_ = _carry_names(
            self.segment_names_, {i: v[0] for i, v in kept.items()}, self.centroids_,
            self.features_, nb, self.labels or {})
        for i, (_, description, key) in kept.items():
            self.segment_descriptions_[i] = description
            self.segment_key_features_[i] = [(f, p) for f, p in key if f in self.features_]
        return self


    def _check_fitted(self):
        if not hasattr(self, "kmeans_"):
            raise ValueError("this Segmenter is not fitted yet; call fit(frame) first")

    def transform(self, frame):
        """Binned vectors (n, d) of raw feature rows, columns as ``features_``."""
        self._check_fitted()
        if not isinstance(frame, pl.DataFrame):
            raise ValueError(f"frame must be a polars.DataFrame, got {type(frame).__name__}")
        missing = [f for f in self.features_ if f not in frame.columns]
        if missing:
            raise ValueError(f"frame lacks the feature columns {missing}; required: {self.features_}")
        self._matrix(frame, self.features_, set(self.onehot_))
        return self._transformer.transform(frame)

    def predict(self, frame):
        """Canonical segment index (0..k_-1) of each row of raw features.

        Parameters
        ----------
        frame : polars.DataFrame
            Must contain the ``features_`` columns (other columns are ignored).

        Returns
        -------
        ndarray of shape (n,)
        """
        self._check_fitted()
        return self.kmeans_.predict(self.transform(frame))

    def to_pipeline(self):
        """Fitted sklearn pipeline: raw feature frame -> canonical segment index.

        Returns
        -------
        sklearn.pipeline.Pipeline
            ``ColumnTransformer`` (fitted discretizer on the kept binned features,
            passthrough for one-hot ones) followed by ``kmeans_`` (centres in
            canonical order). ``predict`` on a pandas or polars frame with the
            ``features_`` columns returns exactly ``labels_`` for the training rows.
        """
        self._check_fitted()
        return Pipeline([("bin", copy.deepcopy(self._transformer)), ("kmeans", copy.deepcopy(self.kmeans_))])


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
