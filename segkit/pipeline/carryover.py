"""Segments that continue from the previous build keep their ids, names and words."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import polars as pl

from segkit.config import Config
from segkit.errors import ConfigError

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


def naming_rule(config: dict) -> str:
    """How a build named its segments, from its recorded config (``Config.to_dict``):
    ``[naming] vocabulary`` and, when that is "scores", the ``[scores]`` groups."""
    vocabulary = (config.get("naming") or {}).get("vocabulary", "rfm")
    scores = config.get("scores") if vocabulary == "scores" else None
    return json.dumps({"vocabulary": vocabulary, "scores": scores}, sort_keys=True, default=str)


def _name_segments(cfg: Config, model: Segmenter, previous: dict) -> None:
    """``[naming] vocabulary = "scores"``: each segment named after its centroid's RFM
    group (:func:`segkit.model.naming.vocabulary_names`); the default keeps the
    model's own names. After a change of rule no previous name is kept (their
    ids still are): ``previous`` loses its words.
    """
    if previous.get("naming") not in (None, naming_rule(cfg.to_dict())):
        previous["words"] = None
    if cfg.naming.vocabulary != "scores":
        return
    from segkit.model.naming import vocabulary_names

    groups = cfg.scores.groups
    try:
        model.segment_names_ = vocabulary_names(
            model.centroids_, model.features_, [model.n_bins_[f] for f in model.features_],
            groups if isinstance(groups, str) else dict(groups), cfg.scores.levels,
            model.labels or {})
    except ValueError as exc:
        raise ConfigError(f'[naming] vocabulary = "scores": {exc}. Cluster on those features '
                          '([model] features) or name the segments with vocabulary = "rfm".'
                          ) from None
