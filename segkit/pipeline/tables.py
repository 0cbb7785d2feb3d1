"""The per-run tables a build publishes: segments, profiles, selection, edges, centroids, map."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from segkit import warehouse
from segkit.features import FeatureResult

if TYPE_CHECKING:  # importing scikit-learn takes seconds: the warm-up thread does it
    from segkit.model import Segmenter


def _tables(run_id: str, feats: FeatureResult, model: Segmenter, ids: list[int],
            tsne) -> dict[str, pl.DataFrame]:
    """Every per-run table the build publishes, keyed by its warehouse name."""
    frame = feats.frame
    names = model.segment_names_
    labels = model.labels_
    seg_id = np.asarray(ids)[labels]
    tables: dict[str, pl.DataFrame] = {}
    # Columnar all the way (no Python object per customer): at 10M customers a
    # list of names or run ids would cost gigabytes.
    tables["segments.segment_history"] = pl.DataFrame({
        "customer_id": frame["customer_id"],
        "segment_id": seg_id.astype(np.int32),
        "segment_name": pl.Series(names, dtype=pl.String).gather(labels),
        "distance_to_centroid": model.distances_.astype(float),
        "bins": model.binned_.astype(float),
    }).with_columns(pl.lit(run_id).alias("run_id"))
    tables.update(segment_tables(run_id, feats, model, ids,
                                 _segment_profiles(feats, model, ids)))
    if tsne is not None:
        idx = np.asarray(tsne.indices)
        tables["segments.tsne_history"] = pl.DataFrame({
            "run_id": [run_id] * len(idx),
            "customer_id": frame["customer_id"].gather(idx),
            "segment_id": seg_id[idx].astype(np.int32),
            "x": tsne.coords[:, 0].astype(float), "y": tsne.coords[:, 1].astype(float)})
    # meta.column_quality and meta.quarantine_history are run_table models' history:
    # _publish_models stores them.
    return tables


def segment_tables(run_id: str, feats, model: Segmenter, ids: list[int],
                   profiles: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The per-run tables that are not per customer, for either engine.

    Counts come from the weighted distinct vectors, so they need no customer
    rows (the Spark engine has none on the driver).
    """
    names = model.segment_names_
    with_run = lambda df: df.with_columns(pl.lit(run_id).alias("run_id"))  # noqa: E731
    tables = {"segments.profile_history": with_run(profiles),
              "segments.selection_history": with_run(model.selection_)}
    edges = []
    for j, f in enumerate(model.features_):
        if f not in model.bin_edges_:
            continue
        e = model.bin_edges_[f]
        counts = np.bincount(model.distinct_[:, j].astype(int), weights=model.weights_,
                             minlength=len(e) - 1)
        for b in range(len(e) - 1):
            edges.append({"run_id": run_id, "feature": f, "feature_index": j, "bin": b,
                          "lower": float(e[b]), "upper": float(e[b + 1]),
                          "n_customers": int(counts[b])})
    tables["segments.bin_edge_history"] = pl.DataFrame(edges)
    tables["segments.centroid_history"] = pl.DataFrame([
        {"run_id": run_id, "segment_id": ids[i], "segment_index": i, "segment_name": names[i],
         "feature": f, "feature_index": j, "is_binned": f in model.bin_edges_,
         "centroid": float(model.centroids_[i, j])}
        for i in range(model.k_) for j, f in enumerate(model.features_)])
    tables["meta.row_accounting"] = with_run(feats.accounting)
    tables["meta.feature_histograms"] = with_run(feats.histograms)
    return tables


PROFILE_SQL = "build/segment_profile_rows.sql"


