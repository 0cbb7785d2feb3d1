"""Where segment ids are kept across builds: centroid matching to a previous build."""

from __future__ import annotations

from numbers import Real

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist


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
