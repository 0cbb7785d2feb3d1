"""MLflow after a whole build: the champion model answers in published segment ids; the store."""

from __future__ import annotations

import polars as pl

from tests.conftest import cdnow_config, cdnow_sample, query


def test_champion_model_predicts_the_published_segment_ids(cdnow_build):
    from segkit import tracking

    cfg = cdnow_build["cfg"]
    champion = tracking.load_champion(cfg)
    wh = cdnow_build["warehouse"]
    features = query(wh, "select features from segments.latest_run join meta.runs using "
                         "(run_id)")[0][0].split(",")
    rows = query(wh, "select f.*, s.segment_id, s.segment_name from features.customer_features f "
                     "join segments.customer_segments s using (customer_id) order by customer_id")
    frame = pl.DataFrame(rows, schema=[r[0] for r in query(
        wh, "describe features.customer_features")] + ["segment_id", "segment_name"],
        orient="row")
    predicted = champion.predict(frame.select(features).to_pandas())
    # segment_id, as every table speaks, not the build's internal index
    assert predicted["segment_id"].tolist() == frame["segment_id"].to_list()
    assert predicted["segment_name"].tolist() == frame["segment_name"].to_list()


def test_a_new_mlflow_store_is_created_in_wal_mode(cdnow_build):
    """Fewer syncs while MLflow migrates a new store (the first build's extra seconds)."""
    import sqlite3

    con = sqlite3.connect(cdnow_build["folder"] / "warehouse" / "mlflow.db")
    try:
        assert con.execute("pragma journal_mode").fetchone()[0] == "wal"
        assert con.execute("select count(*) from registered_models").fetchone()[0] == 1
    finally:
        con.close()


def test_a_build_that_logs_to_mlflow_imports_neither_skops_nor_the_sklearn_flavour(tmp_path):
    """The model is a pyfunc: skops (which imports every estimator, 1.3-1.5 s of CPU) is never needed."""
    import subprocess
    import sys

    config = cdnow_config(tmp_path, path=cdnow_sample(tmp_path), mlflow="enabled = true")
    code = ("import sys, segkit; r = segkit.build(sys.argv[1]); "
            "print(r.model_version, 'skops' in sys.modules, 'mlflow.sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(config)], capture_output=True,
                         text=True, check=True, cwd=tmp_path).stdout
    assert out.split()[-3:] == ["1", "False", "False"]


def test_two_projects_built_in_one_process_each_log_to_their_own_store(tmp_path):
    """A notebook that builds two projects: MLflow's set_tracking_uri also sets
    MLFLOW_TRACKING_URI, which the second build must not take for the user's choice."""
    import os

    import segkit

    results = []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        config = cdnow_config(folder, path=cdnow_sample(folder), mlflow="enabled = true")
        results.append(segkit.build(config, warehouse=folder / "wh" / "segkit.duckdb"))
    for result in results:
        assert (result.warehouse.parent / "mlflow.db").exists()
        assert result.model_version == "1"  # a new store each: its first version
    assert "MLFLOW_TRACKING_URI" not in os.environ
