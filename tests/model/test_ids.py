"""Tests for segkit/model/ids.py: segment ids kept across builds."""

from __future__ import annotations

import numpy as np
import pytest

from segkit.model import match_segment_ids


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
