"""Shared fixtures: real DuckDB files in tmp folders, real builds of real data."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import duckdb
import pytest

import segkit
from segkit.config import DEMO_DATA, load_config

REPO = Path(__file__).resolve().parent.parent
# Real datasets for tests: the bundled CDNOW copy, and small real files in
# tests/data (tests/data/README.md says where each comes from).
TEST_DATA = REPO / "tests" / "data"


def write_config(folder: Path, text: str) -> Path:
    """Write a segkit.toml into ``folder`` and return its path."""
    path = folder / "segkit.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def cdnow_config(folder: Path, *, path: str | Path = DEMO_DATA, model: str = "map = false",
                 mlflow: str = "enabled = false") -> Path:
    """A segkit.toml for the CDNOW demo in ``folder``; fast by default (no map, no MLflow)."""
    return write_config(folder, f"""
        [transactions]
        path = "{path}"
        customer_id = "customer_id"
        timestamp = "purchase_date"
        amount = "dollar_value"
        [model]
        {model}
        [mlflow]
        {mlflow}
    """)


SAMPLE_CUSTOMERS = 2_486  # in cdnow_sample's default 8,000 lines


def cdnow_sample(folder: Path, lines: int = 8000) -> Path:
    """The first ``lines`` transactions of the bundled CDNOW copy (about a tenth of its
    customers): for tests that need several whole builds but not the whole demo."""
    path = folder / "cdnow_sample.csv"
    with open(DEMO_DATA, encoding="utf-8") as source:
        path.write_text("".join(line for _, line in zip(range(lines + 1), source)),
                        encoding="utf-8")
    return path


def copy_build(build: dict, folder: Path) -> Path:
    """A copy of a shared build's warehouse file at ``folder/warehouse/segkit.duckdb``.

    For tests that need a built warehouse to build on again or to change: copying
    the file costs a fraction of a second, a build of the demo several seconds.
    """
    target = folder / "warehouse" / "segkit.duckdb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(build["warehouse"], target)
    return target


def query(warehouse: Path, sql: str, params=None) -> list[tuple]:
    """Run one read-only query against a warehouse file, as a user's client would."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="session")
def cdnow_build(tmp_path_factory):
    """One full build of the bundled CDNOW demo (MLflow on, map off), shared by tests."""
    folder = tmp_path_factory.mktemp("cdnow")
    config = write_config(folder, f"""
        warehouse = "warehouse/segkit.duckdb"
        reports_dir = "reports"

        [transactions]
        path = "{DEMO_DATA}"
        customer_id = "customer_id"
        timestamp = "purchase_date"
        amount = "dollar_value"

        [model]
        map = false
    """)
    result = segkit.build(config)
    return {"folder": folder, "config": config, "result": result,
            "warehouse": folder / "warehouse" / "segkit.duckdb", "cfg": load_config(config)}


@pytest.fixture(autouse=True)
def _no_user_mlflow_uri(monkeypatch):
    # A developer's MLFLOW_TRACKING_URI must not send test runs to their server.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield


def pytest_configure(config):
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


# Modules that run longest, started first. Each module runs on one xdist worker
# (--dist loadscope); the Spark module is one scope of about two minutes, and
# xdist's default order (most tests first) started it last, to run alone at the
# end (the suite: 4m04 in that order, 4m01 in this one, before its JVM flags).
LONGEST_FIRST = ("test_spark.py",)


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.path.name not in LONGEST_FIRST)  # stable: order kept
