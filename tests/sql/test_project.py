"""The SQL project: headers, dependencies from parsed SQL, fingerprints, both dialects."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot

from segkit import features, project, warehouse
from segkit.config import load_config
from tests.conftest import cdnow_config, write_config


def _compile(cfg, tmp_path, dialect="duckdb"):
    con = warehouse.connect_work(cfg.duckdb, tmp_path / "tmp")
    try:
        return features.compile_project(con, cfg, dialect=dialect)
    finally:
        con.close()


@pytest.fixture(scope="module")
def generated_cfg(tmp_path_factory):
    """Transactions with a categorical, and customers with ages and attributes."""
    from segkit import synthetic

    folder = tmp_path_factory.mktemp("generated")
    synthetic.generate(folder, transactions=3_000, seed=1, format="csv")
    return load_config(folder / "segkit.toml")


def test_every_model_has_a_header_with_a_materialization_and_a_grain():
    models = project.load_models()
    assert len(models) >= 20
    for model in models:
        assert model.materialized in project.MATERIALIZATIONS, model.name
        assert model.published in project.PUBLISHED, model.name
        assert model.grain, f"{model.path} states no grain"
    by_name = {m.name: m for m in models}
    assert by_name["cleaning.line_groups"].materialized == "table"
    assert by_name["features.customer_features"].published == "run_table"
    assert by_name["cleaning.quarantine"].history_table == "meta.quarantine_history"
    assert by_name["features.customer_features"].history_table == \
        "features.customer_features_history"
    assert by_name["features.customer_features"].unique == ("customer_id",)
    assert by_name["cleaning.quarantine"].accepted_values == {
        "source": ("transactions", "customers")}


def test_a_malformed_header_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "x.sql"
    with pytest.raises(project.ProjectError, match=r"x.sql: unknown header key 'materialised'"):
        project.parse_header("-- model:\n--   materialised: table\nselect 1\n", path)
    with pytest.raises(project.ProjectError, match=r"materialized: 'tabel'; use one of"):
        project.parse_header("-- model:\n--   materialized: tabel\nselect 1\n", path)
    with pytest.raises(project.ProjectError, match="starts with a '-- model:' header"):
        project.parse_header("select 1\n", path)


def test_dependencies_come_from_the_parsed_sql_not_a_regex():
    sql = """
        with a2 as (select * from features.rfm_2024),
        b as (select * from a2 join segments.centroids c on true)
        select * from b where exists (select 1 from meta.runs)
    """
    # a digit in a name keeps its edge; CTE names are not tables
    assert project.dependencies(sql) == {"features.rfm_2024", "segments.centroids", "meta.runs"}


def test_a_fingerprint_ignores_comments_and_layout_but_not_logic():
    base = project.fingerprint("select a, b from t where a > 1")
    assert project.fingerprint("-- why\nSELECT a,\n       b\nFROM t  /* note */ WHERE a > 1") \
        == base
    assert project.fingerprint("select a, b from t where a > 2") != base


def test_models_come_in_dependency_order(tmp_path):
    cfg = load_config(cdnow_config(tmp_path))
    models, rendered = _compile(cfg, tmp_path)
    names = [m.name for m in models]
    for model in models:
        for dep in project.dependencies(rendered[model.name]):
            dep = project.base_name(dep)
            if dep in names:
                assert names.index(dep) < names.index(model.name), (dep, model.name)
    assert names.index("cleaning.as_of") < names.index("cleaning.transactions_checked")
    assert names.index("cleaning.as_of") < names.index("features.customer_rfm")


def test_a_config_change_that_changes_the_sql_changes_the_fingerprint(tmp_path):
    days = load_config(cdnow_config(tmp_path))
    (tmp_path / "b").mkdir()
    total = load_config(write_config(tmp_path / "b", f"""
        [transactions]
        path = "{days.transactions.path}"
        customer_id = "customer_id"
        timestamp = "purchase_date"
        amount = "dollar_value"
        [features]
        monetary = "total"
    """))
    _, a = _compile(days, tmp_path)
    _, b = _compile(total, tmp_path)
    assert project.fingerprint(a["features.customer_rfm"]) != \
        project.fingerprint(b["features.customer_rfm"])
    assert project.fingerprint(a["cleaning.transactions"]) == \
        project.fingerprint(b["cleaning.transactions"])


def test_the_as_of_date_is_a_one_row_model_not_a_pasted_literal(tmp_path):
    cfg = load_config(cdnow_config(tmp_path))
    _, rendered = _compile(cfg, tmp_path)
    for name in ("cleaning.transactions_checked", "features.customer_rfm"):
        assert "cleaning.as_of" in project.dependencies(rendered[name])
        assert "date '" not in rendered[name]
    fixed = cfg.replace(as_of="1998-01-01")
    _, rendered = _compile(fixed, tmp_path)
    assert "date '1998-01-01'" in rendered["cleaning.as_of"]
    assert "date '" not in rendered["features.customer_rfm"]


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_every_rendered_model_parses_in_both_dialects(tmp_path, generated_cfg, dialect):
    cdnow = load_config(cdnow_config(tmp_path))
    for cfg in (cdnow, generated_cfg):
        models, rendered = _compile(cfg, tmp_path, dialect)
        assert {m.name for m in models} >= {"features.customer_features",
                                            "segments.live_segments"}
        for model in models:
            tree = sqlglot.parse_one(rendered[model.name], read=dialect)
            assert isinstance(tree, sqlglot.exp.Query), model.name


def test_spark_renders_use_the_spark_macros_and_quoting(tmp_path, generated_cfg):
    _, spark = _compile(generated_cfg, tmp_path, "spark")
    _, duck = _compile(generated_cfg, tmp_path, "duckdb")
    assert "date_diff('day'" in duck["features.customer_rfm"]
    assert "datediff(" in spark["features.customer_rfm"]
    assert "percentile_disc(" in spark["features.numeric_bounds"]
    assert "quantile_disc(" in duck["features.numeric_bounds"]
    assert "try_to_timestamp(" in spark["staging.transactions"] or \
        "try_cast(" in spark["staging.transactions"]
    assert "rlike" in spark["staging.transactions"]
    assert "regexp_full_match" in duck["staging.customers"]
    assert "csv.`" in spark["staging.transactions"]
    assert '"' not in sqlglot.parse_one(spark["features.customer_features"], read="spark").sql(
        dialect="spark", comments=False)


def test_the_categorical_levels_reach_the_rendered_sql(tmp_path, generated_cfg):
    _, rendered = _compile(generated_cfg, tmp_path)
    sql = rendered["features.customer_features"]
    assert "is_" in sql and "_other" in sql
    con = duckdb.connect()
    assert con.execute("select 1").fetchall() == [(1,)]  # sanity: a plain session


def test_every_reason_a_check_gives_is_in_the_one_list_of_reasons(tmp_path, generated_cfg):
    models, rendered = _compile(generated_cfg, tmp_path)
    con = duckdb.connect()
    listed = set(con.execute(rendered["cleaning.quarantine_reasons"]).fetchall())
    reasons = {(s, r) for s, _, r, _ in listed}
    given = set()
    for name, source in (("cleaning.transactions_screened", "transactions"),
                         ("cleaning.transactions_set_aside", "transactions"),
                         ("cleaning.customers_checked", "customers")):
        tree = sqlglot.parse_one(rendered[name], read="duckdb")
        # every text a column named quarantine_reason can take (CASE branches,
        # COALESCE fallbacks, constants)
        for alias in tree.find_all(sqlglot.exp.Alias):
            if alias.alias == "quarantine_reason":
                given |= {(source, literal.this) for literal in alias.this.find_all(
                    sqlglot.exp.Literal) if literal.is_string}
    assert len(given) == 10
    assert given == reasons
    # the order of the checks is the order of the list
    screened = [r for s, o, r, _ in sorted(listed) if s == "transactions"]
    assert screened[0] == "missing customer id" and screened[-1] == "timestamp after the as-of date"


def test_every_model_reference_reaches_its_spark_view(tmp_path, generated_cfg):
    """The Spark engine swaps `layer.model` for its temporary view outside string
    literals; an apostrophe in a comment would open a literal and hide the
    references after it."""
    import re

    from segkit.spark.sql import localize

    models, rendered = _compile(generated_cfg, tmp_path, dialect="spark")
    names = {m.name for m in models}
    for model in models:
        body = re.sub(r"--[^\n]*", "", localize(rendered[model.name], names))
        left = [n for n in names if re.search(r"(?<![\w.])" + re.escape(n) + r"\b", body)]
        assert not left, f"{model.name} still names {left} for Spark"
