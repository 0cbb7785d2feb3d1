"""Tests for segkit/reporting/__init__.py: the entry point from the API and the CLI."""

from __future__ import annotations

import subprocess
import sys

import segkit


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
