"""Where k is chosen: the elbow of the inertia curve, the k rule, the selection table."""

from __future__ import annotations

import numpy as np
import polars as pl


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


def choose_k(fits, *, elbow, k_min, k_max, k, n_distinct, threshold):
    """The k rule: ``(k, one sentence why, warning or None)``.

    Candidates are the k in ``k_min..k_max`` whose segments are stable (mean
    bootstrap ARI >= ``threshold``) and that have at most half as many segments as
    distinct vectors. The most separated (silhouette) candidate wins, unless the
    elbow is a candidate within ``ELBOW_SILHOUETTE_TOLERANCE`` of it. Without
    candidates the most stable k is taken, with a warning. A ``k`` set by the
    caller is kept, and the sentence says what the rule would have chosen.
    """
    thr = threshold
    cap = n_distinct / 2
    ks = list(fits)
    sil = {q: fits[q]["silhouette"] for q in ks}
    ari = {q: fits[q]["ari_mean"] for q in ks}
    in_range = [q for q in ks if k_min <= q <= k_max] or ks
    candidates = [q for q in in_range if ari[q] >= thr and q <= cap and np.isfinite(sil[q])]
    warning = None
    if candidates:
        auto, rule = _stable_choice(candidates, sil, ari, elbow, thr, n_distinct)
    else:
        pool = [q for q in in_range if q <= cap] or in_range
        auto = max(pool, key=lambda q: (ari[q], np.nan_to_num(sil[q], nan=-1.0), -q))
        rule = (
            f"k = {auto}: no k in {min(in_range)}..{max(in_range)} had stable segments (mean bootstrap "
            f"ARI ≥ {thr:.2f}), so the most stable k was taken (mean ARI {ari[auto]:.2f}, silhouette "
            f"{sil[auto]:.2f}); the elbow is at k = {elbow}."
        )
        if k is None:
            warning = (
                f"no stable segmentation: best mean bootstrap ARI is {ari[auto]:.2f} < "
                f"stability_threshold {thr:.2f} (k = {auto}); segments may not be reproducible"
            )
    if k is None:
        return auto, rule, warning
    if k == auto:
        return k, f"k = {k}: set by the caller (k={k}), as the rule would: " + rule, warning
    rule_auto = rule[0].lower() + rule[1:]
    return k, (
        f"k = {k}: set by the caller (k={k}; silhouette {sil[k]:.2f}, mean bootstrap "
        f"ARI {ari[k]:.2f}); the automatic rule would have chosen {rule_auto}"
    ), warning


def _stable_choice(candidates, sil, ari, elbow, thr, n_distinct):
    """Among stable candidates: the most separated k, or the elbow when nearly as separated."""
    best = max(candidates, key=lambda q: (sil[q], -q))
    if elbow in candidates and elbow != best and sil[elbow] >= sil[best] - ELBOW_SILHOUETTE_TOLERANCE:
        return elbow, (
            f"k = {elbow}: the elbow of the inertia curve, whose silhouette ({sil[elbow]:.2f}) is "
            f"within {ELBOW_SILHOUETTE_TOLERANCE} of the most separated stable k (k = {best}, "
            f"silhouette {sil[best]:.2f}); its segments are stable (mean bootstrap ARI "
            f"{ari[elbow]:.2f} ≥ {thr:.2f})."
        )
    return best, (
        f"k = {best}: the most separated (silhouette {sil[best]:.2f}) of the k values whose "
        f"segments are stable (mean bootstrap ARI ≥ {thr:.2f}) and that have at most half as "
        f"many segments as distinct binned vectors ({n_distinct}); the elbow is at k = {elbow}."
    )


def selection_frame(fits, k_range, *, elbow, chosen):
    """One row per swept k: inertia, the metrics, stability, and the elbow and chosen flags.

    With a random baseline (fits holding ``baseline_aris``), ``stability_baseline``
    follows the stability columns: the mean bootstrap ARI of the same k on
    shuffled features.
    """
    baseline = {}
    if all("baseline_aris" in fits[k] for k in k_range):
        baseline = {"stability_baseline": [float(np.mean(fits[k]["baseline_aris"]))
                                           for k in k_range]}
    return pl.DataFrame(
        {
            "k": pl.Series(k_range, dtype=pl.Int64),
            "inertia": np.array([fits[k]["inertia"] for k in k_range]),
            "silhouette": [fits[k]["silhouette"] for k in k_range],
            "davies_bouldin": [fits[k]["davies_bouldin"] for k in k_range],
            "calinski_harabasz": [fits[k]["calinski_harabasz"] for k in k_range],
            "stability_ari_mean": [fits[k]["ari_mean"] for k in k_range],
            "stability_ari_p10": [fits[k]["ari_p10"] for k in k_range],
            "stability_ari_min": [fits[k]["ari_min"] for k in k_range],
            **baseline,
            "is_elbow": [k == elbow for k in k_range],
            "is_chosen": [k == chosen for k in k_range],
        }
    )


def sweep_range(k_min, k_max, n_distinct):
    """The k values to sweep: k_min..k_max shrunk to the distinct vectors, and a warning if so."""
    hi = min(k_max, n_distinct)
    lo = min(k_min, hi)
    warning = None
    if hi < k_max:
        warning = (f"only {n_distinct} distinct binned vectors: k range adapted from "
                   f"{k_min}..{k_max} to {lo}..{hi}")
    return list(range(lo, hi + 1)), warning