def _profile_context(feats, model: Segmenter, ids: list[int],
                     columns) -> tuple[list[str], list[str], dict[str, pl.DataFrame]]:
    """The profiled features (those in ``columns``), the numeric ones among them,
    and the three small frames the profile query reads besides the members:
    features, segments, centroids.

    ``feats`` is the SQL stage's result of either engine (FeatureResult, or the
    Spark engine's SparkFeatures): it carries the feature lists, labels and levels.
    """
    levels = {column: (c["attribute"], c["label"], level)
              for c in feats.categoricals for column, level in c["levels"]}
    profiled = [f for f in feats.numeric_features + feats.onehot_features if f in columns]
    catalog = pl.DataFrame(
        [{"feature": f, "kind": "onehot" if f in levels else "numeric",
          "label": feats.labels.get(f, f), "attribute": levels.get(f, (None,) * 3)[0],
          "attribute_label": levels.get(f, (None,) * 3)[1], "level": levels.get(f, (None,) * 3)[2],
          "position": i} for i, f in enumerate(profiled)],
        schema={"feature": pl.String, "kind": pl.String, "label": pl.String,
                "attribute": pl.String, "attribute_label": pl.String, "level": pl.String,
                "position": pl.Int32})
    k = model.k_
    segments = pl.DataFrame({
        "segment_index": pl.Series(range(k), dtype=pl.Int32),
        "segment_id": pl.Series(ids, dtype=pl.Int32),
        "segment_name": model.segment_names_, "description": model.segment_descriptions_,
        "stability": model.segment_stability_.astype(float)})
    rank = [{f: r for r, (f, _) in enumerate(key, 1)} for key in model.segment_key_features_]
    phrase = [dict(key) for key in model.segment_key_features_]
    centroids = pl.DataFrame(
        [{"segment_index": i, "feature": f, "centroid": float(model.centroids_[i, j]),
          "phrase": phrase[i].get(f), "description_rank": rank[i].get(f)}
         for i in range(k) for j, f in enumerate(model.features_)],
        schema={"segment_index": pl.Int32, "feature": pl.String, "centroid": pl.Float64,
                "phrase": pl.String, "description_rank": pl.Int32})
    numeric = [f for f in profiled if f not in levels]
    return profiled, numeric, {"profile_features": catalog, "fitted_segments": segments,
                               "segment_features": centroids}


def _profile_frames(feats: FeatureResult, model: Segmenter,
                    ids: list[int]) -> dict[str, pl.DataFrame]:
    """The five frames the profile query reads (see its header)."""
    profiled, numeric, frames = _profile_context(feats, model, ids, feats.frame.columns)
    # No copy of the features: the segment index is one more column, cut into
    # the frame's chunks (the frame arrives from DuckDB in batches). With
    # uneven chunks, Polars copies every column into one chunk on a select and
    # on the export to Arrow that registering does: 1 GB at 10M customers.
    labels = np.asarray(model.labels_, dtype=np.int32)
    cuts = np.cumsum(feats.frame.get_column(profiled[0]).chunk_lengths())[:-1]
    index = pl.concat([pl.Series("segment_index", part) for part in np.split(labels, cuts)],
                      rechunk=False)
    members = feats.frame.select(profiled).with_columns(index)
    return {"segment_members": members,
            "segment_numeric_members": members.select("segment_index", *numeric), **frames}


def _segment_profiles(feats: FeatureResult, model: Segmenter, ids: list[int]) -> pl.DataFrame:
    """The rows of ``segments.profile_history`` (without ``run_id``), from SQL.

    ``sql/build/segment_profile_rows.sql`` runs in a short in-memory DuckDB over
    the build's frames (DuckDB reads Polars frames through Arrow, without a
    copy). Not the work database: that is closed (its memory freed) before the
    model runs, and the segments exist only here until they are published.
    """
    sql = (warehouse.sql_dir() / PROFILE_SQL).read_text(encoding="utf-8")
    # One thread: a parallel float avg can differ in its last bits between runs,
    # and the same input must give identical tables.
    con = warehouse.connect_memory(threads=1)
    try:
        for name, frame in _profile_frames(feats, model, ids).items():
            con.register(name, frame)
        return con.sql(sql).pl().drop("position")
    finally:
        con.close()
