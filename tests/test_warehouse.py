"""Versioned views: changing a view's SQL records a new version; old runs keep theirs."""

from __future__ import annotations

import shutil

import pytest

import segkit
from segkit import warehouse
from tests.conftest import cdnow_config, query


def test_quote_ident_and_literal_neutralise_injection():
    assert warehouse.quote_ident('x"; drop table meta.runs; --') == '"x""; drop table meta.runs; --"'
    assert warehouse.quote_literal("it's") == "'it''s'"
    with pytest.raises(ValueError):
        warehouse.quote_literal(float("nan"))


def test_views_load_layer_by_layer_upstream_first():
    names = [v.name for v in warehouse.load_views()]
    assert names.index("staging.transactions") < names.index("cleaning.transactions_checked")
    assert names.index("cleaning.transactions_checked") < names.index("cleaning.transactions")
    assert names.index("features.numeric_bounds") < names.index("features.customer_features")
    assert names[-1].startswith("segments.")


def test_changing_a_view_records_a_new_version(tmp_path, monkeypatch):
    sql = tmp_path / "sql"
    shutil.copytree(warehouse.sql_dir(), sql)
    monkeypatch.setattr(warehouse, "sql_dir", lambda: sql)
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
    # Whitespace is not logic: reformatting keeps the version.
    rfm.write_text(rfm.read_text().replace("\n\n", "\n\n\n"))
    fourth = segkit.build(config)
    assert query(wh, "select version from meta.run_views where run_id = ? and view_name = "
                     "'features.customer_rfm'", [fourth.run_id]) == [(2,)]
