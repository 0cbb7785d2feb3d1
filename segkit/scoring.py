"""``segkit score``: assign the customers in a file to the latest build's segments.

The file holds either feature rows (``customer_id`` plus the model's feature
columns) or raw transactions mapped like ``[transactions]`` in the config, which
then go through the same SQL pipeline as a build. Assignment uses the stored
bin edges and centroids (the same rule as ``segments.live_segments``) or, with
``model="champion"``, the MLflow model registered under the alias champion.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from segkit import warehouse
from segkit.config import Config
from segkit.errors import InputError


def _latest_model(cfg: Config) -> tuple[str, pl.DataFrame, pl.DataFrame]:
    if not cfg.warehouse.exists():
        raise InputError(f"no warehouse at {cfg.warehouse}; run `python -m segkit build` first.")
    con = warehouse.connect(cfg.warehouse, cfg.duckdb, read_only=True)
    try:
        rows = con.execute("select run_id from segments.latest_run").fetchall()
        if not rows:
            raise InputError(f"{cfg.warehouse} has no successful build to score with.")
        run_id = rows[0][0]
        edges = con.sql("select * from segments.bin_edge_history where run_id = ? "
                        "order by feature_index, bin", params=[run_id]).pl()
        centroids = con.sql("select * from segments.centroid_history where run_id = ? "
                            "order by segment_index, feature_index", params=[run_id]).pl()
    finally:
        con.close()
    return run_id, edges, centroids


def _read(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise InputError(f"--input {path} does not exist.")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema_length=10_000, schema_overrides={"customer_id": pl.String})
    except Exception as exc:  # polars raises many types for unreadable files
        raise InputError(f"cannot read --input {path}: {exc}") from None


def _features_from_transactions(cfg: Config, path: Path) -> pl.DataFrame:
    from segkit.features import build_features

    if cfg.transactions is None:
        raise InputError(f"{path} has no feature columns and the config has no [transactions] "
                         "mapping to read it as raw transactions.")
    scoped = cfg.replace(transactions=dataclasses.replace(cfg.transactions, path=str(path),
                                                          table=None), customers=None)
    # A folder of its own: two scores at once must not delete each other's spill
    # files (and a build only removes folders named like run ids).
    root = cfg.warehouse.parent / ".tmp"
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="score-", dir=root))
    con = warehouse.connect_work(cfg.duckdb, tmp)
    try:
        return build_features(con, scoped).frame
    finally:
        con.close()
        shutil.rmtree(tmp, ignore_errors=True)


def assign(frame: pl.DataFrame, edges: pl.DataFrame, centroids: pl.DataFrame) -> np.ndarray:
    """Canonical segment index per row: bin with the stored edges, nearest centroid.

    A value's bin is the number of inner edges at or below it, exactly as
    scikit-learn's ``KBinsDiscretizer`` does; distance ties go to the lower index.
    """
    features = centroids.filter(pl.col("segment_index") == 0)["feature"].to_list()
    X = np.empty((frame.height, len(features)))
    for j, feature in enumerate(features):
        values = frame[feature].cast(pl.Float64).to_numpy()
        inner = edges.filter((pl.col("feature") == feature) & (pl.col("bin") > 0))["lower"]
        X[:, j] = np.searchsorted(inner.to_numpy(), values, side="right") if len(
            edges.filter(pl.col("feature") == feature)) else values
    k = centroids["segment_index"].max() + 1
    C = centroids["centroid"].to_numpy().reshape(k, len(features))
    distances = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    return distances.argmin(axis=1)


def score(cfg: Config, input: Path, output: Path, *, model: str = "centroids") -> dict:
    """Score ``input`` and write ``customer_id, segment_id, segment_name`` to ``output``.

    Raises
    ------
    InputError
        No build to score with, an unreadable input, or missing feature columns.
    """
    run_id, edges, centroids = _latest_model(cfg)
    features = centroids.filter(pl.col("segment_index") == 0)["feature"].to_list()
    frame = _read(input)
    if "customer_id" not in frame.columns or not set(features) <= set(frame.columns):
        frame = _features_from_transactions(cfg, input)
    if frame.height == 0:
        raise InputError(f"--input {input} has no rows to score.")
    if model == "champion":
        from segkit import tracking

        pipeline = tracking.load_champion(cfg)
        labels = pipeline.predict(frame.select(features).to_pandas())
    else:
        labels = assign(frame, edges, centroids)
    segments = (centroids.filter(pl.col("feature_index") == 0)
                .select("segment_index", "segment_id", "segment_name"))
    result = (frame.select("customer_id")
              .with_columns(pl.Series("segment_index", labels, dtype=pl.Int32))
              .join(segments, on="segment_index", how="left")
              .select("customer_id", "segment_id", "segment_name")
              .with_columns(pl.lit(run_id).alias("run_id")))
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() in (".parquet", ".pq"):
        result.write_parquet(output)
    else:
        result.write_csv(output)
    return {"customers": result.height, "run_id": run_id, "output": str(output)}
