"""Two tiny builds (60-odd customers, MLflow off) shared by the report tests: the
first with the t-SNE map, the second without it, so the second report has a
movement section and the "no map" sentence.
"""

from __future__ import annotations

import pytest
import segkit

from segkit.config import load_config

from tests.reporting.helpers import _write_project


@pytest.fixture(scope="package")
def project(tmp_path_factory):
    """Two builds of a tiny project whose customer ids and levels are attacks."""
    folder = tmp_path_factory.mktemp("report")
    config = _write_project(folder, evil=True)
    first = segkit.build(config=config)
    second = segkit.build(config=config, no_map=True)
    return {"folder": folder, "config": config, "first": first, "second": second,
            "cfg": load_config(config)}
