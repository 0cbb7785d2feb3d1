"""Tests for segkit/reporting/charts.py: every chart's Vega-Lite spec."""

from __future__ import annotations

import json
import re

import pytest


def test_chart_specs_are_valid_vega_lite(project):
    """Specs skip Altair's validation at render time (speed); validate them here."""
    jsonschema = pytest.importorskip("jsonschema")
    from altair.vegalite.v6.schema import load_schema

    validator = jsonschema.Draft7Validator(load_schema())
    for report in (project["first"].report_path, project["second"].report_path):
        html = report.read_text(encoding="utf-8")
        charts = json.loads(re.search(r'id="segkit-charts">(.*?)</script>', html, re.S)
                            .group(1))
        for cid, spec in charts.items():
            errors = [e.message for e in validator.iter_errors(spec)]
            assert errors == [], (cid, errors[:3])
            # Never a row per customer: only the map is a (bounded) sample.
            assert len(spec["datasets"]["rows"]) <= (5000 if cid == "chart-map" else 500)


def test_report_is_the_same_with_the_shared_config_set_on_the_dict(project, monkeypatch):
    """The config block is set once per spec instead of by configure_* copies of each chart."""
    from segkit import reporting
    from segkit.reporting import charts

    cfg, run_id = project["cfg"], project["first"].run_id
    data = reporting.load_report_data(cfg, run_id)
    fast = reporting.render_html(data)

    def configured_spec(rows, chart):  # the former way: configure_* on the chart itself
        spec = charts._base_config(chart).to_dict(validate=False)
        spec["datasets"] = {**spec.get("datasets", {}), "rows": rows}
        return spec

    monkeypatch.setattr(charts, "_spec", configured_spec)
    assert reporting.render_html(data) == fast


def test_segment_colours_are_the_same_in_every_chart(project):
    html = project["first"].report_path.read_text(encoding="utf-8")
    charts = json.loads(re.search(r'id="segkit-charts">(.*?)</script>', html, re.S).group(1))
    scales = []
    for cid in ("chart-map", "chart-sizes"):
        found = re.findall(r'"scale":\{"domain":(\[[^\]]*\]),"range":(\[[^\]]*\])\}',
                           json.dumps(charts[cid], separators=(",", ":")))
        assert found, cid
        scales.append(found[0])
    assert scales[0] == scales[1]
