"""`segkit sql list` and `segkit sql render` on the demo, and every model run on its own."""

from __future__ import annotations

import duckdb

import segkit as segkit_api
from segkit.api import _compiled

from tests.conftest import query
from tests.e2e.test_cli import segkit


def test_sql_list_shows_the_dag_with_materialization_and_version(cdnow_build):
    done = segkit("sql", "list", "--config", str(cdnow_build["config"]),
                  cwd=cdnow_build["folder"])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split("\t") == ["model", "materialized", "published", "grain",
                                    "depends_on", "fingerprint", "version"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    names = list(rows)
    assert names.index("staging.transactions") < names.index("cleaning.as_of") \
        < names.index("features.customer_rfm") < names.index("segments.live_segments")
    assert rows["cleaning.line_groups"][1] == "table"
    assert rows["features.customer_features"][2] == "run_table"
    # the build ran exactly this SQL: the warehouse knows its version
    assert all(row[6] for row in rows.values()), "a model's rendered SQL has no version"
    assert "staging.customers" not in rows  # the demo has no customers table


def test_every_rendered_model_runs_alone_in_a_plain_duckdb_session(cdnow_build):
    folder, config = cdnow_build["folder"], str(cdnow_build["config"])
    names = [line.split("\t")[0] for line in segkit(
        "sql", "list", "--config", config, cwd=folder).stdout.splitlines()[1:]]
    # `segkit sql render` prints segkit.sql_render's string as it is: checked through the
    # CLI for one model. The rest are the same strings, the project rendered once in
    # this process (sql_render renders the whole project for each model it is asked).
    done = segkit("sql", "render", names[-1], "--config", config, cwd=folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout == segkit_api.sql_render(names[-1], config=config)
    _, rendered = _compiled(cdnow_build["cfg"], "duckdb")
    assert rendered[names[-1]] == done.stdout
    con = duckdb.connect(str(cdnow_build["warehouse"]), read_only=True)
    try:
        for name in names:
            con.execute(rendered[name]).fetchall()
    finally:
        con.close()


def test_meta_run_views_keeps_the_sql_each_build_ran(cdnow_build):
    wh, run_id = cdnow_build["warehouse"], cdnow_build["result"].run_id
    rows = query(wh, "select view_name, sql from meta.run_views where run_id = ?", [run_id])
    assert len(rows) >= 20
    con = duckdb.connect(str(wh), read_only=True)
    try:
        for name, sql in rows:
            assert "{{" not in sql and "{%" not in sql, name
            con.execute(sql).fetchall()  # still runs, as it is
    finally:
        con.close()


def test_sql_render_of_an_unknown_model_suggests_the_name(cdnow_build):
    done = segkit("sql", "render", "features.customer_rfn", "--config",
                  str(cdnow_build["config"]), cwd=cdnow_build["folder"])
    assert done.returncode == 3
    assert "no model 'features.customer_rfn' for this config (did you mean " \
           "\"features.customer_rfm\"?)" in done.stderr


def test_the_data_tests_in_every_header_hold_on_the_demo_build(cdnow_build):
    from segkit import project

    con = duckdb.connect(str(cdnow_build["warehouse"]), read_only=True)
    present = {r[0] for r in con.execute(
        "select schema_name || '.' || view_name from duckdb_views() where not internal").fetchall()}
    try:
        checked = 0
        for model in project.load_models():
            if model.name not in present:
                continue  # a model of a source the demo does not have
            for description, sql in project.audits(model):
                assert con.execute(sql).fetchall() == [], description
                checked += 1
        assert checked >= 30
    finally:
        con.close()
