"""Tests for segkit.model: weighted K-Means on distinct binned vectors.

Real-data tests use an RFM frame derived from the CDNOW transactions shipped with
the package (or the shared copy); they are skipped if neither file exists.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import KMeans
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from threadpoolctl import threadpool_limits

from segkit.model import (
    SegmentationWarning,
    Segmenter,
    TSNE_DEFAULTS,
    describe_segment,
    find_elbow,
    match_segment_ids,
    rfm_segment_name,
    tsne_map,
    weighted_adjusted_rand,
    weighted_calinski_harabasz,
    weighted_davies_bouldin,
    weighted_silhouette,
)

RFM = ["recency_days", "frequency", "monetary"]
CDNOW_PATHS = [
    Path(__file__).resolve().parents[1] / "segkit" / "data" / "cdnow_transactions.csv",
    Path(__file__).resolve().parents[2] / "shared" / "data" / "cdnow_transactions.csv",
]
RFM_NAMES = {
    "Champions", "Loyal", "Potential Loyalist", "New", "Promising", "Need Attention",
    "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost",
}  # fmt: skip


def build_rfm(path):
    """RFM per customer as the SQL layer defines it (reference day 1998-06-30)."""
    tx = pl.read_csv(path, schema_overrides={"customer_id": pl.Utf8}, try_parse_dates=True)
    days = (
        tx.filter(pl.col("dollar_value") > 0)
        .group_by("customer_id", "purchase_date")
        .agg(pl.col("dollar_value").sum())
    )
    return (
        days.group_by("customer_id")
        .agg(
            recency_days=(pl.date(1998, 6, 30) - pl.col("purchase_date").max()).dt.total_days().cast(pl.Float64),
            frequency=pl.len().cast(pl.Float64),
            monetary=pl.col("dollar_value").mean(),
        )
        .sort("customer_id")
    )


@pytest.fixture(scope="module")
def rfm():
    path = next((p for p in CDNOW_PATHS if p.exists()), None)
    if path is None:
        pytest.skip("CDNOW transactions not available")
    return build_rfm(path)


def fit_quiet(frame, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentationWarning)
        return Segmenter(**params).fit(frame)


@pytest.fixture(scope="module")
def seg(rfm):
    return fit_quiet(rfm, seed=0)


def frame_from(columns, n=None):
    data = {k: np.asarray(v, dtype=float) for k, v in columns.items()}
    n = len(next(iter(data.values())))
    return pl.DataFrame({"customer_id": [f"{i:06d}" for i in range(n)], **data})


def expand(X, labels, weights):
    return np.repeat(X, weights, axis=0), np.repeat(labels, weights)


# ---------------------------------------------------------------------------
# Weighted metrics == sklearn on the expanded data
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_weighted_metrics_equal_sklearn_on_expanded_data(seed):
    rng = np.random.default_rng(seed)
    X = np.unique(rng.integers(0, 4, size=(40, 3)).astype(float), axis=0)
    w = rng.integers(1, 30, size=len(X))
    w[0] = 1  # a singleton cluster below must get s(i) = 0
    labels = rng.integers(1, 5, size=len(X))
    labels[0] = 0
    Xe, le = expand(X, labels, w)
    assert weighted_silhouette(X, labels, w) == pytest.approx(silhouette_score(Xe, le), rel=1e-12, abs=1e-13)
    assert weighted_davies_bouldin(X, labels, w) == pytest.approx(davies_bouldin_score(Xe, le), rel=1e-12)
    assert weighted_calinski_harabasz(X, labels, w) == pytest.approx(calinski_harabasz_score(Xe, le), rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(1, 6), st.integers(0, 3), st.integers(0, 4)),
        min_size=2,
        max_size=25,
    )
)
def test_weighted_ari_and_silhouette_match_sklearn_property(rows):
    X = np.array([[a, b] for a, b, *_ in rows], dtype=float)
    w = np.array([r[2] for r in rows])
    la = np.array([r[3] for r in rows])
    lb = np.array([r[4] for r in rows])
    Xe, lae = expand(X, la, w)
    lbe = np.repeat(lb, w)
    # Bit-identical, not just close: same integer pair counts as sklearn.
    assert weighted_adjusted_rand(la, lb, w) == adjusted_rand_score(lae, lbe)
    n_labels = np.unique(la).size
    if 2 <= n_labels <= len(lae) - 1:
        assert weighted_silhouette(X, la, w) == pytest.approx(silhouette_score(Xe, lae), abs=1e-12)
    else:
        with pytest.raises(ValueError, match="Number of labels"):
            weighted_silhouette(X, la, w)


def test_weighted_ari_ignores_zero_weight_rows_and_rejects_bad_input():
    a, b = np.array([0, 0, 1, 1, 2]), np.array([1, 1, 0, 0, 0])
    w = np.array([3, 2, 4, 1, 0])
    assert weighted_adjusted_rand(a, b, w) == 1.0  # row 4 has no customers
    with pytest.raises(ValueError, match="equal length"):
        weighted_adjusted_rand(a, b[:-1], w)


# ---------------------------------------------------------------------------
# Weighted K-Means on distinct vectors == K-Means on all customers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("k", [3, 5, 7])
def test_same_init_weighted_fit_equals_plain_fit(seg, k):
    rng = np.random.default_rng(k)
    # Jittered off the grid so no customer is equidistant from two centres.
    init = seg.distinct_[rng.choice(seg.n_distinct_, size=k, replace=False)] + rng.uniform(-0.1, 0.1, (k, 3))
    with threadpool_limits(limits=1):
        weighted = KMeans(k, init=init, n_init=1, tol=0.0).fit(seg.distinct_, sample_weight=seg.weights_)
        plain = KMeans(k, init=init, n_init=1, tol=0.0).fit(seg.binned_)
    np.testing.assert_array_equal(weighted.labels_[seg.inverse_], plain.labels_)
    assert weighted.inertia_ == pytest.approx(plain.inertia_, rel=1e-10)
    np.testing.assert_allclose(weighted.cluster_centers_, plain.cluster_centers_, rtol=1e-10, atol=1e-12)


def test_weighted_many_restarts_no_worse_than_plain_kmeans_on_all_customers(seg):
    table = seg.selection_
    for k, inertia in zip(table["k"], table["inertia"]):
        with threadpool_limits(limits=1):
            plain = KMeans(k, n_init=10, random_state=0).fit(seg.binned_)
        assert inertia <= plain.inertia_ * (1 + 1e-9), f"k={k}"


def test_selection_metrics_equal_sklearn_on_all_customers(rfm):
    small = rfm.head(3000)
    s = fit_quiet(small, n_resamples=5)
    row = s.selection_.filter(pl.col("is_chosen"))
    assert row["silhouette"][0] == pytest.approx(silhouette_score(s.binned_, s.labels_), abs=1e-12)
    assert row["davies_bouldin"][0] == pytest.approx(davies_bouldin_score(s.binned_, s.labels_), rel=1e-12)
    assert row["calinski_harabasz"][0] == pytest.approx(calinski_harabasz_score(s.binned_, s.labels_), rel=1e-12)
    assert row["inertia"][0] == pytest.approx(((s.binned_ - s.centroids_[s.labels_]) ** 2).sum(), rel=1e-10)


def test_vectorized_bootstrap_kmeans_finds_sklearn_optimum(seg):
    """The numpy k-means used for the resample refits reaches sklearn's optimum."""
    from segkit.model.kmeans import _batched_weighted_kmeans

    w = seg.weights_.astype(float)
    for k, inertia in zip(seg.selection_["k"], seg.selection_["inertia"]):
        if k > 5:  # beyond 5, 100 restarts do not reliably find the optimum (docs/MODEL.md)
            break
        labels, inert = _batched_weighted_kmeans(seg.distinct_, w[None, :], k, 100, np.random.default_rng(k))
        assert inert[0] == pytest.approx(inertia, rel=1e-9), f"k={k}"
        assert labels.shape == (1, seg.n_distinct_)


