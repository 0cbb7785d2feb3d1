"""[naming] vocabulary = "scores": segments named after their centroid's RFM group."""

from __future__ import annotations

import numpy as np
import pytest

from segkit.config import load_config
from segkit.model.naming import centroid_scores, vocabulary_names
from segkit.pipeline import build
from segkit.scores import SHOPIFY, KLAVIYO
from tests.conftest import cdnow_config, cdnow_sample, query

RFM = ["recency_days", "frequency", "monetary"]


def test_centroid_scores_put_recent_and_high_spenders_on_top():
    assert centroid_scores([0, 3, 3], RFM, [4, 4, 4], 5) == {
        "recency": 5, "frequency": 5, "monetary": 5}
    assert centroid_scores([3, 0, 0], RFM, [4, 4, 4], 5) == {
        "recency": 1, "frequency": 1, "monetary": 1}
    assert centroid_scores([1.5, 1.5, 1.5], RFM, [4, 4, 4], 3) == {
        "recency": 2, "frequency": 2, "monetary": 2}


def test_shopify_and_klaviyo_names_and_separators_for_a_shared_group():
    centroids = np.array([[0, 3, 3], [0.2, 2.9, 2.6], [3, 0, 0], [1.5, 1.5, 1.5]])
    names = vocabulary_names(centroids, RFM, [4, 4, 4], "shopify")
    assert names[2] == "Dormant" and names[3] == "Needs attention"
    assert names[0].startswith("Champions · ") and names[1].startswith("Champions · ")
    assert names[0] != names[1]
    assert vocabulary_names(centroids[2:], RFM, [4, 4, 4], "klaviyo") == [
        "Inactive", "Needs attention"]


def test_a_users_grid_names_segments_too():
    names = vocabulary_names(np.array([[0, 3, 3], [3, 0, 0]]), RFM, [4, 4, 4],
                             {"Best": "r >= 3", "Rest": "r < 3"}, 3)
    assert names == ["Best", "Rest"]


def test_without_recency_there_is_no_score_group():
    with pytest.raises(ValueError, match="include recency"):
        vocabulary_names(np.array([[0, 3], [3, 0]]), ["frequency", "monetary"], [4, 4])


def test_a_build_names_its_segments_after_the_shopify_groups(tmp_path):
    config = cdnow_config(tmp_path, path=cdnow_sample(tmp_path),
                          model="map = false\nbaseline_resamples = 0")
    text = config.read_text() + '\n[naming]\nvocabulary = "scores"\n'
    config.write_text(text)
    warehouse = tmp_path / "segkit.duckdb"
    result = build(load_config(config).replace(warehouse=warehouse))
    groups = {name for name, _ in SHOPIFY.groups}
    assert all(name.split(" · ")[0] in groups for name in result.segment_names)
    stored = [r[0] for r in query(warehouse, "select distinct segment_name "
                                             "from segments.customer_segments")]
    assert sorted(stored) == sorted(result.segment_names)
    # a second build under klaviyo's words names afresh, not with the kept shopify names
    config.write_text(text + '[scores]\ngroups = "klaviyo"\n')
    again = build(load_config(config).replace(warehouse=warehouse))
    klaviyo = {name for name, _ in KLAVIYO.groups}
    assert all(name.split(" · ")[0] in klaviyo for name in again.segment_names)
