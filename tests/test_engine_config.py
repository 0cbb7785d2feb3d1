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