# ---------------------------------------------------------------------------
# CDNOW: binning, distinct vectors, targets
# ---------------------------------------------------------------------------


def test_cdnow_binning_records_tied_frequency_and_distinct_vectors(seg, rfm):
    assert seg.features_in_ == RFM and seg.features_ == RFM
    # About half the customers bought on one day: frequency cannot fill 4 bins.
    assert seg.collapsed_bins_["frequency"] >= 1
    assert seg.n_bins_["frequency"] == 4 - seg.collapsed_bins_["frequency"]
    assert len(seg.bin_edges_["frequency"]) == seg.n_bins_["frequency"] + 1
    assert any("frequency" in w and "collapsed" in w for w in seg.warnings_)
    assert seg.collapsed_bins_["recency_days"] == 0 and seg.collapsed_bins_["monetary"] == 0
    # Distinct vectors: same order as np.unique(axis=0), counts add up, inverse rebuilds the data.
    np.testing.assert_array_equal(seg.distinct_, np.unique(seg.binned_, axis=0))
    np.testing.assert_array_equal(seg.distinct_[seg.inverse_], seg.binned_)
    assert seg.weights_.sum() == seg.n_customers_ == rfm.height
    assert seg.n_distinct_ <= 4 * 4 * 4
    assert seg.correlation_.columns == ["feature", *RFM]


