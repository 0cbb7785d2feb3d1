"""Where features are binned: the discretizer, the feature drop rule, distinct vectors with counts."""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import KBinsDiscretizer

from segkit.model.metrics import _weighted_corr

# The binning attributes of Segmenter's docstring, beside the code that computes them.
BINNING_ATTRIBUTES_DOC = """\
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
    transformer_ : ColumnTransformer
        Fitted bins of the kept binned features, one-hot features passed through.
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
"""


def _codes(B, n_bins):
    """Mixed-radix integer code per row; sorting codes = lexicographic row order."""
    code = np.zeros(B.shape[0], dtype=np.int64)
    for j, nb in enumerate(n_bins):
        code = code * int(nb) + B[:, j].astype(np.int64)
    return code


def _distinct(B, n_bins):
    """Same result as ``np.unique(B, axis=0, return_inverse=True, return_counts=True)``, faster.

    Rows become one integer code each (their order is the rows' order). When
    there are no more possible codes than rows (4 features of 4 bins: 256), a
    count per code replaces the sort: 10M rows, 1.0-1.2 -> ~0.1 s.
    """
    space = math.prod(int(x) for x in n_bins)
    if space <= max(B.shape[0], 2**16):
        codes = _codes(B, n_bins)
        per_code = np.bincount(codes, minlength=space)
        present = np.flatnonzero(per_code)  # the distinct codes, ascending
        position = np.empty(space, dtype=np.intp)
        position[present] = np.arange(present.size)
        # Any row of a code is that code's row: one index per code will do.
        row_of = np.empty(space, dtype=np.intp)
        row_of[codes] = np.arange(codes.size)
        return B[row_of[present]], position[codes], per_code[present]
    if space < 2**62:
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


def drop_rule(B, weights, candidates, n_bins, threshold):
    """The drop rule on the candidates' binned rows (weighted), with their correlation.

    Returns the kept column indices, ``(feature, reason)`` per dropped candidate,
    and the correlation table (``Segmenter.correlation_``). Correlation is
    computed on the distinct vectors with counts: the same as over all rows.
    """
    cand_distinct, inverse, _ = _distinct(B, n_bins)
    cand_counts = np.bincount(inverse, weights=weights).astype(np.int64)
    n_values = [np.unique(cand_distinct[:, j]).size for j in range(len(candidates))]
    corr = _weighted_corr(cand_distinct, cand_counts)
    table = pl.DataFrame(
        {"feature": candidates, **{f: corr[:, j] for j, f in enumerate(candidates)}}
    ).with_columns(pl.col(f).fill_nan(None) for f in candidates)
    kept, dropped = drop_features(candidates, n_values, corr, threshold)
    return kept, dropped, table


def edge_record(edges, n_bins, requested, onehot):
    """Per candidate: its edges, its bins (2 for one-hot), the bins lost to ties.

    Also the warning text for each candidate that lost some (not all) of its
    ``requested`` bins.
    """
    bin_edges, bins, collapsed, messages = {}, {}, {}, []
    for f, e in edges.items():
        bin_edges[f] = np.asarray(e, dtype=float).tolist()
        bins[f] = int(n_bins[f])
        collapsed[f] = int(requested - n_bins[f])
        if 1 < n_bins[f] < requested:
            messages.append(f"feature {f!r} has only {n_bins[f]} of {requested} bins: "
                            f"{collapsed[f]} collapsed because of tied values")
    for f in onehot:
        bins[f] = 2
    return bin_edges, bins, collapsed, messages


def transformer_from_edges(binned, onehot, edges, *, n_bins, strategy):
    """A fitted transformer whose bins are ``edges``: what :func:`fit_transformer` learns
    when those are the edges of the data (an engine that computed them elsewhere).

    The transformer is fitted on a few rows built from the edges, so that
    scikit-learn sets its bookkeeping (column names, the count of features);
    then the discretizer's learned attributes, ``bin_edges_`` and ``n_bins_``
    (all KBinsDiscretizer learns, scikit-learn 1.9), are set to ``edges``.
    """
    length = max([len(edges[f]) for f in binned] + [2])
    rows = {f: [float(e) for e in edges[f]] for f in binned}
    rows = {f: v + v[-1:] * (length - len(v)) for f, v in rows.items()}
    rows.update({f: [float(i % 2) for i in range(length)] for f in onehot})
    ct = make_transformer(binned, onehot, n_bins=n_bins, strategy=strategy)
    fit_transformer(ct, pl.DataFrame(rows, schema={f: pl.Float64 for f in rows}))
    if binned:
        disc = ct.named_transformers_["bins"]
        disc.bin_edges_ = np.empty(len(binned), dtype=object)
        for j, f in enumerate(binned):
            disc.bin_edges_[j] = np.asarray(edges[f], dtype=np.float64)
        disc.n_bins_ = np.array([len(edges[f]) - 1 for f in binned], dtype=np.int64)
    return ct
