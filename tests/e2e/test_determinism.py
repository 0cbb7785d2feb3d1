"""Same input + same config + same seed = identical segment tables (run ids aside).

Compared exactly, floats included: across two builds into one warehouse and
across two fresh warehouses, on the CDNOW demo and on a generated dataset
with a customers table (demographics, categoricals, dirt).
"""

from __future__ import annotations

import shutil

import pytest

import segkit
from tests.conftest import cdnow_config, copy_build, query

pytestmark = pytest.mark.slow

TABLES = ("customer_segments", "segment_profiles", "model_selection", "bin_edges", "centroids")
LOOKING_BACK = {"customer_segments": ", previous_segment_id, previous_segment_name"}


def contents(warehouse) -> dict:
    # A customer's previous segment is the warehouse's history, not the input's: a
    # rebuild has one where a fresh warehouse has none (segment_since is the same).
    tables = {name: query(warehouse, f"select * exclude (run_id{LOOKING_BACK.get(name, '')}) "
                                     f"from segments.{name} order by all") for name in TABLES}
    tables["run"] = query(warehouse, "select rows_in, rows_used, rows_quarantined, customers, "
                                     "distinct_vectors, features, k, k_rule, silhouette, "
                                     "davies_bouldin, calinski_harabasz, stability_ari_mean "
                                     "from meta.runs where run_id = "
                                     "(select run_id from segments.latest_run)")
    tables["accounting"] = query(warehouse, "select * exclude (run_id) from meta.row_accounting "
                                            "where run_id = (select run_id from "
                                            "segments.latest_run) order by all")
    return tables


def build_twice_and_fresh(folder, config_text: str) -> list[dict]:
    """Two builds into one warehouse, one into a fresh warehouse; their contents."""
    results = []
    for name, builds in (("a", 2), ("b", 1)):
        project = folder / name
        project.mkdir()
        for item in folder.glob("*.parquet"):
            shutil.copy(item, project / item.name)
        (project / "segkit.toml").write_text(config_text)
        for _ in range(builds):
            segkit.build(project / "segkit.toml")
            results.append(contents(project / "warehouse" / "segkit.duckdb"))
    return results


def assert_identical(results: list[dict]) -> None:
    first = results[0]
    assert first["customer_segments"] and first["model_selection"]
    for other in results[1:]:
        for name in first:
            assert other[name] == first[name], name


def test_cdnow_builds_are_identical(cdnow_build, tmp_path):
    # Three builds of the demo: the shared one (a fresh warehouse), a second build into
    # a copy of its warehouse, and a third into a fresh warehouse in another folder.
    results = [contents(cdnow_build["warehouse"])]
    for name, warehouse_from in (("again", cdnow_build), ("fresh", None)):
        project = tmp_path / name
        project.mkdir()
        if warehouse_from:
            copy_build(warehouse_from, project)
        segkit.build(cdnow_config(project))  # same data, model and seed; MLflow off
        results.append(contents(project / "warehouse" / "segkit.duckdb"))
    assert_identical(results)
    assert results[0]["run"][0][3] == 23_502


def test_generated_builds_with_customers_are_identical(tmp_path):
    segkit.generate(tmp_path, transactions=30_000, seed=3)  # about 3,000 customers
    config = (tmp_path / "segkit.toml").read_text()
    config += "\n[mlflow]\nenabled = false\n"
    results = build_twice_and_fresh(tmp_path, config)
    assert_identical(results)
    # Demographics made it into the clustered or profiled features.
    features = {row[7] for row in results[0]["segment_profiles"]}
    assert "income" in features or "age" in features
