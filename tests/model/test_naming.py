"""Tests for segkit/model/naming.py: segment names and descriptions."""

from __future__ import annotations

import numpy as np
import pytest

from segkit.model import describe_segment, rfm_segment_name

from tests.model.helpers import blobs, fit_quiet, RFM, RFM_NAMES


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


def test_descriptive_names_without_rfm():
    s = fit_quiet(blobs(), n_resamples=10)
    assert s.k_ == 3
    assert s.features_ == ["age", "income"]
    # Most valuable first = highest mean level; names come from the extreme features.
    assert s.segment_names_ == ["Older, high income", "Average", "Younger, low income"]
    assert s.segment_descriptions_[0] == "older, high income"


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


def test_kept_names_win_and_a_fresh_namesake_is_told_apart():
    from segkit.model.naming import _carry_names

    centroids = np.array([[3.0, 1.0, 3.0], [3.0, 1.0, 1.0]])
    # Segment 1 kept its id and was "At Risk" last time; segment 0 is new and
    # its fresh name is also "At Risk".
    names = _carry_names(["At Risk", "Hibernating"], {1: "At Risk"}, centroids, RFM, [4, 4, 4])
    assert names == ["At Risk · spends more", "At Risk"]
    # Nothing kept: nothing changes.
    assert _carry_names(["A", "B"], {}, centroids, RFM, [4, 4, 4]) == ["A", "B"]
