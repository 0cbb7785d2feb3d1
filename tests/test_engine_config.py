"""The [engine] section, the --engine flag and the error without the spark extra."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from segkit.config import ConfigError, load_config, write_template
from tests.conftest import REPO, cdnow_config


def _config(tmp_path, engine: str):
    path = cdnow_config(tmp_path)
    path.write_text(path.read_text() + "\n[engine]\n" + engine + "\n")
    return path


def test_default_engine_is_duckdb(tmp_path):
    engine = load_config(cdnow_config(tmp_path)).engine
    assert (engine.kind, engine.master, engine.remote, engine.database) == (
        "duckdb", None, None, "segkit")


def test_spark_engine_reads_master_conf_and_output_path(tmp_path):
    cfg = load_config(_config(tmp_path, 'kind = "spark"\nmaster = "local[2]"\n'
                                        'conf = { "spark.executor.memory" = "4g", '
                                        '"spark.sql.adaptive.enabled" = true }\n'
                                        'output_path = "lake"'))
    assert cfg.engine.kind == "spark" and cfg.engine.master == "local[2]"
    assert cfg.engine.conf == (("spark.executor.memory", "4g"),
                               ("spark.sql.adaptive.enabled", "true"))
    assert cfg.engine.output_path == str(tmp_path / "lake")
    # the engine does not shape results: the same config hash as on DuckDB
    assert cfg.config_hash() == load_config(cdnow_config(tmp_path)).config_hash()


@pytest.mark.parametrize("engine, message", [
    ('kind = "flink"', "kind = 'flink' is not one of duckdb, spark"),
    ('kind = "spark"\nmaster = "local[2]"\nremote = "sc://h:15002"', "not both"),
    ('kind = "spark"\ndatabase = "my db"', "not a plain database name"),
    ('kind = "spark"\ndatabase = "a.b.c"', "catalog.database"),
    ('kind = "spark"\nconf = "x"', "a table of Spark settings"),
    ('kind = "spark"\nmaster_url = "x"', 'unknown key "master_url" (did you mean "master"?)'),
])
def test_bad_engine_section_names_key_and_fix(tmp_path, engine, message):
    with pytest.raises(ConfigError, match="engine") as info:
        load_config(_config(tmp_path, engine))
    assert message in str(info.value)


def test_init_template_has_the_engine_section_commented(tmp_path):
    path = write_template(tmp_path / "segkit.toml")
    text = path.read_text()
    assert '# [engine]' in text and '# kind = "duckdb"' in text and "# remote = " in text
    uncommented = "\n".join(line[2:] if line.startswith("# [engine]") or line.startswith(
        "# kind") else line for line in text.splitlines())
    assert "[engine]" in uncommented


def _cli_without_pyspark(*args: str) -> subprocess.CompletedProcess:
    # pyspark made unimportable, as on an install without the extra
    code = ("import sys; sys.modules['pyspark'] = None; from segkit.cli import main; "
            f"sys.exit(main({list(args)!r}))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)


def test_engine_spark_without_pyspark_names_the_extra(tmp_path):
    config = cdnow_config(tmp_path)
    done = _cli_without_pyspark("build", "--config", str(config), "--engine", "spark")
    assert done.returncode == 2, done.stderr
    assert "pip install 'segkit[spark]'" in done.stderr
    assert not (tmp_path / "warehouse").exists()  # no run was started


def test_engine_flag_rejects_unknown_engine(tmp_path):
    done = _cli_without_pyspark("build", "--config", str(cdnow_config(tmp_path)),
                                "--engine", "flink")
    assert done.returncode == 2 and "invalid choice: 'flink'" in done.stderr


# Every place the Spark path brings rows to the driver, each an aggregate or a
# one-row answer (reviewed; docs/SPARK.md lists them). A new collect() anywhere
# else fails here, so per-customer rows cannot slip onto the driver unreviewed.
DRIVER_READS = {
    ("sql.py", "execute"): "the categorical level counts (group by level)",
    ("quality.py", "_histograms"): "30 bin counts per feature",
    ("quality.py", "_min_max"): "one row of min/max",
    ("quality.py", "_small"): "accounting per reason, column quality, bounds, lost per reason",
    ("sql.py", "build_features"): "the as-of date, counts",
    ("quality.py", "_warnings"): "the hint and one sample line per reason, a count",
    ("model.py", "bin_edges"): "count/min/max and a few order statistics per feature",
    ("model.py", "distinct_vectors"): "the distinct binned vectors with counts",
    ("model.py", "map_sample"): "the map's sample: at most [model] tsne_sample_size rows",
    ("model.py", "example_rows"): "five feature rows, MLflow's input example (limit 5)",
    ("build.py", "_profile_rows"): "one row per segment",
    ("build.py", "_empty"): "no rows (limit 0): the columns",
    ("outputs.py", "swap"): "the catalog's table names",
    ("build.py", "segment_kpis"): "one row per segment",
    ("build.py", "first_purchase_day"): "one row: the first purchase day",
    ("outputs.py", "looking_back"): "one row: the previous build's run id",
    ("build.py", "backtest_outcomes"): "the backtest's per-customer outcomes (segment, bought "
                                        "again, spend, days): the bootstrap runs in Python on "
                                        "the same inputs on both engines",
}


def test_spark_path_reads_only_reviewed_small_results():
    import ast

    found = set()
    for path in sorted((REPO / "segkit" / "spark").glob("*.py")):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in ("collect", "toArrow", "toPandas", "take",
                                               "toLocalIterator", "tail", "first")):
                    assert node.func.attr != "toPandas", f"{path.name}: toPandas"
                    found.add((path.name, function.name))
    unreviewed = {f for f in found if f not in DRIVER_READS}
    assert not unreviewed, f"rows come to the driver in {sorted(unreviewed)}; review them"