def test_cdnow_targets(seg):
    row = seg.selection_.filter(pl.col("is_chosen")).row(0, named=True)
    assert row["k"] == seg.k_
    assert row["stability_ari_mean"] >= 0.9
    assert row["silhouette"] >= 0.39
    assert seg.k_ <= seg.n_distinct_ / 2
    assert seg.k_rule_.startswith(f"k = {seg.k_}:")
    assert len(seg.segment_names_) == seg.k_ and set(seg.segment_names_) <= RFM_NAMES
    # Per-segment Jaccard stability is consistent with the ARIs.
    assert seg.segment_stability_.shape == (seg.k_,)
    assert np.all((seg.segment_stability_ >= 0) & (seg.segment_stability_ <= 1))
    if seg.stability_aris_.min() == 1.0:
        np.testing.assert_array_equal(seg.segment_stability_, 1.0)


def test_seed_to_seed_reproducible_segmentation(seg, rfm):
    other = fit_quiet(rfm, seed=1)
    assert other.k_ == seg.k_
    assert adjusted_rand_score(seg.labels_, other.labels_) == 1.0
    # Canonical order makes even the indices and names equal, not just the partition.
    np.testing.assert_array_equal(seg.labels_, other.labels_)
    assert other.segment_names_ == seg.segment_names_


def test_selection_table_shape_and_chosen_rule(seg):
    t = seg.selection_
    assert t.columns == [
        "k", "inertia", "silhouette", "davies_bouldin", "calinski_harabasz",
        "stability_ari_mean", "stability_ari_p10", "stability_ari_min", "is_elbow", "is_chosen",
    ]  # fmt: skip
    assert t["k"].to_list() == seg.k_range_ == list(range(2, 11))
    assert t["is_chosen"].sum() == 1 and t["is_elbow"].sum() == 1
    assert t.filter(pl.col("is_elbow"))["k"][0] == seg.elbow_k_
    assert (t["inertia"].diff().drop_nulls() < 0).all()
    # The documented rule, recomputed from the table.
    cand = t.filter((pl.col("stability_ari_mean") >= 0.9) & (pl.col("k") <= seg.n_distinct_ / 2))
    best = cand.sort(["silhouette", "k"], descending=[True, False]).row(0, named=True)
    elbow = cand.filter(pl.col("k") == seg.elbow_k_)
    expected = seg.elbow_k_ if elbow.height and elbow["silhouette"][0] >= best["silhouette"] - 0.02 else best["k"]
    assert seg.k_ == expected


def test_fit_is_deterministic_and_row_order_invariant(seg, rfm):
    again = fit_quiet(rfm, seed=0)
    assert again.selection_.equals(seg.selection_)
    np.testing.assert_array_equal(again.labels_, seg.labels_)
    np.testing.assert_array_equal(again.centroids_, seg.centroids_)
    assert again.segment_names_ == seg.segment_names_
    shuffled = rfm.sample(fraction=1.0, shuffle=True, seed=7)
    s = fit_quiet(shuffled, seed=0)
    assert s.selection_.equals(seg.selection_)
    by_id = dict(zip(rfm["customer_id"], seg.labels_))
    assert [by_id[c] for c in shuffled["customer_id"]] == s.labels_.tolist()


