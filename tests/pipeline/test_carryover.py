"""Tests for segkit/pipeline/carryover.py: ids and names that continue from the previous build."""

from __future__ import annotations

import numpy as np
import polars as pl

from segkit.model import Segmenter
from segkit.pipeline.carryover import _keep_names, _segment_ids


def _fitted():
    rng = np.random.default_rng(0)
    centres = np.array([[1.0, 1.0], [10.0, 1.0], [1.0, 10.0]])
    X = np.vstack([c + rng.normal(0, 0.3, size=(120, 2)) for c in centres])
    frame = pl.DataFrame({"customer_id": [f"{i:04d}" for i in range(len(X))],
                          "spend": X[:, 0], "visits": X[:, 1]})
    return Segmenter(k=3, n_resamples=5, n_init=5, seed=0).fit(frame)


def _previous(model, ids, words=None):
    centroids = pl.DataFrame(
        [{"segment_id": ids[i], "feature": f, "centroid": float(model.centroids_[i, j])}
         for i in range(model.k_) for j, f in enumerate(model.features_)])
    return {"run_id": "r1", "features": ",".join(model.features_), "centroids": centroids,
            "words": words}


def test_segments_that_did_not_move_keep_their_previous_ids():
    model = _fitted()
    assert _segment_ids(model, {}) == [1, 2, 3]  # a first build numbers from 1
    assert _segment_ids(model, _previous(model, [7, 3, 5])) == [7, 3, 5]


def test_other_features_mean_fresh_ids_and_fresh_names():
    model = _fitted()
    previous = _previous(model, [7, 3, 5])
    previous["features"] = "recency_days,frequency,monetary"
    assert _segment_ids(model, previous) == [1, 2, 3]
    names = list(model.segment_names_)
    _keep_names(model, [1, 2, 3], previous)
    assert model.segment_names_ == names


def test_a_kept_id_keeps_its_name_and_description():
    model = _fitted()
    words = pl.DataFrame({"segment_id": [7], "segment_name": ["Our best"],
                          "description": ["spend a lot"], "feature": ["spend"],
                          "phrase": ["spend a lot"], "description_rank": [1]})
    previous = _previous(model, [7, 3, 5], words)
    ids = _segment_ids(model, previous)
    _keep_names(model, ids, previous)
    assert model.segment_names_[0] == "Our best"
    assert model.segment_descriptions_[0] == "spend a lot"
    assert model.segment_key_features_[0] == [("spend", "spend a lot")]
