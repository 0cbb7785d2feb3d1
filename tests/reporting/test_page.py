"""Tests for segkit/reporting/page.py: escaping for <script>, the page's markup and writing the file."""

from __future__ import annotations

import json
import re
import shutil

import duckdb
import pytest

from segkit.errors import WarehouseError
from segkit.reporting import render_report
from segkit.reporting.page import _json_for_script

from tests.reporting.helpers import _assert_no_injection, IMG_PAYLOAD, SCRIPT_PAYLOAD


def test_build_writes_report_and_latest_copy(project):
    second = project["second"]
    out = project["folder"] / "out"
    assert second.report_path == out / f"{second.run_id}.html"
    assert second.report_path.is_file()
    assert (out / f"{project['first'].run_id}.html").is_file()
    assert (out / "latest.html").read_bytes() == second.report_path.read_bytes()
    assert not list(out.glob(".report-*"))  # no temporary files left behind


def test_data_values_are_only_text(project):
    """Customer ids and levels that are HTML/JS attacks stay inert data."""
    html = project["first"].report_path.read_text(encoding="utf-8")
    _assert_no_injection(html)
    block = re.search(r'id="segkit-charts">(.*?)</script>', html, re.S).group(1)
    assert "<" not in block and ">" not in block
    ids = {row["customer_id"] for row in json.loads(block)["chart-map"]["datasets"]["rows"]}
    assert {SCRIPT_PAYLOAD, IMG_PAYLOAD} <= ids


def test_every_string_from_the_warehouse_is_escaped(project, tmp_path):
    """Attack strings in every text column the report reads are shown as text."""
    cfg = project["cfg"]
    wh = tmp_path / "segkit.duckdb"
    shutil.copy(cfg.warehouse, wh)
    run_id = project["second"].run_id
    evil = SCRIPT_PAYLOAD + IMG_PAYLOAD
    con = duckdb.connect(str(wh))
    con.execute("update segments.profile_history set segment_name = ? || segment_id, "
                "description = ?", [evil, evil])
    con.execute("update segments.profile_history set label = ?, phrase = ?, top_level = ?, "
                "level = ?", [evil, evil, evil, evil])
    con.execute("update segments.centroid_history set segment_name = ? || segment_id",
                [evil])
    con.execute("update segments.segment_history set segment_name = ? || segment_id",
                [evil])
    con.execute("update meta.runs set warnings = ?, source = ?, k_rule = ?, error = ?",
                [evil, evil, evil, evil])
    con.execute("update meta.row_accounting set reason = ? where reason is not null", [evil])
    con.execute("update meta.column_quality set column_name = ? || column_name", [evil])
    con.execute("update meta.run_views set view_name = ?", [evil])
    con.close()
    cfg2 = cfg.replace(warehouse=wh, reports_dir=tmp_path / "out")
    html = render_report(cfg2, run_id).read_text(encoding="utf-8")
    page = _assert_no_injection(html)
    text = "".join(page.text)
    assert SCRIPT_PAYLOAD in text and IMG_PAYLOAD in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # In SQL snippets a segment name is a SQL literal, then HTML-escaped.
    assert "where segment_name = &#39;&lt;script&gt;" in html


def test_unwritable_reports_dir_names_the_folder(project, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cfg = project["cfg"].replace(reports_dir=blocker / "reports")
    with pytest.raises(WarehouseError) as exc:
        render_report(cfg)
    assert str(blocker / "reports") in str(exc.value)
    assert "reports_dir" in str(exc.value)


def test_json_for_script_cannot_close_the_block():
    text = _json_for_script({"a": "</script><!-- & \u2028", "b": [1.5, None]})
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!-- & \u2028", "b": [1.5, None]}
