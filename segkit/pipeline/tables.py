"""The per-run tables a build publishes: segments, profiles, selection, edges, centroids, map."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from segkit import warehouse
from segkit.engines import Engine, ProfileQuery

if TYPE_CHECKING:  # importing scikit-learn takes seconds: the warm-up thread does it
    from segkit.model import Segmenter


def build_tables(engine: Engine, run_id: str, feats, model: Segmenter, ids: list[int],
                 tsne, points: pl.DataFrame | None,
                 previous: dict | None = None) -> dict[str, pl.DataFrame]:
    """Every per-run table the build publishes in the warehouse, keyed by its name.

    The engine's per-customer tables (the DuckDB engine's segment history,
    with each customer's previous segment, ``segment_since`` and scores, and
    the customers who changed segment: :func:`customer_history`; none from
    Spark, whose per-customer tables are its own outputs), the tables that
    are not per customer, and the map's points. ``previous``: what the build
    read of the previous successful build (``runs._previous_run``).
    """
    tables = engine.customer_tables(run_id, feats, model, ids)
    if "segments.segment_history" in tables:
        history, changes = customer_history(
            tables["segments.segment_history"], previous or {}, feats.scores, run_id,
            feats.as_of)
        tables["segments.segment_history"] = history
        tables["segments.segment_changes"] = changes
        if feats.scores is not None:  # in the history rows now: 0.4 GB at 10M customers
            feats.scores = feats.scores.clear()
    tables.update(segment_tables(run_id, feats, model, ids, engine.segment_profiles(
        feats, model, ids, profile_query(feats, model, ids))))
    if tsne is not None:
        tables["segments.tsne_history"] = pl.DataFrame({
            "run_id": [run_id] * points.height, "customer_id": points["customer_id"],
            "segment_id": points["segment_id"].cast(pl.Int32),
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


CUSTOMER_ROWS_SQL = "build/customer_segment_rows.sql"
CHANGE_ROWS_SQL = "build/segment_change_rows.sql"

SCORES_SCHEMA = {"customer_id": pl.String, "r_score": pl.Int32, "f_score": pl.Int32,
                 "m_score": pl.Int32, "rfm_group": pl.String}
PREVIOUS_SCHEMA = {"customer_id": pl.String, "segment_id": pl.Int32,
                   "segment_name": pl.String, "segment_since": pl.Date}


def history_facts(run_id: str, previous: dict, as_of) -> pl.DataFrame:
    """``build_facts`` of the customer rows' queries: one row, this build and the last."""
    return pl.DataFrame({"run_id": [run_id], "previous_run_id": [previous.get("run_id")],
                         "as_of_date": [as_of]},
                        schema={"run_id": pl.String, "previous_run_id": pl.String,
                                "as_of_date": pl.Date})


def customer_history(history: pl.DataFrame, previous: dict, scores: pl.DataFrame | None,
                     run_id: str, as_of) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The DuckDB engine's per-customer rows with the columns that look back, and the
    rows of ``segments.segment_changes``.

    ``sql/build/customer_segment_rows.sql`` gives each customer its previous
    segment, ``segment_since`` and scores; ``sql/build/segment_change_rows.sql``
    the customers whose segment changed (the Spark engine runs the same two
    queries). They run in a short in-memory DuckDB over the customers' ids and
    segments only: the new columns are put beside ``history`` in its own order,
    so its wide columns (the bins) are never copied through a join.
    """
    customers = previous.get("customers")
    frames = {
        "build_segments": history.select(pl.col("customer_id").cast(pl.String), "segment_id",
                                         "segment_name").with_row_index("row_position"),
        "previous_segments": (customers if customers is not None
                              else pl.DataFrame(schema=PREVIOUS_SCHEMA)),
        "build_scores": (scores.cast(SCORES_SCHEMA) if scores is not None
                         else pl.DataFrame(schema=SCORES_SCHEMA)),
        "build_facts": history_facts(run_id, previous, as_of),
    }
    sql_dir = warehouse.sql_dir()
    con = warehouse.connect_memory()
    try:
        for name, frame in frames.items():
            con.register(name, frame)
        rows_sql = (sql_dir / CUSTOMER_ROWS_SQL).read_text(encoding="utf-8")
        looking_back = con.sql(f"select * exclude (customer_id, segment_id, segment_name) "
                               f"from ({rows_sql}) order by row_position").pl()
        changes = con.sql((sql_dir / CHANGE_ROWS_SQL).read_text(encoding="utf-8")
                          + " order by customer_id").pl()
    finally:
        con.close()
    return history.hstack(looking_back.drop("row_position").get_columns()), changes


PROFILE_SQL = "build/segment_profile_rows.sql"


def profile_query(feats, model: Segmenter, ids: list[int]) -> ProfileQuery:
    """The profile query (``sql/build/segment_profile_rows.sql``) and its small frames.

    ``feats`` is the SQL stage's result of either engine: it carries the
    feature lists, labels and levels. The members are the engine's.
    """
    levels = {column: (c["attribute"], c["label"], level)
              for c in feats.categoricals for column, level in c["levels"]}
    columns = feats.feature_columns
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
    return ProfileQuery(
        sql=(warehouse.sql_dir() / PROFILE_SQL).read_text(encoding="utf-8"),
        profiled=profiled, numeric=[f for f in profiled if f not in levels],
        frames={"profile_features": catalog, "fitted_segments": segments,
                "segment_features": centroids})
