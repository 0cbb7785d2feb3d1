"""Where k is chosen: the elbow of the inertia curve and the k rule."""

from __future__ import annotations

import numpy as np


# Silhouette tolerance within which the elbow k is preferred to the best k.
ELBOW_SILHOUETTE_TOLERANCE = 0.02


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
