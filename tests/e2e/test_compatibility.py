"""A built warehouse opens in the DuckDB 1.5 CLI that data engineers already have."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _duckdb_15() -> str | None:
    # The duckdb-cli package (a test dependency) puts the CLI beside the interpreter.
    for candidate in (Path(sys.executable).parent / "duckdb", shutil.which("duckdb")):
        if candidate and Path(candidate).exists():
            version = subprocess.run([str(candidate), "--version"], capture_output=True,
                                     text=True).stdout
            if version.startswith("v1.5"):
                return str(candidate)
    return None


def test_warehouse_opens_in_duckdb_cli_1_5_and_views_answer(cdnow_build):
    cli = _duckdb_15()
    if cli is None:
        pytest.fail("duckdb-cli 1.5.x is not installed; `pip install -e '.[test]'` installs it")
    sql = """
        select count(*) from segments.customer_segments;
        select count(distinct segment_name) from segments.segment_profiles;
        select count(*) from segments.live_segments;
        select rows_in from meta.runs where status = 'success' limit 1;
        select count(*) from features.customer_features;
    """
    done = subprocess.run([cli, "-readonly", "-csv", "-noheader", str(cdnow_build["warehouse"]),
                           "-c", sql], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = cdnow_build["result"]
    assert done.stdout.split() == [str(result.customers), str(result.k), str(result.customers),
                                   "69659", str(result.customers)]
