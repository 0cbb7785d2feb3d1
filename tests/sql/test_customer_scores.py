"""features.customer_scores on literal rows: quantile scores with ties, and the RFM group.

The model reads the render context's ``scores`` (segkit.scores.scores_context),
which the build sets only with transactions; these tests set it themselves.
"""

from __future__ import annotations

import shutil

import duckdb
import pytest

from segkit import project
from segkit.scores import group_of, scores_context

RFM_INPUT = "customer_id varchar, recency_days integer, frequency integer, monetary double"
# Ten customers: recency ties (20 three times, 5 twice), frequency mostly 1 (its low
# scores collapse), distinct monetary values.
ROWS = [
    ("c01", 60, 1, 10.0), ("c02", 50, 1, 20.0), ("c03", 40, 1, 30.0), ("c04", 30, 1, 40.0),
    ("c05", 20, 1, 50.0), ("c06", 20, 1, 60.0), ("c07", 20, 2, 70.0), ("c08", 10, 2, 80.0),
    ("c09", 5, 3, 90.0), ("c10", 5, 9, 100.0),
]


def _model():
    return next(m for m in project.load_models() if m.name == "features.customer_scores")


@pytest.fixture
def db(tmp_path):
    con = duckdb.connect(str(tmp_path / "unit.duckdb"))
    con.execute("create schema features")
    con.execute(f"create table features.customer_rfm ({RFM_INPUT})")
    con.executemany("insert into features.customer_rfm values (?, ?, ?, ?)", ROWS)
    yield con
    con.close()


def test_scores_follow_the_tie_rule_and_groups_the_vocabulary(db):
    sql = project.render(_model(), {"scores": scores_context("shopify")})
    got = db.execute(f"select * from ({sql}) order by customer_id").fetchall()
    # score = 1 + floor(5 x customers strictly worse / 10); recency: more days is worse
    assert [r[1:4] for r in got] == [
        (1, 1, 1), (1, 1, 1), (2, 1, 2), (2, 1, 2), (3, 1, 3),
        (3, 1, 3), (3, 4, 4), (4, 4, 4), (5, 5, 5), (5, 5, 5),
    ]
    # equal values, equal scores; the six customers with one purchase all score 1
    assert [r[4] for r in got] == [group_of(*r[1:4]) for r in got]
    assert got[9][4] == "Champions" and got[0][4] == "Dormant"
    assert db.execute(f"describe {sql}").fetchall()[1][1] == "INTEGER"


def test_klaviyo_levels_and_a_users_grid(db):
    sql = project.render(_model(), {"scores": scores_context("klaviyo")})
    got = db.execute(f"select customer_id, r_score, f_score, m_score, rfm_group "
                     f"from ({sql}) order by customer_id").fetchall()
    assert max(r[1] for r in got) == 3 and min(r[1] for r in got) == 1
    assert got[9][1:] == (3, 3, 3, "Champions")
    assert [r[4] for r in got] == [group_of(*r[1:4], groups="klaviyo") for r in got]
    grid = {"Can't lose": "r >= 3 and (f + m) / 2 >= 2.5", "Others": "r < 3 or (f + m) / 2 < 2.5"}
    sql = project.render(_model(), {"scores": scores_context(grid, levels=4)})
    groups = dict(db.execute(f"select customer_id, rfm_group from ({sql})").fetchall())
    assert groups["c10"] == "Can't lose" and groups["c01"] == "Others"


def test_the_header_and_when_the_model_exists():
    model = _model()
    assert (model.grain, model.requires, model.unique) == (
        "one row per customer", "scores", ("customer_id",))
    assert model.not_null == ("customer_id", "r_score", "f_score", "m_score", "rfm_group")
    # A context without scores (a customers-only build, or scores not wired): no model,
    # so nothing renders it without its key.
    assert not model.enabled({"transactions": {"x": 1}})
    assert model.enabled({"scores": scores_context()})
    assert project.dependencies(project.render(model, {"scores": scores_context()})) == {
        "features.customer_rfm"}


def test_the_same_file_renders_for_spark():
    context = {"scores": scores_context({"Can't lose": "r >= 3", "Others": "r < 3"}, levels=3)}
    sql = project.render(_model(), context, dialect="spark")
    assert "then 'Can\\'t lose'" in sql
    assert project.dependencies(sql, dialect="spark") == {"features.customer_rfm"}


@pytest.mark.slow
def test_spark_gives_duckdbs_scores(db, tmp_path):
    """The tie rule's window functions and casts give the same rows on Spark."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17")
    from segkit.config import EngineConfig
    from segkit.spark import session

    # tests/test_spark.py's settings: a worker that runs both shares one session.
    spark = session(EngineConfig(kind="spark", master="local[2]", conf=(
        ("spark.sql.warehouse.dir", str(tmp_path / "spark-warehouse")),
        ("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"))))
    context = {"scores": scores_context({"Can't lose": "r >= 3 and (f + m) / 2 >= 2.5",
                                         "Others": "r < 3 or (f + m) / 2 < 2.5"}, levels=4)}
    spark.createDataFrame(ROWS, "customer_id string, recency_days int, frequency int, "
                                "monetary double").createOrReplaceTempView("scores_customer_rfm")
    sql = project.render(_model(), context, dialect="spark").replace(
        "features.customer_rfm", "scores_customer_rfm")
    got = sorted(tuple(r) for r in spark.sql(sql).collect())
    want = db.execute(f"select * from ({project.render(_model(), context)}) "
                      "order by customer_id").fetchall()
    assert got == want
