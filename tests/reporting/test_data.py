"""Tests for segkit/reporting/data.py: reading one run from the warehouse alone."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from segkit.errors import InputError
from segkit.reporting import render_report


def test_rerender_past_build_from_warehouse_alone(project):
    cfg, first, second = project["cfg"], project["first"], project["second"]
    latest_before = (cfg.reports_dir / "latest.html").read_bytes()
    # The sources are gone: the report needs only the warehouse.
    moved = project["folder"] / "sources-away"
    moved.mkdir(exist_ok=True)
    for name in ("orders.csv", "customers.csv"):
        shutil.move(project["folder"] / name, moved / name)
    try:
        path = render_report(cfg, first.run_id)
    finally:
        for name in ("orders.csv", "customers.csv"):
            shutil.move(moved / name, project["folder"] / name)
    html = path.read_text(encoding="utf-8")
    assert path.name == f"{first.run_id}.html"
    assert "not the latest build" in html
    assert 'id="chart-map"' in html
    assert "first successful build in this warehouse" in html
    # An older build never replaces latest.html.
    assert (cfg.reports_dir / "latest.html").read_bytes() == latest_before
    assert render_report(cfg).name == f"{second.run_id}.html"


def test_run_id_is_validated(project):
    cfg = project["cfg"]
    for bad in ("../../etc/passwd", "a/b", "x.html", "", "run id"):
        with pytest.raises(InputError, match="segkit runs"):
            render_report(cfg, bad)
    assert not list(cfg.reports_dir.parent.glob("etc"))


def test_unknown_run_id_says_how_to_find_ids(project):
    with pytest.raises(InputError) as exc:
        render_report(project["cfg"], "20000101T000000Z-000000")
    assert "20000101T000000Z-000000" in str(exc.value)
    assert "python -m segkit runs" in str(exc.value)


def test_failed_build_has_no_report(project, tmp_path):
    cfg = project["cfg"]
    wh = tmp_path / "segkit.duckdb"
    shutil.copy(cfg.warehouse, wh)
    con = duckdb.connect(str(wh))
    con.execute("insert into meta.runs (run_id, started_at, status, error) values "
                "('20000101T000000Z-failed', now(), 'failed', 'disk full')")
    con.close()
    with pytest.raises(InputError, match="did not succeed.*disk full"):
        render_report(cfg.replace(warehouse=wh), "20000101T000000Z-failed")


def test_no_warehouse_yet(tmp_path, project):
    cfg = project["cfg"].replace(warehouse=tmp_path / "none.duckdb")
    with pytest.raises(InputError, match="no warehouse"):
        render_report(cfg)
