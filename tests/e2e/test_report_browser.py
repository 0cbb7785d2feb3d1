"""The report in a real browser: headless Chromium via Playwright, offline.

Builds a sample of the bundled CDNOW demo into tmp_path, opens the report by file://, and
asserts that it makes no network request, logs no console error, and that
every chart container holds a rendered SVG or canvas. A full-page screenshot
lands in tmp_path (and where SEGKIT_SCREENSHOT says) for a human to look at.

Needs Debian's ``chromium`` (CI installs it); the test is skipped without it.
Never ``playwright install``: browser downloads are not available.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import segkit
from tests.conftest import cdnow_config, cdnow_sample

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium"
                                        if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install -y chromium); the report browser "
           "test needs a real browser and never downloads one")

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
# Set SEGKIT_SCREENSHOT=path/to/file.png to keep a copy of the screenshot to look at.
SCREENSHOT_COPY = os.environ.get("SEGKIT_SCREENSHOT")


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    # A tenth of the demo's customers (every chart, the map included, has the same
    # parts), built in this process: the browser is what this test is about.
    config = cdnow_config(folder, path=cdnow_sample(folder), model="map = true")
    segkit.build(config)
    report = folder / "reports" / "latest.html"
    assert report.is_file(), list((folder / "reports").iterdir())
    return report


def test_report_renders_offline_without_errors(demo_report, tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})

            def route(r):
                if r.request.url.startswith("file:"):
                    r.continue_()
                else:
                    requests.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:"))
                    else requests.append(r.url))
            page.goto(demo_report.as_uri(), wait_until="load")
            # Each container gets data-rendered once vega-embed has finished.
            page.wait_for_function(
                "() => Array.from(document.querySelectorAll('.chart'))"
                ".every(e => e.dataset.rendered)", timeout=60_000)
            charts = page.eval_on_selector_all(
                ".chart", "els => els.map(e => ({id: e.id, state: e.dataset.rendered, "
                "drawn: !!e.querySelector('svg, canvas')}))")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            if SCREENSHOT_COPY:
                shutil.copy(shot, SCREENSHOT_COPY)
            title = page.title()
            tooltips_ok = page.evaluate("() => typeof window.vegaEmbed === 'function'")
        finally:
            browser.close()
    assert requests == [], f"the report made network requests: {requests}"
    assert errors == [], f"console errors: {errors}"
    assert len(charts) >= 10, charts
    assert all(c["state"] == "true" and c["drawn"] for c in charts), charts
    assert {"chart-map", "chart-sizes", "chart-centroids", "chart-k-inertia"} <= {
        c["id"] for c in charts}
    assert title.startswith("Customer segments")
    assert tooltips_ok
    assert demo_report.stat().st_size < 5 * 1024 * 1024