def test_canonical_order_labels_distances_and_pipeline(seg, rfm):
    nb = np.array([seg.n_bins_[f] for f in seg.features_]) - 1
    level = seg.centroids_ / nb
    level[:, 0] = 1 - level[:, 0]  # recent = valuable
    value = level.mean(axis=1)
    assert np.all(np.diff(value) <= 1e-9), "segments must be ordered most valuable first"
    d = np.linalg.norm(seg.binned_[:, None, :] - seg.centroids_[None], axis=2)
    np.testing.assert_allclose(seg.distances_, d.min(axis=1), rtol=1e-12)
    assert np.all(d[np.arange(len(d)), seg.labels_] <= d.min(axis=1) + 1e-12)
    np.testing.assert_array_equal(seg.segment_sizes_, np.bincount(seg.labels_, minlength=seg.k_))
    pipe = seg.to_pipeline()
    np.testing.assert_array_equal(pipe.predict(rfm.select(RFM)), seg.labels_)
    np.testing.assert_array_equal(pipe.predict(rfm), seg.labels_)  # extra columns are ignored
    np.testing.assert_array_equal(seg.predict(rfm), seg.labels_)
    pd = pytest.importorskip("pandas")
    np.testing.assert_array_equal(pipe.predict(pd.DataFrame(rfm.select(RFM).to_dict(as_series=False))), seg.labels_)
    assert pipe.named_steps["kmeans"] is not seg.kmeans_  # caller may mutate it safely


def test_forced_k_matches_the_swept_fit(seg, rfm):
    forced_k = 6 if seg.k_ != 6 else 5
    s = fit_quiet(rfm, k=forced_k)
    assert s.k_ == forced_k and s.centroids_.shape[0] == forced_k
    assert "set by the caller" in s.k_rule_
    # Seeds depend on (seed, k) only: the forced k reproduces the swept row.
    assert s.selection_.drop("is_chosen").equals(seg.selection_.drop("is_chosen"))
    assert s.selection_.filter(pl.col("is_chosen"))["k"][0] == forced_k


def test_segments_sharing_an_rfm_cell_get_distinct_names_without_digits(rfm):
    s = fit_quiet(rfm, k=10, k_min=10, k_max=10, n_resamples=3)
    names = s.segment_names_
    assert len(set(names)) == 10
    assert not any(ch.isdigit() for n in names for ch in n)  # never "At Risk 2"
    base = [n.split(" · ")[0] for n in names]
    assert set(base) <= RFM_NAMES
    assert len(set(base)) < 10  # there were collisions...
    for name in set(base):
        group = [n for n in names if n.split(" · ")[0] == name]
        # ...and each segment of a shared cell says what separates it.
        assert len(group) == 1 or all(" · " in n for n in group)
    # Deterministic: the same fit names the same way.
    assert fit_quiet(rfm, k=10, k_min=10, k_max=10, n_resamples=3).segment_names_ == names


def test_shared_name_is_split_on_the_feature_that_differs_most():
    from segkit.model.naming import _segment_names

    # Two "At Risk" centroids (R score 1-2, FM 3-4) that differ most in spend,
    # and a Champion.
    centroids = np.array([[0.0, 3.0, 3.0], [3.0, 2.0, 2.0], [3.0, 2.5, 1.2]])
    names = _segment_names(centroids, RFM, [4, 4, 4])
    assert names == ["Champions", "At Risk · spends more", "At Risk · spends less"]
    # Three in one cell: the side that still holds two is split on the next feature.
    centroids = np.array([[3.0, 2.0, 2.0], [3.0, 3.0, 1.2], [3.0, 2.0, 1.2]])
    names = _segment_names(centroids, RFM, [4, 4, 4])
    assert names == ["At Risk · buys less often, spends more", "At Risk · buys more often",
                     "At Risk · buys less often, spends less"]


def test_names_and_descriptions_use_the_labels():
    from segkit.model.naming import _segment_names

    features = ["store_purchases", "spend_meat", "is_region_north"]
    labels = {"store_purchases": "StorePurchases", "spend_meat": "meat spend",
              "is_region_north": "Region: North"}
    centroids = np.array([[3.0, 0.0, 1.0], [0.0, 3.0, 0.0]])
    names = _segment_names(centroids, features, [4, 4, 2], labels=labels)
    assert names == ["High StorePurchases, low meat spend", "Low StorePurchases, high meat spend"]
    text = describe_segment([3.0, 1.5, 1.0], features, [4, 4, 2], overall=[1.5, 1.5, 0.5],
                            labels=labels)
    # Only the features that set the segment apart.
    assert text == "high StorePurchases, mostly Region: North"


# ---------------------------------------------------------------------------
# Synthetic edge cases
# ---------------------------------------------------------------------------


