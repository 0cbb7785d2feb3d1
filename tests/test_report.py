"""The HTML report: rendered from the warehouse alone, escaped, offline, one file.

Two tiny builds (60-odd customers, MLflow off) stand in for real data: the
first with the t-SNE map, the second without it, so the second report has a
movement section and the "no map" sentence.
"""

from __future__ import annotations

import csv
import json
import random
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

import segkit
from segkit.config import load_config
from segkit.errors import InputError, WarehouseError
from segkit.reporting import render_report
from segkit.reporting.page import _json_for_script

SCRIPT_PAYLOAD = "<script>alert(1)</script>"
IMG_PAYLOAD = '"><img src=x onerror=alert(1)>'
OUR_SCRIPTS = {"segkit-charts", "segkit-vega", "segkit-init"}


class _Page(HTMLParser):
    """Collects every element and the text the browser would show."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag in ("script", "style")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._in_script = False

    def handle_data(self, data):
        if not self._in_script:
            self.text.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _assert_no_injection(html: str) -> _Page:
    page = _parse(html)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert {s.get("id") for s in scripts} == OUR_SCRIPTS, scripts
    assert len(scripts) == len(OUR_SCRIPTS)
    assert [s.get("type") for s in scripts if s.get("id") == "segkit-charts"] == [
        "application/json"]
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"img", "iframe", "object", "embed", "svg", "base"}, tags
    for tag, attrs in page.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        for name in ("href", "src"):
            value = attrs.get(name) or ""
            assert not value.lower().startswith(("http:", "https:", "//", "javascript:")), (
                tag, attrs)
    return page


def _write_project(folder: Path, *, evil: bool) -> Path:
    rng = random.Random(1)
    ids = [f"C{i:03d}" for i in range(60)] + ([SCRIPT_PAYLOAD, IMG_PAYLOAD] if evil else [])
    with open(folder / "orders.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["CustomerID", "InvoiceDate", "Revenue"])
        for cid in ids:
            for _ in range(rng.randint(1, 6)):
                w.writerow([cid, f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                            round(rng.uniform(5, 200), 2)])
        w.writerow(["C000", "2024-03-03", "-5"])  # quarantined: negative amount
    levels = [SCRIPT_PAYLOAD, IMG_PAYLOAD, "web", "store", "phone"]
    with open(folder / "customers.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ID", "Channel", "Income"])
        for i, cid in enumerate(ids):
            w.writerow([cid, levels[i % len(levels)], rng.randint(20000, 90000)])
    config = folder / "segkit.toml"
    config.write_text(
        'warehouse = "wh/segkit.duckdb"\nreports_dir = "out"\n\n'
        '[transactions]\npath = "orders.csv"\ncustomer_id = "CustomerID"\n'
        'timestamp = "InvoiceDate"\namount = "Revenue"\n\n'
        '[customers]\npath = "customers.csv"\ncustomer_id = "ID"\nnumeric = ["Income"]\n'
        'categorical = ["Channel"]\n\n'
        "[model]\nn_resamples = 5\nn_init = 10\ntsne_sample_size = 500\n\n"
        "[mlflow]\nenabled = false\n", encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Two builds of a tiny project whose customer ids and levels are attacks."""
    folder = tmp_path_factory.mktemp("report")
    config = _write_project(folder, evil=True)
    first = segkit.build(config=config)
    second = segkit.build(config=config, no_map=True)
    return {"folder": folder, "config": config, "first": first, "second": second,
            "cfg": load_config(config)}


def test_build_writes_report_and_latest_copy(project):
    second = project["second"]
    out = project["folder"] / "out"
    assert second.report_path == out / f"{second.run_id}.html"
    assert second.report_path.is_file()
    assert (out / f"{project['first'].run_id}.html").is_file()
    assert (out / "latest.html").read_bytes() == second.report_path.read_bytes()
    assert not list(out.glob(".report-*"))  # no temporary files left behind


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


def test_sections_of_second_build(project):
    html = project["second"].report_path.read_text(encoding="utf-8")
    page = _assert_no_injection(html)
    text = " ".join(" ".join(page.text).split())
    for heading in ("1. Summary", "2. Data quality", "3. Features", "4. Choosing k",
                    "5. The map", "6. Segments", "7. Movement", "8. Use it in SQL"):
        assert heading in text
    assert "No map for this build" in text and "--no-map" in text
    assert f"Compared with build {project['first'].run_id}" in text
    assert "amount zero or negative" in text  # quarantine reason from meta.row_accounting
    assert "from segments.customer_segments" in text
    assert project["second"].run_id in text
    charts = json.loads(re.search(r'<script type="application/json" id="segkit-charts">'
                                  r"(.*?)</script>", html, re.S).group(1))
    assert "chart-migration" in charts and "chart-map" not in charts
    assert {"chart-sizes", "chart-centroids", "chart-k-inertia", "chart-quarantine"} <= set(
        charts)
    for cid in charts:
        assert f'id="{cid}"' in html


def test_segment_cards_show_the_values_behind_the_words(project):
    html = project["second"].report_path.read_text(encoding="utf-8")
    section = re.search(r'<section id="segments">(.*?)</section>', html, re.S).group(1)
    text = " ".join("".join(_parse(section).text).split())
    # "bought recently: median 12 days ago", whichever words a segment gets.
    assert re.search(r"(bought recently|bought a while ago|has not bought for a long time): "
                     r"median [\d,]+ days ago", text), text
    assert re.search(r"(buys rarely|buys occasionally|buys often): median [\d,.]+ purchases",
                     text), text
    # Numeric features by their source spelling; a categorical's most common level.
    assert "Income" in text and "Most common" in text and "Channel" in text
    assert "median 0.0" not in text


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


def test_module_import_keeps_the_api_function_callable(project):
    import segkit.reporting  # noqa: F401

    path = segkit.report(project["first"].run_id, config=project["config"])
    assert path.name == f"{project['first'].run_id}.html"


def test_cli_report_in_a_fresh_process(project):
    result = subprocess.run([sys.executable, "-m", "segkit", "report", "--config",
                             str(project["config"])], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"{project['second'].run_id}.html" in result.stdout + result.stderr


def test_cli_report_command(project, capsys):
    from segkit.cli import main

    run_id = project["first"].run_id
    path = project["cfg"].reports_dir / f"{run_id}.html"
    path.unlink()
    code = main(["report", run_id, "--config", str(project["config"])])
    assert code == 0
    captured = capsys.readouterr()
    assert f"{run_id}.html" in captured.out + captured.err
    # The file is back, and it is that build's report (not the latest one's).
    html = path.read_text(encoding="utf-8")
    assert run_id in html and project["second"].run_id not in html.split("<body", 1)[1][:2000]
