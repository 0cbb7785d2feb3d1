"""The CLI as users run it: real subprocesses, real files, exit codes and messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from segkit.cli import _parser
from tests.conftest import REPO, query, write_config

COMMANDS = ["build", "init", "generate", "runs", "score", "report", "restore", "sql", "export"]


def segkit(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segkit", *args], cwd=cwd, text=True,
                          capture_output=True, env={**os.environ, **(env or {})}, timeout=600)


def test_every_command_has_help_with_an_example_and_a_readme_entry():
    readme = (REPO / "README.md").read_text()
    subparsers = _parser()._subparsers._group_actions[0].choices
    assert sorted(subparsers) == sorted(COMMANDS)
    for name, parser in subparsers.items():
        assert parser.description, name
        assert "example" in (parser.epilog or ""), f"`segkit {name} --help` shows no example"
        assert f"segkit {name}" in readme, f"README does not document `segkit {name}`"


def test_build_the_demo_in_an_empty_folder(tmp_path):
    done = segkit("build", "--no-map", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": ""})
    assert done.returncode == 0, done.stderr
    warehouse = tmp_path / "warehouse" / "segkit.duckdb"
    run_id = done.stdout.strip()
    assert query(warehouse, "select status, rows_in, rows_used + rows_quarantined, customers "
                            "from meta.runs where run_id = ?", [run_id]) == [
        ("success", 69_659, 69_659, 23_502)]
    # MLflow lives beside the warehouse, never in the working directory.
    assert (tmp_path / "warehouse" / "mlflow.db").exists()
    assert not (tmp_path / "mlruns").exists()
    runs = segkit("runs", cwd=tmp_path)
    assert runs.returncode == 0 and run_id in runs.stdout


def test_init_writes_a_template_and_refuses_to_overwrite(tmp_path):
    assert segkit("init", cwd=tmp_path).returncode == 0
    assert "[transactions]" in (tmp_path / "segkit.toml").read_text()
    again = segkit("init", cwd=tmp_path)
    assert again.returncode != 0
    assert "already exists; pass --force" in again.stderr


def test_config_error_is_one_paragraph_without_traceback(tmp_path):
    write_config(tmp_path, """
        [transactions]
        path = "orders.csv"
        customer_id = "id"
        timestamp = "ts"
        amount = "amount"
    """)
    done = segkit("build", cwd=tmp_path)
    assert done.returncode == 2
    assert 'Error: segkit.toml [transactions]: path = "orders.csv" does not exist' in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_mapped_column_suggests_the_close_name(tmp_path):
    (tmp_path / "orders.csv").write_text("customer,InvoiceDate,Revenue\nA,2024-01-01,3\n")
    write_config(tmp_path, """
        [transactions]
        path = "orders.csv"
        customer_id = "customer"
        timestamp = "InvoiceDat"
        amount = "Revenue"
    """)
    done = segkit("build", cwd=tmp_path)
    assert done.returncode == 3
    assert '[transactions] timestamp: column "InvoiceDat" is not in' in done.stderr
    assert '(did you mean "InvoiceDate"?)' in done.stderr
    assert "Traceback" not in done.stderr


def test_generate_then_build_with_demographics(tmp_path):
    done = segkit("generate", "--transactions", "10000", "--out", "synth", "--format", "csv",
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    config = tmp_path / "synth" / "segkit.toml"
    text = config.read_text() + "\n[model]\nmap = false\n\n[mlflow]\nenabled = false\n"
    config.write_text(text)
    built = segkit("build", "--config", str(config), cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    warehouse = tmp_path / "synth" / "warehouse" / "segkit.duckdb"
    (rows_in, used, quarantined), = query(
        warehouse, "select rows_in, rows_used, rows_quarantined from meta.runs")
    assert rows_in == 10_000 and used + quarantined == rows_in and quarantined > 0
    columns = [r[0] for r in query(warehouse, "describe features.customer_features")]
    assert {"age", "income", "is_gender_unknown"} <= set(columns)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_exits_zero(command, tmp_path):
    done = segkit(command, "--help", cwd=tmp_path)
    assert done.returncode == 0 and "example" in done.stdout
