"""Versioned views: changing a view's SQL records a new version; old runs keep theirs."""

from __future__ import annotations

import shutil

import pytest

import segkit
from segkit import project, warehouse
from tests.conftest import cdnow_config, query


def test_quote_ident_and_literal_neutralise_injection():
    assert warehouse.quote_ident('x"; drop table meta.runs; --') == '"x""; drop table meta.runs; --"'
    assert warehouse.quote_literal("it's") == "'it''s'"
    with pytest.raises(ValueError):
        warehouse.quote_literal(float("nan"))


def test_changing_a_view_records_a_new_version(tmp_path, monkeypatch):
    sql = tmp_path / "sql"
    shutil.copytree(warehouse.sql_dir(), sql)
    monkeypatch.setattr(project, "sql_dir", lambda: sql)
    config = cdnow_config(tmp_path, model="map = false\n        k = 4")
    first = segkit.build(config)
    second = segkit.build(config)  # unchanged SQL: no new version
    rfm = sql / "features" / "customer_rfm.sql"
    rfm.write_text(rfm.read_text().replace("round(total_spend /", "round(1.0 * total_spend /"))
    third = segkit.build(config)
    wh = tmp_path / "warehouse" / "segkit.duckdb"
    versions = query(wh, "select version from meta.view_versions where view_name = "
                         "'features.customer_rfm' order by version")
    assert versions == [(1,), (2,)]
    used = dict(query(wh, "select run_id, version from meta.run_views where view_name = "
                          "'features.customer_rfm'"))
    assert used == {first.run_id: 1, second.run_id: 1, third.run_id: 2}
    # Whitespace and comments are not logic: reformatting keeps the version.
    rfm.write_text(rfm.read_text().replace("\n\n", "\n\n\n").replace(
        "with\n", "-- a note that changes nothing\nWITH\n", 1))
    fourth = segkit.build(config)
    assert query(wh, "select version from meta.run_views where run_id = ? and view_name = "
                     "'features.customer_rfm'", [fourth.run_id]) == [(2,)]
    # Each run keeps the exact SQL it ran.
    (sql_ran,), = query(wh, "select sql from meta.run_views where run_id = ? and view_name = "
                            "'features.customer_rfm'", [third.run_id])
    assert "round(1.0 * total_spend /" in sql_ran and "{{" not in sql_ran


def test_a_run_table_keeps_every_build_and_gains_new_columns(tmp_path):
    import duckdb
    import polars as pl

    from segkit.pipeline.publish import _store_run_table

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
