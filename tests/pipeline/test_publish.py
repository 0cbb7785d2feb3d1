"""Tests for segkit/pipeline/publish.py: what a build writes into the next warehouse."""

from __future__ import annotations

import duckdb
import polars as pl

from segkit import project
from segkit.pipeline.publish import _store_run_table


def test_a_run_table_keeps_every_build_and_gains_new_columns(tmp_path):
    model = next(m for m in project.load_models() if m.name == "features.customer_features")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    for schema in ("features", "segments"):
        con.execute(f"create schema {schema}")
    con.execute("create table segments.latest_run (run_id varchar)")
    con.execute("insert into segments.latest_run values ('r1')")
    _store_run_table(con, "r1", model, pl.DataFrame({"customer_id": ["a"], "monetary": [1.0]}))
    assert con.execute("select * from features.customer_features").fetchall() == [("a", 1.0)]
    # the next build has a feature more; the current view shows that build's columns
    con.execute("update segments.latest_run set run_id = 'r2'")
    _store_run_table(con, "r2", model, pl.DataFrame({"customer_id": ["a", "b"],
                                                      "monetary": [2.0, 3.0], "age": [30, 40]}))
    assert con.execute("select * from features.customer_features order by 1").fetchall() == [
        ("a", 2.0, 30), ("b", 3.0, 40)]
    assert con.execute("select run_id, customer_id, monetary, age from "
                       "features.customer_features_history order by 1, 2").fetchall() == [
        ("r1", "a", 1.0, None), ("r2", "a", 2.0, 30), ("r2", "b", 3.0, 40)]
    con.close()
