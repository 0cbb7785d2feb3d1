"""Data gates: too few customers stops the build (exit 3); short history warns."""

from __future__ import annotations

import subprocess
import sys

import pytest

from segkit.config import DEMO_DATA, load_config
from segkit.errors import InputError
from segkit.pipeline import build
from tests.conftest import REPO, cdnow_config, cdnow_sample, query


def _first_customers(folder, n: int):
    """The demo's lines of its first ``n`` customers (the file is ordered by customer)."""
    lines = DEMO_DATA.read_text(encoding="utf-8").splitlines(keepends=True)
    kept, seen = [lines[0]], set()
    for line in lines[1:]:
        customer = line.split(",", 1)[0]
        if customer not in seen and len(seen) == n:
            break
        seen.add(customer)
        kept.append(line)
    path = folder / "forty.csv"
    path.write_text("".join(kept), encoding="utf-8")
    return path


def test_forty_customers_exit_3_naming_the_count_and_the_setting(tmp_path):
    config = cdnow_config(tmp_path, path=_first_customers(tmp_path, 40))
    warehouse = tmp_path / "segkit.duckdb"
    with pytest.raises(InputError) as caught:
        build(load_config(config).replace(warehouse=warehouse))
    message = str(caught.value)
    assert "has 40 customers to segment" in message
    assert "[model] min_customers = 100" in message
    assert f"[model] min_customers in {config}" in message
    assert not warehouse.exists()  # nothing was published
    done = subprocess.run([sys.executable, "-m", "segkit", "build", "--config", str(config),
                           "--warehouse", str(warehouse)], capture_output=True, text=True,
                          cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin"})
    assert done.returncode == 3, done.stderr
    assert "has 40 customers to segment" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_a_lower_min_customers_segments_them(tmp_path):
    config = cdnow_config(tmp_path, path=_first_customers(tmp_path, 40),
                          model="map = false\nmin_customers = 20\nk_max = 3\n"
                                "baseline_resamples = 0")
    result = build(load_config(config).replace(warehouse=tmp_path / "segkit.duckdb"))
    assert result.customers == 40


def test_two_weeks_of_history_warn_in_the_summary_runs_and_report(tmp_path):
    config = cdnow_config(tmp_path, path=cdnow_sample(tmp_path),
                          model="map = false\nbaseline_resamples = 0")
    warehouse = tmp_path / "segkit.duckdb"
    result = build(load_config(config).replace(warehouse=warehouse, as_of="1997-01-14",
                                               reports_dir=tmp_path / "reports"))
    said = [w for w in result.warnings if "days of history" in w]
    assert said and "less than [model] min_history_days = 90" in said[0]
    assert "only 13 days of history" in said[0]
    stored = query(warehouse, "select warnings from meta.runs where run_id = ?",
                   [result.run_id])[0][0]
    assert said[0] in stored
    assert "days of history" in result.report_path.read_text(encoding="utf-8")


def test_a_long_history_does_not_warn(tmp_path):
    config = cdnow_config(tmp_path, path=cdnow_sample(tmp_path),
                          model="map = false\nbaseline_resamples = 0")
    result = build(load_config(config).replace(warehouse=tmp_path / "segkit.duckdb"))
    assert not [w for w in result.warnings if "days of history" in w]
