"""Tests for segkit/reporting/customers.py: the segments' stability against the
random baseline, and since when customers have had their segment, on the pages
of the two tiny builds (tests/reporting/conftest.py)."""

from __future__ import annotations

import dataclasses
import re

import polars as pl
import pytest

from segkit.reporting import load_report_data, render_html
from segkit.reporting.customers import baseline_section
from tests.reporting.helpers import _parse


def _text(html: str, pattern: str) -> str:
    part = re.search(pattern, html, re.S).group(0)
    return " ".join("".join(_parse(part).text).split())


def _stayed_cells(html: str) -> list[str]:
    """The "Same as last build" column of the segment_since table."""
    table = re.search(r'<h3 id="segment-since">.*?</table>', html, re.S).group(0)
    return [re.sub(r"<[^>]+>", "", row[2]).strip() for row in
            (re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr) for tr in
             re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S))]


def test_a_first_build_has_no_share_that_stayed(project):
    data = load_report_data(project["cfg"], project["first"].run_id)
    assert data.previous_run_id is None and data.segment_since.height > 0
    html = render_html(data)
    cells = _stayed_cells(html)
    assert cells and set(cells) == {"–"}  # not 0.0%: no build to stay from
    note = _text(html, r'<h3 id="segment-since">.*?</section>')
    assert "This is the first build" in note


def test_a_later_build_shows_the_share_that_stayed(project):
    data = load_report_data(project["cfg"], project["second"].run_id)
    assert data.previous_run_id == project["first"].run_id
    html = render_html(data)
    cells = _stayed_cells(html)
    assert cells and all(re.fullmatch(r"\d+(\.\d)?%", c) for c in cells), cells
    assert "This is the first build" not in _text(html, r'<section id="movement">.*?</section>')


def _with_stability(data, stability: float, baseline: float):
    """``data`` with the chosen k's stability and baseline set to these values."""
    selection = data.selection.with_columns(
        stability_ari_mean=pl.when(pl.col("is_chosen")).then(stability)
        .otherwise(pl.col("stability_ari_mean")),
        stability_baseline=pl.when(pl.col("is_chosen")).then(baseline)
        .otherwise(pl.col("stability_baseline")))
    return dataclasses.replace(data, selection=selection,
                               run={**data.run, "stability_ari_mean": stability,
                                    "distinct_vectors": 32})


@pytest.mark.parametrize(("stability", "baseline", "verdict"), [
    (1.0, 1.0, "none"), (1.0, 0.95, "none"), (0.97, 0.999, "none"),
    (1.0, 0.94, "some"), (0.9, 0.75, "some"), (0.99, 0.41, "clear"), (0.9, 0.7, "clear")])
def test_the_gap_to_the_baseline_decides_what_the_report_says(project, stability, baseline,
                                                              verdict):
    data = _with_stability(load_report_data(project["cfg"], project["second"].run_id),
                           stability, baseline)
    assert baseline_section(data)["baseline"]["verdict"] == verdict


def test_a_baseline_as_stable_as_the_segments_is_said_plainly(project):
    data = load_report_data(project["cfg"], project["second"].run_id)
    html = render_html(_with_stability(data, 1.0, 1.0))
    text = _text(html, r'<section id="choosing-k">.*?</section>')
    assert "Stability cannot tell structure from noise on this data" in text
    assert "only 32 distinct feature vectors" in text
    assert "describe real patterns" not in text and "steadier than chance" not in text
    assert 'class="callout warn" id="stability-baseline"' in html


def test_a_clearly_lower_baseline_keeps_the_comparison(project):
    data = load_report_data(project["cfg"], project["second"].run_id)
    html = render_html(_with_stability(data, 0.99, 0.41))
    text = _text(html, r'<section id="choosing-k">.*?</section>')
    assert "0.99 against 0.41 for data with no structure" in text
    assert "far steadier than chance" in text and "describe real patterns" in text
    assert "cannot tell structure from noise" not in text
