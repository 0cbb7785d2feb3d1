"""Tests for segkit/model/params.py: what the Segmenter accepts."""

from __future__ import annotations

import polars as pl
import pytest

from tests.model.helpers import blobs, fit_quiet


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
