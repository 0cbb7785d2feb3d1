"""What the Segmenter accepts: its parameters, and the feature columns of a frame."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import polars as pl

from segkit.feature_names import RFM_FEATURES

# The Parameters table of Segmenter's docstring, beside the checks of those parameters.
PARAMETERS_DOC = """\
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
    baseline_resamples : int, default=0
        Bootstrap resamples per k of the random baseline: the same stability
        analysis on the binned features with each column shuffled on its own
        (no structure left). 0 turns it off; a baseline needs less precision
        than the stability itself: 5 keeps it under a tenth of a build on a
        wide table (docs/MODEL.md).
    onehot : list of str or None, default=None
        Columns passed through un-binned (values must be 0/1). ``None``: feature
        columns whose name starts with ``is_``.
    labels : dict of str -> str or None, default=None
        How segment names and descriptions call a feature (the source column as
        written, or the user's label); ``None``: the column name in words.
    seed : int, RandomState or None, default=0
        Seeds every random step (K-Means, bootstrap); the same name as
        ``[model] seed`` in segkit.toml, the ``--seed`` flag and the MLflow param.

"""


def validate_params(est):
    """Raise ValueError naming the first parameter of ``est`` out of its range."""
    def is_int(v):
        return isinstance(v, Integral) and not isinstance(v, bool)

    if not (is_int(est.n_bins) and est.n_bins >= 2):
        raise ValueError(f"n_bins must be an integer >= 2, got {est.n_bins!r}")
    if est.strategy not in ("quantile", "uniform", "kmeans"):
        raise ValueError(f"strategy must be 'quantile', 'uniform' or 'kmeans', got {est.strategy!r}")
    if not (is_int(est.k_min) and est.k_min >= 2):
        raise ValueError(f"k_min must be an integer >= 2, got {est.k_min!r}")
    if not (is_int(est.k_max) and est.k_max >= est.k_min):
        raise ValueError(f"k_max must be an integer >= k_min ({est.k_min}), got {est.k_max!r}")
    if est.k is not None and not (is_int(est.k) and est.k >= 2):
        raise ValueError(f"k must be None or an integer >= 2, got {est.k!r}")
    if not (isinstance(est.correlation_threshold, Real) and 0 < est.correlation_threshold <= 1):
        raise ValueError(f"correlation_threshold must be in (0, 1], got {est.correlation_threshold!r}")
    if est.labels is not None and not (
            isinstance(est.labels, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in est.labels.items())):
        raise ValueError(f"labels must be None or a dict of feature -> label, got {est.labels!r}")
    if not (is_int(est.n_init) and est.n_init >= 1):
        raise ValueError(f"n_init must be an integer >= 1, got {est.n_init!r}")
    if not (is_int(est.n_resamples) and est.n_resamples >= 1):
        raise ValueError(f"n_resamples must be an integer >= 1, got {est.n_resamples!r}")
    if not (is_int(est.baseline_resamples) and est.baseline_resamples >= 0):
        raise ValueError(f"baseline_resamples must be an integer >= 0 (0 = no baseline), "
                         f"got {est.baseline_resamples!r}")
    if not (isinstance(est.stability_threshold, Real) and 0 <= est.stability_threshold <= 1):
        raise ValueError(f"stability_threshold must be in [0, 1], got {est.stability_threshold!r}")
    for name in ("features", "onehot"):
        value = getattr(est, name)
        if value is not None and (
            isinstance(value, str) or not all(isinstance(v, str) for v in value) or len(set(value)) != len(value)
        ):
            raise ValueError(f"{name} must be None or a list of unique column names, got {value!r}")
    if est.features is not None and len(est.features) == 0:
        raise ValueError("features must not be empty; use None for the default")
    rs = est.seed
    if not (rs is None or is_int(rs) or isinstance(rs, np.random.RandomState)):
        raise ValueError(f"seed must be None, an int or a RandomState, got {est.seed!r}")


def resolve_features(frame, features, onehot):
    """The candidate columns of ``frame``: ``(binned, one-hot)``; raise ValueError naming bad ones."""
    if not isinstance(frame, pl.DataFrame):
        raise ValueError(f"frame must be a polars.DataFrame, got {type(frame).__name__}")
    if frame.height == 0:
        raise ValueError("frame has no rows; need at least 2 customers")
    numeric = [c for c, t in frame.schema.items() if t.is_numeric() and c != "customer_id"]
    if features is None:
        # Without RFM, every numeric attribute; one-hot columns only when asked for,
        # since "mostly not education master" names no segment a marketer can use.
        onehot_default = set(onehot) if onehot is not None else {
            c for c in numeric if c.startswith("is_")}
        features = (list(RFM_FEATURES) if all(c in frame.columns for c in RFM_FEATURES)
                    else [c for c in numeric if c not in onehot_default] or numeric)
        if not features:
            raise ValueError(f"frame has no numeric feature columns; columns are {frame.columns}")
    else:
        features = list(features)
        missing = [f for f in features if f not in frame.columns]
        if missing:
            raise ValueError(f"features {missing} are not columns of the frame; columns are {frame.columns}")
        bad = [f for f in features if f not in numeric]
        if bad:
            raise ValueError(f"features {bad} are not numeric; numeric columns are {numeric}")
    if onehot is None:
        onehot = [f for f in features if f.startswith("is_")]
    else:
        stray = [f for f in onehot if f not in features]
        if stray:
            raise ValueError(f"onehot columns {stray} are not among the features {features}")
        onehot = list(onehot)
    binned = [f for f in features if f not in onehot]
    return binned, onehot