def blobs(n_per=200, seed=0):
    """Three well separated customer groups over age/income (no RFM)."""
    rng = np.random.default_rng(seed)
    centers = np.array([[25, 20_000], [45, 60_000], [70, 120_000]])
    X = np.vstack([c + rng.normal(0, [2, 3000], size=(n_per, 2)) for c in centers])
    return frame_from({"age": X[:, 0], "income": X[:, 1]})


def test_all_customers_identical_raises_clear_error():
    frame = frame_from({"recency_days": [5.0] * 50, "frequency": [2.0] * 50, "monetary": [9.0] * 50})
    with pytest.raises(ValueError, match=r"all candidate features \['recency_days', 'frequency', 'monetary'\] were dropped"):
        fit_quiet(frame)
    frame = frame_from({"is_a": [1.0] * 10, "is_b": [0.0] * 10})
    with pytest.raises(ValueError, match="were dropped"):
        fit_quiet(frame)


def test_few_distinct_vectors_adapt_k_range_with_warning():
    pts = np.array([[0.0, 0.0], [0.0, 10.0], [10.0, 0.0], [10.0, 10.0]])
    X = np.repeat(pts, [30, 20, 20, 30], axis=0)
    frame = frame_from({"a": X[:, 0], "b": X[:, 1]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = Segmenter(n_resamples=5).fit(frame)
    assert any(issubclass(w.category, SegmentationWarning) and "adapted" in str(w.message) for w in caught)
    assert s.n_distinct_ == 4
    assert s.k_range_ == [2, 3, 4]
    assert any("adapted" in w for w in s.warnings_)
    assert s.selection_["k"].to_list() == [2, 3, 4]
    assert s.k_ == 2  # at most n_distinct / 2 segments


def test_constant_feature_dropped_with_reason():
    frame = blobs().with_columns(pl.lit(3.0).alias("tenure"))
    with pytest.warns(SegmentationWarning, match="tenure"):
        s = Segmenter(n_resamples=5, k_max=5).fit(frame)
    assert s.features_ == ["age", "income"]
    assert s.dropped_features_ == [
        {"feature": "tenure", "reason": "carries no information (a single bin after discretization)"}
    ]
    assert s.correlation_.filter(pl.col("feature") == "tenure")["age"][0] is None


def test_duplicate_feature_dropped_with_reason():
    frame = blobs().with_columns((pl.col("income") * 2 + 5).alias("income_x2"))
    s = fit_quiet(frame, n_resamples=5, k_max=5)
    assert s.features_ == ["age", "income"]
    assert s.dropped_features_ == [{"feature": "income_x2", "reason": "duplicates age (r=1.00)"}] or (
        s.dropped_features_[0]["feature"] == "income_x2"
        and s.dropped_features_[0]["reason"].startswith("duplicates ")
        and "(r=1.00)" in s.dropped_features_[0]["reason"]
    )
    # The pipeline needs only the kept columns.
    np.testing.assert_array_equal(s.to_pipeline().predict(frame.select("age", "income")), s.labels_)


def test_descriptive_names_without_rfm():
    s = fit_quiet(blobs(), n_resamples=10)
    assert s.k_ == 3
    assert s.features_ == ["age", "income"]
    # Most valuable first = highest mean level; names come from the extreme features.
    assert s.segment_names_ == ["Older, high income", "Average", "Younger, low income"]
    assert s.segment_descriptions_[0] == "older, high income"


def test_onehot_columns_pass_through_unbinned():
    frame = blobs().with_columns(is_member=pl.Series([1.0, 0.0] * 300))
    # One-hot columns feed the clustering only when asked for by name.
    assert fit_quiet(frame, n_resamples=5, k_max=4).features_ == ["age", "income"]
    s = fit_quiet(frame, n_resamples=5, k_max=4, features=["age", "income", "is_member"])
    assert s.features_ == ["age", "income", "is_member"] and s.onehot_ == ["is_member"]
    np.testing.assert_array_equal(s.binned_[:, 2], frame["is_member"].to_numpy())
    assert s.n_bins_["is_member"] == 2
    np.testing.assert_array_equal(s.to_pipeline().predict(frame), s.labels_)
    with pytest.raises(ValueError, match="only 0/1"):
        Segmenter(features=["age", "is_member"]).fit(
            frame.with_columns(is_member=pl.Series([2.0, 0.0] * 300)))


def test_no_stable_k_falls_back_with_warning():
    rng = np.random.default_rng(0)
    frame = frame_from({"a": rng.uniform(size=2000), "b": rng.uniform(size=2000)})
    with pytest.warns(SegmentationWarning, match="no stable segmentation"):
        # k = 4 (the quadrants of the uniform square) would be perfectly stable.
        s = Segmenter(n_bins=10, stability_threshold=1.0, n_resamples=20, k_max=3).fit(frame)
    t = s.selection_
    assert t["stability_ari_mean"].max() < 1.0
    assert s.k_ == t.sort(["stability_ari_mean", "silhouette"], descending=True)["k"][0]
    assert "most stable" in s.k_rule_


@pytest.mark.parametrize(
    "params, frame_edit, match",
    [
        ({"n_bins": 1}, None, "n_bins must be an integer >= 2, got 1"),
        ({"k_min": 5, "k_max": 3}, None, "k_max must be an integer >= k_min"),
        ({"strategy": "median"}, None, "strategy must be .* got 'median'"),
        ({"features": ["age", "nope"]}, None, r"features \['nope'\] are not columns"),
        ({"k": 99}, None, "k=99 exceeds the number of distinct"),
        ({}, lambda f: f.with_columns(pl.lit(None, dtype=pl.Float64).alias("age")), r"columns \['age'\] contain nulls"),
        ({}, lambda f: f.to_numpy(), "must be a polars.DataFrame"),
    ],
)
def test_invalid_input_raises_value_error_quoting_the_value(params, frame_edit, match):
    frame = blobs(n_per=30)
    if frame_edit is not None:
        frame = frame_edit(frame)
    with pytest.raises(ValueError, match=match):
        fit_quiet(frame, n_resamples=3, **params)


def test_fit_prints_nothing(capsys):
    fit_quiet(blobs(n_per=50), n_resamples=3, k_max=4)
    assert capsys.readouterr() == ("", "")


def test_sklearn_estimator_protocol():
    from sklearn.base import clone

    est = clone(Segmenter(k=3, n_bins=5, onehot=["is_x"]))
    assert est.get_params()["k"] == 3 and est.get_params()["onehot"] == ["is_x"]
    assert not hasattr(est, "labels_")


def test_predict_before_fit_raises():
    with pytest.raises(ValueError, match="not fitted"):
        Segmenter().predict(blobs(n_per=5))


# ---------------------------------------------------------------------------
# Helpers: elbow, id matching, naming, t-SNE
# ---------------------------------------------------------------------------


def test_find_elbow_kneedle():
    assert find_elbow([1, 2, 3, 4, 5, 6, 7, 8, 9], [100, 70, 40, 10, 9, 8, 7, 6, 5]) == 4
    assert find_elbow([2, 3, 4, 5], [30, 20, 10, 0]) == 2  # straight line: no knee
    assert find_elbow([2, 3], [10, 5]) == 2
    with pytest.raises(ValueError, match="strictly increasing"):
        find_elbow([3, 2, 4], [1, 2, 3])


def test_match_segment_ids_keeps_ids_of_segments_that_barely_moved():
    prev = np.array([[0.0, 0.0], [3.0, 3.0], [0.0, 3.0]])
    new = np.array([[3.1, 2.9], [0.0, 0.1], [9.0, 9.0], [0.2, 3.0]])  # permuted + one new
    assert match_segment_ids(new, prev, [7, 3, 5], max_distance=0.5) == [3, 7, 8, 5]
    # Too far: a new id even though the assignment pairs them.
    assert match_segment_ids(new[:1], prev[:1], [0], max_distance=0.5) == [1]
    # Fewer new segments than old ones.
    assert match_segment_ids(new[:2], prev, [7, 3, 5], max_distance=0.5) == [3, 7]
    assert match_segment_ids(new[:2], np.empty((0, 2)), [], max_distance=0.5) == [0, 1]
    with pytest.raises(ValueError, match="same features"):
        match_segment_ids(new, prev[:, :1], [1, 2, 3], max_distance=1.0)


def test_rfm_name_table_covers_grid():
    names = {(r, fm): rfm_segment_name(r, fm) for r in range(1, 6) for fm in range(1, 6)}
    assert set(names.values()) == RFM_NAMES
    assert names[5, 5] == "Champions" and names[1, 1] == "Lost" and names[1, 5] == "Can't Lose Them"
    assert names[5, 1] == "New" and names[2, 2] == "Hibernating" and names[3, 3] == "Need Attention"
    with pytest.raises(ValueError, match="1..5"):
        rfm_segment_name(0, 3)


def test_describe_segment_plain_words():
    # Against the middle of the bins by default.
    assert (
        describe_segment([0, 1, 3], RFM, [4, 2, 4]) == "bought recently, buys often, spends a lot"
    )
    assert (
        describe_segment([3, 0, 0.5], RFM, [4, 2, 4])
        == "has not bought for a long time, buys rarely, spends little"
    )
    assert describe_segment([1.5, 0.5], ["income", "is_member"], [4, 2]) == (
        "close to the average customer")
    assert describe_segment([1.5, 1.0], ["income", "is_member"], [4, 2], n_features=1) == (
        "mostly member")


def test_tsne_map_stratified_deterministic_and_records_params(seg):
    kw = dict(sample_size=400, seed=3, max_iter=250)  # default method: "distinct"
    idx, coords = tsne_map(seg.binned_, seg.labels_, **kw)
    again = tsne_map(seg.binned_, seg.labels_, **kw)
    np.testing.assert_array_equal(idx, again.indices)
    np.testing.assert_array_equal(coords, again.coords)
    assert coords.shape == (len(idx), 2) and np.all(np.diff(idx) > 0)
    assert abs(len(idx) - 400) <= 5 * seg.k_
    sampled = np.bincount(seg.labels_[idx], minlength=seg.k_)
    assert np.all(sampled >= np.minimum(5, seg.segment_sizes_))
    info = again.info
    assert info["method"] == "distinct" and info["max_iter"] == 250
    assert info["n_points_embedded"] == np.unique(seg.binned_[idx], axis=0).shape[0]
    # The opt-in method embeds every sampled customer.
    jit = tsne_map(seg.binned_, seg.labels_, method="jitter", **kw)
    np.testing.assert_array_equal(jit.indices, idx)
    assert jit.info["method"] == "jitter" and jit.info["n_points_embedded"] == len(idx)
    assert info["perplexity"] == TSNE_DEFAULTS["perplexity"] and info["sample_size"] == len(idx)
    assert info["perplexity_used"] == min(30.0, (info["n_points_embedded"] - 1) / 3)
    with pytest.raises(ValueError, match="method must be"):
        tsne_map(seg.binned_, seg.labels_, method="umap")


def test_kept_names_win_and_a_fresh_namesake_is_told_apart():
    from segkit.model.naming import _carry_names

    centroids = np.array([[3.0, 1.0, 3.0], [3.0, 1.0, 1.0]])
    # Segment 1 kept its id and was "At Risk" last time; segment 0 is new and
    # its fresh name is also "At Risk".
    names = _carry_names(["At Risk", "Hibernating"], {1: "At Risk"}, centroids, RFM, [4, 4, 4])
    assert names == ["At Risk · spends more", "At Risk"]
    # Nothing kept: nothing changes.
    assert _carry_names(["A", "B"], {}, centroids, RFM, [4, 4, 4]) == ["A", "B"]


# ---------------------------------------------------------------------------
# Fast paths: bit-for-bit the results of the implementations they replaced
# ---------------------------------------------------------------------------


def _reference_batched_weighted_kmeans(X, W, k, n_init, rng, max_iter=300):
    """The bootstrap k-means as it was before the centre-major rewrite (verbatim)."""
    from segkit.model.kmeans import _sample_rows

    def sqdist(X, x2, C):
        d2 = x2[None, :, None] - 2.0 * np.matmul(C, X.T).transpose(0, 2, 1) + np.einsum("bkd,bkd->bk", C, C)[:, None, :]
        return np.maximum(d2, 0.0)

    m = X.shape[0]
    x2 = np.einsum("md,md->m", X, X)
    Wr = np.repeat(W, n_init, axis=0)
    b = Wr.shape[0]
    n_trials = 2 + int(np.log(k))
    idx = np.empty((b, k), dtype=np.int64)
    idx[:, 0] = _sample_rows(Wr, rng)
    closest = sqdist(X, x2, X[idx[:, :1]])[:, :, 0]
    for j in range(1, k):
        p = Wr * closest
        empty = p.sum(axis=1) <= 0
        p[empty] = Wr[empty]
        trials = np.column_stack([_sample_rows(p, rng) for _ in range(n_trials)])
        cand = np.minimum(closest[:, None, :], sqdist(X, x2, X[trials]).transpose(0, 2, 1))
        best = np.einsum("blm,bm->bl", cand, Wr).argmin(axis=1)
        idx[:, j] = trials[np.arange(b), best]
        closest = cand[np.arange(b), best]
    C = X[idx]
    labels = np.full((b, m), -1)
    active = np.arange(b)
    for _ in range(max_iter):
        new = sqdist(X, x2, C[active]).argmin(axis=2)
        changed = (new != labels[active]).any(axis=1)
        labels[active] = new
        active, new = active[changed], new[changed]
        if active.size == 0:
            break
        flat = (np.arange(active.size)[:, None] * k + new).ravel()
        w = Wr[active].ravel()
        size = np.bincount(flat, weights=w, minlength=active.size * k).reshape(-1, k)
        sums = np.stack(
            [np.bincount(flat, weights=w * np.tile(X[:, j], active.size), minlength=active.size * k)
             for j in range(X.shape[1])],
            axis=-1,
        ).reshape(active.size, k, -1)
        C[active] = np.where(size[:, :, None] > 0, sums / np.maximum(size, 1e-300)[:, :, None], C[active])
    d2 = sqdist(X, x2, C)
    labels = d2.argmin(axis=2)
    inertia = (Wr * np.take_along_axis(d2, labels[:, :, None], axis=2)[:, :, 0]).sum(axis=1)
    best = inertia.reshape(-1, n_init).argmin(axis=1) + np.arange(W.shape[0]) * n_init
    return labels[best], inertia[best]


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """A wide customers-only table (the bench's wide regime, smaller): every row distinct."""
    from segkit.synthetic import generate_wide_customers

    info = generate_wide_customers(tmp_path_factory.mktemp("wide"), customers=400, seed=3)
    frame = pl.read_parquet(info["paths"]["customers"]).rename({"CustomerID": "customer_id"})
    return fit_quiet(frame.with_columns(pl.exclude("customer_id").cast(pl.Float64)),
                     k_max=6, n_resamples=10, seed=0)


@pytest.mark.parametrize("data", ["cdnow", "wide"])
def test_bootstrap_kmeans_is_bit_identical_to_the_reference(data, request):
    """Same rng draws, same labels and the very same inertia floats as before the rewrite."""
    from segkit.model.kmeans import _batched_weighted_kmeans

    s = request.getfixturevalue("seg" if data == "cdnow" else "wide")
    X, w = s.distinct_.astype(float), s.weights_.astype(float)
    n = int(w.sum())
    for k in (2, 3, 5, 7):
        W = np.random.default_rng(k).multinomial(n, w / n, size=6).astype(float)
        new = _batched_weighted_kmeans(X, W, k, 4, np.random.default_rng([1, k]))
        ref = _reference_batched_weighted_kmeans(X, W, k, 4, np.random.default_rng([1, k]))
        assert np.array_equal(new[0], ref[0]), f"{data} k={k}: labels differ"
        assert np.array_equal(new[1], ref[1]), f"{data} k={k}: inertia differs"


def test_tsne_map_bounds_wide_data_and_leaves_rfm_maps_alone(seg, wide):
    """Wide data: t-SNE embeds about max_points vectors, every segment kept; RFM: unchanged."""
    kw = dict(sample_size=2000, seed=1, max_iter=250)
    capped = tsne_map(wide.binned_, wide.labels_, max_points=60, **kw)
    assert capped.info["max_points"] == 60
    assert capped.info["n_points_embedded"] <= 60 + 5 * wide.k_
    assert set(np.unique(wide.labels_[capped.indices])) == set(range(wide.k_))
    assert capped.coords.shape == (len(capped.indices), 2)
    rfm_map = tsne_map(seg.binned_, seg.labels_, **kw)
    same = tsne_map(seg.binned_, seg.labels_, max_points=seg.n_distinct_, **kw)
    assert "max_points" not in rfm_map.info
    assert np.array_equal(rfm_map.indices, same.indices) and np.array_equal(rfm_map.coords, same.coords)
    with pytest.raises(ValueError, match="max_points"):
        tsne_map(seg.binned_, seg.labels_, max_points=2)
