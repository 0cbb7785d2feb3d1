"""Tests for segkit/pipeline/publish.py: what a build writes into the next warehouse."""

from __future__ import annotations

from segkit.pipeline.publish import _segment_models


def test_the_segments_models_render_for_the_builds_features():
    class Fitted:  # what _segment_models reads of a fitted Segmenter
        features_ = ["recency_days", "monetary"]

    models, rendered = _segment_models(Fitted())
    assert {m.layer for m in models} == {"segments"}
    assert set(rendered) == {m.name for m in models}
    assert "segments.live_segments" in rendered
    # The assignment bins exactly the clustered features.
    live = rendered["segments.live_segments"]
    assert "recency_days" in live and "monetary" in live and "frequency" not in live
