"""Where features are binned: the discretizer, the feature drop rule, distinct vectors with counts."""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import KBinsDiscretizer


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


def feature_matrix(frame, columns, onehot):
    """The feature columns as floats; raises ValueError naming bad columns (nulls, non 0/1 one-hot)."""
    X = frame.select(pl.col(c).cast(pl.Float64) for c in columns).to_numpy()
    if X.size and not np.all(np.isfinite(X)):
        bad = [c for j, c in enumerate(columns) if not np.all(np.isfinite(X[:, j]))]
        raise ValueError(f"columns {bad} contain nulls, NaN or infinite values; impute them upstream")
    for j, c in enumerate(columns):
        if c in onehot and not np.all((X[:, j] == 0) | (X[:, j] == 1)):
            vals = np.unique(X[:, j])[:5].tolist()
            raise ValueError(f"one-hot column {c!r} must contain only 0/1, found values like {vals}")
    return X


def make_transformer(binned, onehot, *, n_bins, strategy):
    """Quantile (or uniform/kmeans) bins for ``binned`` columns, one-hot ones passed through."""
    steps = []
    if binned:
        steps.append(
            (
                "bins",
                KBinsDiscretizer(
                    n_bins=n_bins,
                    encode="ordinal",
                    strategy=strategy,
                    quantile_method="averaged_inverted_cdf",
                    subsample=None,
                ),
                binned,
            )
        )
    if onehot:
        steps.append(("onehot", "passthrough", onehot))
    return ColumnTransformer(steps, remainder="drop", sparse_threshold=0.0)


def fit_transformer(ct, frame):
    """Fit and apply ``ct``; sklearn's own bin warnings are silenced (we report them, with names)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Bb]ins whose width are too small.*")
        warnings.filterwarnings("ignore", message=".*is constant and will be replaced with 0.*")
        return ct.fit_transform(frame)


def drop_features(candidates, n_values, corr, threshold):
    """The drop rule: kept column indices, and ``(feature, reason)`` per dropped candidate.

    A candidate with a single bin carries nothing; one whose binned values correlate
    with an earlier kept feature by more than ``threshold`` (absolute r) duplicates it.
    """
    kept, dropped = [], []
    for j, f in enumerate(candidates):
        if n_values[j] < 2:
            reason = "carries no information (a single bin after discretization)"
        else:
            partners = [(abs(corr[i, j]), i) for i in kept if abs(corr[i, j]) > threshold]
            reason = None
            if partners:
                _, i = max(partners, key=lambda t: (t[0], -t[1]))
                reason = f"duplicates {candidates[i]} (r={corr[i, j]:.2f})"
        if reason is None:
            kept.append(j)
        else:
            dropped.append((f, reason))
    return kept, dropped
