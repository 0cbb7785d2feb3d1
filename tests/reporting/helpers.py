"""Helpers of the report tests: a tiny project whose ids and levels are attacks, and an HTML check."""

from __future__ import annotations

import csv
import random
from html.parser import HTMLParser
from pathlib import Path


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
        # a small file on purpose (the gate on too few customers: tests/customers/)
        "[model]\nn_resamples = 5\nn_init = 10\ntsne_sample_size = 500\nmin_customers = 2\n\n"
        "[mlflow]\nenabled = false\n", encoding="utf-8")
    return config
