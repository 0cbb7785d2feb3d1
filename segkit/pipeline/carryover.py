"""Segments that continue from the previous build keep their ids, names and words."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:  # importing scikit-learn takes seconds: the warm-up thread does it
    from segkit.model import Segmenter


SEGMENT_MATCH_DISTANCE = 1.0


def _segment_ids(model: Segmenter, previous: dict) -> list[int]:
    """Keep a segment's id when its centroid barely moved since the last build."""
    from segkit.model import match_segment_ids

    k = model.k_
    if not previous or previous["features"] != ",".join(model.features_):
        return list(range(1, k + 1))
    prev = previous["centroids"]
    ids = prev["segment_id"].unique(maintain_order=True).to_list()
    d = len(model.features_)
    matrix = prev["centroid"].to_numpy().reshape(len(ids), d)
    return [int(i) for i in match_segment_ids(model.centroids_, matrix, ids,
                                              max_distance=SEGMENT_MATCH_DISTANCE)]


def _keep_names(model: Segmenter, ids: list[int], previous: dict) -> None:
    """A segment that kept its id keeps its name and description (and their phrases)."""
    words = previous.get("words")
    if (words is None or words.is_empty()
            or previous.get("features") != ",".join(model.features_)):
        return  # ids were not matched: every segment is named afresh
    kept = {}
    for i, segment_id in enumerate(ids):
        rows = words.filter(pl.col("segment_id") == segment_id)
        # A new id is named afresh; so is a name with a number suffix (" 2"),
        # as builds before distinct names made them.
        if rows.is_empty() or re.search(r" \d+$", rows["segment_name"][0]):
            continue
        key = [(r["feature"], r["phrase"]) for r in rows.iter_rows(named=True)
               if r["description_rank"] is not None and r["phrase"] is not None]
        kept[i] = (rows["segment_name"][0], rows["description"][0] or "", key)
    model.keep_names(kept)
