"""Versioned views: changing a view's SQL records a new version; old runs keep theirs."""

from __future__ import annotations

import shutil

import pytest

import segkit
from segkit import project, warehouse
from tests.conftest import cdnow_config, cdnow_sample, query


def test_quote_ident_and_literal_neutralise_injection():
    assert warehouse.quote_ident('x"; drop table meta.runs; --') == '"x""; drop table meta.runs; --"'
    assert warehouse.quote_literal("it's") == "'it''s'"
    with pytest.raises(ValueError):
        warehouse.quote_literal(float("nan"))


def test_changing_a_view_records_a_new_version(tmp_path, monkeypatch):
    sql = tmp_path / "sql"
    shutil.copytree(warehouse.sql_dir(), sql)
    monkeypatch.setattr(project, "sql_dir", lambda: sql)
    # Four whole builds: a sample of CDNOW keeps each about a second.
    config = cdnow_config(tmp_path, path=cdnow_sample(tmp_path), model="""map = false
        k = 4
        k_max = 4
        n_init = 5
        n_resamples = 5""")
    first = segkit.build(config)
    second = segkit.build(config)  # unchanged SQL: no new version
    rfm = sql / "features" / "customer_rfm.sql"
    changed = rfm.read_text().replace("sum(amount) as total_spend",
                                      "sum(amount) + 0 as total_spend")
    assert changed != rfm.read_text()  # the edit below must change the logic
    rfm.write_text(changed)
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
    assert "sum(amount) + 0 as total_spend" in sql_ran and "{{" not in sql_ran
