"""Binned vectors: mixed-radix codes and the distinct rows with their counts."""

from __future__ import annotations

import math

import numpy as np


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
