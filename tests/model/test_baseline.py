"""The random baseline: shuffled columns, and the stability of data with no structure."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from segkit.model import SegmentationWarning, Segmenter
from segkit.model.baseline import baseline_aris, make_baseline, shuffle_columns
from tests.model.helpers import fit_quiet


def _frame(X):
    return pl.DataFrame({"customer_id": [f"{i:06d}" for i in range(len(X))],
                         **{f"x{j}": X[:, j] for j in range(X.shape[1])}})


def _blobs(n=600, seed=0):
    """Three groups over four features: clear structure."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 0, 0, 0], [5, 5, 0, 0], [0, 5, 5, 5]])
    return _frame(np.vstack([c + rng.normal(0, 1, (n // 3, 4)) for c in centers]))


def _noise(n=600, seed=0):
    """Four independent uniform features: no structure at all."""
    return _frame(np.random.default_rng(seed).random((n, 4)))


FAST = dict(k_max=6, n_init=20, n_resamples=20)


# -- shuffle_columns ---------------------------------------------------------------

def test_shuffle_keeps_every_column_and_the_total_and_is_seeded():
    X = np.array([[0, 0, 1], [0, 1, 1], [1, 1, 0], [2, 0, 0], [2, 1, 1]], dtype=float)
    w = np.array([5, 1, 7, 3, 4])
    Xs, ws = shuffle_columns(X, w, np.random.default_rng(4))
    assert ws.sum() == w.sum() and ws.min() > 0
    for j in range(X.shape[1]):  # each column: the same values with the same counts
        for value in np.unique(X[:, j]):
            assert ws[Xs[:, j] == value].sum() == w[X[:, j] == value].sum()
    # distinct rows in lexicographic order, as the Segmenter keeps them
    assert np.array_equal(Xs, np.unique(Xs, axis=0))
    again = shuffle_columns(X, w, np.random.default_rng(4))
    assert np.array_equal(again[0], Xs) and np.array_equal(again[1], ws)


def test_shuffle_deals_values_as_a_random_permutation_does():
    # Two perfectly linked 0/1 columns: b customers (1, 1), a customers (0, 0).
    # After a shuffle, the customers at (1, 1) are hypergeometric: b draws among
    # n of which b are ones.
    a, b = 30, 20
    n = a + b
    X, w = np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([a, b])
    rng = np.random.default_rng(0)
    both = np.array([ws[(Xs[:, 0] == 1) & (Xs[:, 1] == 1)].sum()
                     for Xs, ws in (shuffle_columns(X, w, rng) for _ in range(4000))])
    mean = b * b / n
    var = b * (b / n) * (a / n) * (n - b) / (n - 1)
    assert abs(both.mean() - mean) < 4 * np.sqrt(var / both.size)
    assert abs(both.var() / var - 1) < 0.1


def test_shuffle_rejects_what_is_not_vectors_with_counts():
    with pytest.raises(ValueError, match="distinct must be"):
        shuffle_columns(np.zeros((3, 2)), np.ones(2), np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least one customer"):
        shuffle_columns(np.zeros((2, 2)), np.zeros(2), np.random.default_rng(0))


def test_baseline_aris_of_two_far_groups_is_one():
    # Two vectors far apart, many customers each: every refit finds the same two groups.
    X = np.array([[0.0, 0.0], [10.0, 10.0]])
    aris = baseline_aris(X, np.array([50, 50]), 2, n_resamples=5, restarts=3,
                         rng=np.random.default_rng(0))
    assert aris.shape == (5,) and np.all(aris == 1.0)


def test_make_baseline_is_a_function_of_seed_and_k_only():
    X = np.array([[a, b] for a in range(3) for b in range(3)], dtype=float)
    w = np.arange(1, 10)
    one = make_baseline(X, w, 7, n_resamples=6, n_init=10, fit_resamples=6)
    other = make_baseline(X, w, 7, n_resamples=6, n_init=10, fit_resamples=6)
    first = one(3)
    one(2)  # another k in between changes nothing
    np.testing.assert_array_equal(one(3), first)
    np.testing.assert_array_equal(other(3), first)
    assert not np.array_equal(make_baseline(X, w, 8, n_resamples=6, n_init=10,
                                            fit_resamples=6)(3), first)


# -- the Segmenter's baseline ------------------------------------------------------

def test_baseline_is_deterministic_for_a_seed_and_changes_no_other_result():
    frame = _blobs()
    plain = fit_quiet(frame, seed=3, **FAST)
    with_baseline = fit_quiet(frame, seed=3, baseline_resamples=8, **FAST)
    again = fit_quiet(frame, seed=3, baseline_resamples=8, **FAST)
    assert with_baseline.selection_.equals(again.selection_)
    assert with_baseline.stability_baseline_ == again.stability_baseline_
    np.testing.assert_array_equal(with_baseline.baseline_aris_, again.baseline_aris_)
    # every other figure is the fit without the baseline's
    assert with_baseline.selection_.drop("stability_baseline").equals(plain.selection_)
    np.testing.assert_array_equal(with_baseline.labels_, plain.labels_)
    assert with_baseline.k_ == plain.k_
    # the column sits with the stability columns, one value per k
    columns = with_baseline.selection_.columns
    assert columns.index("stability_baseline") == columns.index("stability_ari_min") + 1
    chosen = with_baseline.selection_.filter(pl.col("is_chosen"))
    assert chosen["stability_baseline"][0] == with_baseline.stability_baseline_
    assert with_baseline.baseline_aris_.shape == (8,)
    assert "baseline" in with_baseline.timings_


def test_structure_stands_above_the_baseline():
    seg = fit_quiet(_blobs(), seed=0, baseline_resamples=20, **FAST)
    chosen = seg.selection_.filter(pl.col("is_chosen")).row(0, named=True)
    assert seg.k_ == 3
    assert chosen["stability_ari_mean"] > 0.9
    assert chosen["stability_ari_mean"] - chosen["stability_baseline"] > 0.3


def test_without_structure_stability_is_the_baseline():
    seg = fit_quiet(_noise(), seed=0, baseline_resamples=20, **FAST)
    sel = seg.selection_
    gap = (sel["stability_ari_mean"] - sel["stability_baseline"]).abs()
    assert gap.mean() < 0.15
    assert gap.max() < 0.3


def test_baseline_off_by_default_and_validated():
    seg = fit_quiet(_blobs(n=150), seed=0, k_max=4, n_init=5, n_resamples=3)
    assert "stability_baseline" not in seg.selection_.columns
    assert seg.stability_baseline_ is None and seg.baseline_aris_ is None
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="baseline_resamples must be an integer >= 0"):
            Segmenter(baseline_resamples=bad).fit(_blobs(n=30))


def test_fit_binned_gives_fit_s_baseline():
    # The baseline needs only the distinct vectors and counts (all Spark hands over).
    frame = _noise(n=900, seed=5)
    kwargs = dict(n_init=10, n_resamples=5, baseline_resamples=5, seed=1, k_max=5)
    full = fit_quiet(frame, **kwargs)
    edges = {f: full.bin_edges_[f] for f in full.features_in_}
    order = np.random.default_rng(2).permutation(full.n_distinct_)
    binned = Segmenter(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentationWarning)
        binned.fit_binned(full.distinct_[order], full.weights_[order], bin_edges=edges)
    assert binned.selection_.equals(full.selection_)
    assert binned.stability_baseline_ == full.stability_baseline_
