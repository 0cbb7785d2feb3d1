"""Tests for segkit/reporting/sections.py: the report's sections and segment cards."""

from __future__ import annotations

import json
import re

from tests.reporting.helpers import _assert_no_injection, _parse


def test_sections_of_second_build(project):
    html = project["second"].report_path.read_text(encoding="utf-8")
    page = _assert_no_injection(html)
    text = " ".join(" ".join(page.text).split())
    for heading in ("1. Summary", "2. Data quality", "3. Features", "4. Choosing k",
                    "5. The map", "6. Segments", "7. Do the segments predict?", "8. Movement",
                    "9. Use it in SQL"):
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
