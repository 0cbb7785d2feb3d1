"""The ``Segmenter`` estimator: bins, sweeps k, chooses, orders and names segments.

Everything after discretization runs on the distinct binned vectors with their
customer counts as weights (see ``metrics``). This module does no I/O and prints
nothing: degraded results are reported with :class:`SegmentationWarning` and
recorded in ``Segmenter.warnings_``.
"""

from __future__ import annotations

import copy
import time
import warnings

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state

from segkit.errors import SegmentationWarning
from segkit.model.binning import (
    BINNING_ATTRIBUTES_DOC,
    _distinct,
    drop_rule,
    edge_record,
    feature_matrix,
    fit_transformer,
    make_transformer,
    transformer_from_edges,
)
from segkit.model.baseline import make_baseline
from segkit.model.kmeans import fit_range
from segkit.model.metrics import _cluster_jaccard
from segkit.model.params import PARAMETERS_DOC, resolve_features, validate_params
from segkit.model.naming import _carry_names, canonical_order, segment_words
from segkit.model.selection import choose_k, find_elbow, selection_frame, sweep_range


class Segmenter(BaseEstimator):
    # The docstring's tables live beside what they describe (the parameters in
    # params.py, the binning attributes in binning.py); help() shows them whole.
    __doc__ = f"""Customer segmentation: quantile bins + weighted K-Means on distinct binned vectors.

{PARAMETERS_DOC}    Attributes
    ----------
{BINNING_ATTRIBUTES_DOC}    k_range_ : list of int
        k values swept.
    selection_ : polars.DataFrame
        One row per swept k: k, inertia, silhouette, davies_bouldin,
        calinski_harabasz, stability_ari_mean, stability_ari_p10,
        stability_ari_min, is_elbow, is_chosen; with ``baseline_resamples``,
        also stability_baseline (mean ARI of the random baseline at that k).
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
    stability_baseline_ : float or None
        Mean bootstrap ARI of the chosen k on the features with each column
        shuffled on its own (``segkit.model.baseline``): the stability of data
        with no structure. None when ``baseline_resamples=0``.
    baseline_aris_ : ndarray of shape (baseline_resamples,) or None
        The baseline's bootstrap ARIs of the chosen k.
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
        baseline_resamples=0,
        onehot=None,
        labels=None,
        seed=0,
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
        self.baseline_resamples = baseline_resamples
        self.onehot = onehot
        self.labels = labels
        self.seed = seed

    # -- validation ---------------------------------------------------------

    def _warn(self, message):
        self.warnings_.append(message)
        warnings.warn(message, SegmentationWarning, stacklevel=3)

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
        validate_params(self)
        binned_cols, onehot_cols = resolve_features(frame, self.features, self.onehot)
        self.warnings_ = []
        self.timings_ = {}
        self.features_in_ = binned_cols + onehot_cols
        feature_matrix(frame, self.features_in_, set(onehot_cols))  # validation only
        if frame.height < 2:
            raise ValueError(f"need at least 2 customers to segment, got {frame.height}")
        B = self._discretize(frame, binned_cols, onehot_cols)
        self.timings_["discretize"] = time.perf_counter() - t0
        self._keep_features(frame, B, onehot_cols)
        self.timings_["distinct"] = time.perf_counter() - t0 - self.timings_["discretize"]
        return self._segment(t0)

    def fit_binned(self, distinct, counts, *, bin_edges, onehot=()):
        """Fit from distinct binned vectors and their customer counts, binned elsewhere.

        For an engine that bins in place (Spark): the candidates' edges are
        computed there exactly as :class:`~sklearn.preprocessing.KBinsDiscretizer`
        computes them, and only the distinct binned vectors come here. The
        result is the one :meth:`fit` gives on the customers behind them, except
        that per-customer attributes (``binned_``, ``labels_``, ``distances_``,
        ``inverse_``) are per distinct vector. The fitted transformer is built
        from ``bin_edges``, so ``to_pipeline`` is the pipeline :meth:`fit` gives.

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
        validate_params(self)
        self.warnings_, self.timings_ = [], {}
        onehot_cols = list(onehot)
        self.features_in_ = list(bin_edges) + onehot_cols
        B = np.asarray(distinct, dtype=float).reshape(-1, len(self.features_in_))
        w = np.asarray(counts, dtype=np.int64)
        if w.sum() < 2:
            raise ValueError(f"need at least 2 customers to segment, got {int(w.sum())}")
        self._record_edges({f: np.asarray(e, dtype=float) for f, e in bin_edges.items()},
                           {f: len(e) - 1 for f, e in bin_edges.items()}, onehot_cols)
        self.timings_["discretize"] = time.perf_counter() - t0
        kept = self._drop_features(B, w)
        self.features_ = [self.features_in_[j] for j in kept]
        self.onehot_ = [f for f in self.features_ if f in onehot_cols]
        kept_binned = [f for f in self.features_ if f not in onehot_cols]
        self.transformer_ = transformer_from_edges(
            kept_binned, self.onehot_, self.bin_edges_, n_bins=self.n_bins,
            strategy=self.strategy)
        self.discretizer_ = (self.transformer_.named_transformers_["bins"] if kept_binned
                             else None)
        self._set_distinct(B[:, kept], w)
        self.binned_ = self.distinct_
        self.inverse_ = np.arange(self.n_distinct_)
        self.timings_["distinct"] = time.perf_counter() - t0 - self.timings_["discretize"]
        return self._segment(t0)

    def _segment(self, t0):
        """Steps 3-5 on the weighted distinct vectors: sweep, choose k, finalize."""
        t1 = time.perf_counter()
        fits = self._sweep()
        self.timings_["sweep"] = time.perf_counter() - t1
        inertia = np.array([fits[k]["inertia"] for k in self.k_range_])
        self.elbow_k_ = find_elbow(np.array(self.k_range_), inertia)
        self.k_, self.k_rule_ = self._choose_k(fits)
        self._finalize(fits[self.k_])
        self.selection_ = selection_frame(fits, self.k_range_, elbow=self.elbow_k_, chosen=self.k_)
        self.timings_["total"] = time.perf_counter() - t0
        return self

    def _discretize(self, frame, binned_cols, onehot_cols):
        """Step 1: bin every candidate; record edges, bins and collapsed bins."""
        ct = make_transformer(binned_cols, onehot_cols, n_bins=self.n_bins, strategy=self.strategy)
        B = fit_transformer(ct, frame)
        disc = ct.named_transformers_["bins"] if binned_cols else None
        self._record_edges({f: disc.bin_edges_[j] for j, f in enumerate(binned_cols)},
                           {f: disc.n_bins_[j] for j, f in enumerate(binned_cols)}, onehot_cols)
        self.transformer_ = ct
        return B

    def _record_edges(self, edges, n_bins, onehot_cols):
        """The learned edges and bins of each candidate; collapsed bins are a warning."""
        self.bin_edges_, self.n_bins_, self.collapsed_bins_, messages = edge_record(
            edges, n_bins, self.n_bins, onehot_cols)
        for message in messages:
            self._warn(message)

    def _keep_features(self, frame, B, onehot_cols):
        """Step 2: correlation of the binned candidates, the drop rule, the distinct vectors.

        Correlation is computed on the distinct vectors with counts: the same as
        over all customers.
        """
        candidates = self.features_in_
        kept = self._drop_features(B, np.ones(B.shape[0], dtype=np.int64))
        self.features_ = [candidates[j] for j in kept]
        self.onehot_ = [f for f in self.features_ if f in onehot_cols]
        kept_binned = [f for f in self.features_ if f not in onehot_cols]
        if len(kept) < len(candidates):
            # Refit on the kept columns only, so the pipeline needs only them;
            # per-feature exact quantiles make the edges identical.
            self.transformer_ = make_transformer(kept_binned, self.onehot_, n_bins=self.n_bins,
                                                 strategy=self.strategy)
            B = fit_transformer(self.transformer_, frame)
        self.discretizer_ = self.transformer_.named_transformers_["bins"] if kept_binned else None
        self.binned_ = B
        self.inverse_ = self._set_distinct(B, np.ones(B.shape[0], dtype=np.int64))

    def _drop_features(self, B, weights):
        """The drop rule on the candidates' binned rows (weighted); kept column indices."""
        candidates = self.features_in_
        kept, dropped, self.correlation_ = drop_rule(
            B, weights, candidates, [self.n_bins_[f] for f in candidates],
            self.correlation_threshold)
        self.dropped_features_ = []
        for f, reason in dropped:
            self.dropped_features_.append({"feature": f, "reason": reason})
            self._warn(f"dropped feature {f!r}: {reason}")
        if not kept:
            raise ValueError(
                f"all candidate features {candidates} were dropped (each carries no information "
                f"after discretization); cannot segment"
            )
        return kept

    def _set_distinct(self, B, weights):
        """The distinct binned vectors of the kept features with their customer counts.

        Returns the index of each row of ``B`` into ``distinct_``.
        """
        nb = [self.n_bins_[f] for f in self.features_]
        self.distinct_, inverse, _ = _distinct(B, nb)
        self.weights_ = np.bincount(inverse, weights=weights).astype(np.int64)
        self.n_customers_ = int(self.weights_.sum())
        self.n_distinct_ = int(self.distinct_.shape[0])
        if self.n_distinct_ < 2:
            raise ValueError(
                f"all {self.n_customers_} customers have the same binned feature vector "
                f"{self.distinct_[0].tolist()} (1 distinct vector); there is nothing to segment"
            )
        return inverse

    def _sweep(self):
        """Step 3: fit every k of the range (shrunk to the distinct vectors), with stability."""
        k_range, warning = sweep_range(self.k_min, self.k_max, self.n_distinct_)
        if warning:
            self._warn(warning)
        if self.k is not None:
            if self.k > self.n_distinct_:
                raise ValueError(
                    f"k={self.k} exceeds the number of distinct binned vectors ({self.n_distinct_}); "
                    f"allowed: 2..{self.n_distinct_}"
                )
            k_range = sorted(set(k_range) | {self.k})
        self.k_range_ = k_range
        base_seed = int(check_random_state(self.seed).randint(np.iinfo(np.int32).max))
        started = time.perf_counter()
        baseline = None
        if self.baseline_resamples:
            baseline = make_baseline(self.distinct_, self.weights_, base_seed,
                                     n_resamples=self.baseline_resamples, n_init=self.n_init,
                                     fit_resamples=self.n_resamples)
        fits = fit_range(self.distinct_, self.weights_, k_range, base_seed, n_init=self.n_init,
                         n_resamples=self.n_resamples, n_customers=self.n_customers_,
                         baseline=baseline)
        # The fits may have run side by side: the sweep's wall time is split
        # between full fits, refits and baseline in proportion to their own seconds.
        parts = ("kmeans", "stability") + (("baseline",) if baseline else ())
        spent = {part: sum(f["seconds"][part] for f in fits.values()) for part in parts}
        share = (time.perf_counter() - started) / max(sum(spent.values()), 1e-9)
        self.timings_.update((part, s * share) for part, s in spent.items())
        return fits

    def _choose_k(self, fits):
        """Step 4: the k rule (``selection.choose_k``); its warning goes to ``warnings_``."""
        k, rule, warning = choose_k(
            fits, elbow=self.elbow_k_, k_min=self.k_min, k_max=self.k_max, k=self.k,
            n_distinct=self.n_distinct_, threshold=self.stability_threshold)
        if warning:
            self._warn(warning)
        return k, rule

    def _finalize(self, fit):
        """Step 5: the chosen fit in canonical order, named, with distances and stability."""
        km = copy.deepcopy(fit["kmeans"])
        centers = km.cluster_centers_
        nb = [self.n_bins_[f] for f in self.features_]
        order = canonical_order(centers, self.features_, nb, self.onehot_)
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
        # Customers per segment (labels_ may be per distinct vector: fit_binned).
        self.segment_sizes_ = np.bincount(distinct_labels, weights=self.weights_,
                                          minlength=k).astype(np.int64)
        # Names say what sets a segment apart from the average customer.
        overall = np.average(self.distinct_, axis=0, weights=self.weights_)
        (self.segment_names_, self.segment_key_features_,
         self.segment_descriptions_) = segment_words(self.centroids_, self.features_, nb, overall,
                                                     self.labels or {})
        w = self.weights_.astype(float)
        jac = np.array([_cluster_jaccard(distinct_labels, b, w, k) for b in fit["boot"]])
        self.segment_stability_ = jac.mean(axis=0)
        self.stability_aris_ = fit["aris"]
        self.baseline_aris_ = fit.get("baseline_aris")
        self.stability_baseline_ = (None if self.baseline_aris_ is None
                                    else float(np.mean(self.baseline_aris_)))
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
        feature_matrix(frame, self.features_, set(self.onehot_))
        return self.transformer_.transform(frame)

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
        return Pipeline([("bin", copy.deepcopy(self.transformer_)), ("kmeans", copy.deepcopy(self.kmeans_))])
