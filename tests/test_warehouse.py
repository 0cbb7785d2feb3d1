"""Tests for segkit/warehouse: quoting, run-keyed tables, the named queries, versioned
views (changing a view's SQL records a new version; old runs keep theirs), and damaged
files and full disks said clearly."""

from __future__ import annotations

import shutil
import subprocess
import sys

import duckdb
import polars as pl
import pytest
import sqlglot

import segkit
from segkit import project, warehouse
from segkit.config import load_config
from segkit.errors import ProjectError, WarehouseError
from segkit.warehouse import queries
from tests.conftest import cdnow_config, cdnow_sample, query


def test_quote_ident_and_literal_neutralise_injection():
    assert warehouse.quote_ident('x"; drop table meta.runs; --') == '"x""; drop table meta.runs; --"'
    assert warehouse.quote_literal("it's") == "'it''s'"
    with pytest.raises(ValueError):
        warehouse.quote_literal(float("nan"))


def test_a_run_table_keeps_every_build_and_gains_new_columns(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    for schema in ("features", "segments"):
        con.execute(f"create schema {schema}")
    con.execute("create table segments.latest_run (run_id varchar)")
    con.execute("insert into segments.latest_run values ('r1')")
    history, view = "features.customer_features_history", "features.customer_features"

    def store(run_id, rows):
        warehouse.append_run_rows(con, run_id, rows, history=history)
        warehouse.point_run_view(con, rows, history=history, view=view)

    store("r1", pl.DataFrame({"customer_id": ["a"], "monetary": [1.0]}))
    assert con.execute("select * from features.customer_features").fetchall() == [("a", 1.0)]
    # the next build has a feature more; the current view shows that build's columns
    con.execute("update segments.latest_run set run_id = 'r2'")
    store("r2", pl.DataFrame({"customer_id": ["a", "b"], "monetary": [2.0, 3.0],
                              "age": [30, 40]}))
    assert con.execute("select * from features.customer_features order by 1").fetchall() == [
        ("a", 2.0, 30), ("b", 3.0, 40)]
    assert con.execute("select run_id, customer_id, monetary, age from "
                       "features.customer_features_history order by 1, 2").fetchall() == [
        ("r1", "a", 1.0, None), ("r2", "a", 2.0, 30), ("r2", "b", 3.0, 40)]
    con.close()


def test_replacing_the_schemas_drops_their_views_and_keeps_tables_and_other_schemas():
    con = duckdb.connect()
    con.execute("create schema staging")
    con.execute("create table staging.kept as select 1 as x")
    con.execute("create view staging.stale as select * from staging.kept")
    con.execute("create view main.mine as select 2 as y")  # a user's own view
    warehouse.replace_schemas(con, ("staging", "segments"))
    views = con.execute("select schema_name, view_name from duckdb_views() "
                        "where not internal order by 1").fetchall()
    assert views == [("main", "mine")]
    assert con.execute("select x from staging.kept").fetchall() == [(1,)]
    assert con.execute("select count(*) from duckdb_schemas() "
                       "where schema_name = 'segments'").fetchall() == [(1,)]


def test_insert_row_binds_values_and_quotes_columns():
    con = duckdb.connect()
    con.execute('create table t (run_id varchar, "odd name" varchar)')
    warehouse.insert_row(con, "t", {"run_id": "r1", "odd name": "it's'; drop table t; --"})
    assert con.execute("select * from t").fetchall() == [("r1", "it's'; drop table t; --")]


def test_every_named_query_parses_and_an_unknown_one_names_its_file():
    topics = sorted((warehouse.sql_dir() / "queries").glob("*.sql"))
    assert {p.stem for p in topics} >= {"report", "runs", "score"}
    for path in topics:
        for name, text in queries._topic(path).items():
            sql = text if "{{" not in text else project.render_string(
                text, {"segment_features": [{"name": '"r"', "label": "'r'",
                                             "bin_column": '"r_bin"', "position": 1}]})
            assert sqlglot.parse_one(sql, dialect="duckdb"), f"{path.stem}.{name}"
    assert queries.sql("report.stages").startswith("select stage, seconds")
    with pytest.raises(ProjectError, match=r"no query 'nope' in .*report\.sql"):
        queries.sql("report.nope")


def test_changing_a_view_records_a_new_version(tmp_path, monkeypatch):
    sql = tmp_path / "sql"
    shutil.copytree(warehouse.sql_dir(), sql)
    monkeypatch.setattr(project, "sql_dir", lambda: sql)
    # Four whole builds: a sample of CDNOW keeps each about a second.
    config = cdnow_config(tmp_path, path=cdnow_sample(tmp_path), model="""map = false
        k = 4
        k_max = 4
        n_init = 5
        n_resamples = 5""")
    first = segkit.build(config)
    second = segkit.build(config)  # unchanged SQL: no new version
    rfm = sql / "features" / "customer_rfm.sql"
    changed = rfm.read_text().replace("revenue as total_spend",
                                      "revenue + 0 as total_spend")
    assert changed != rfm.read_text()  # the edit below must change the logic
    rfm.write_text(changed)
    third = segkit.build(config)
    wh = tmp_path / "warehouse" / "segkit.duckdb"
    versions = query(wh, "select version from meta.view_versions where view_name = "
                         "'features.customer_rfm' order by version")
    assert versions == [(1,), (2,)]
    used = dict(query(wh, "select run_id, version from meta.run_views where view_name = "
                          "'features.customer_rfm'"))
    assert used == {first.run_id: 1, second.run_id: 1, third.run_id: 2}
    # Whitespace and comments are not logic: reformatting keeps the version.
    rfm.write_text(rfm.read_text().replace("\n\n", "\n\n\n").replace(
        "with\n", "-- a note that changes nothing\nWITH\n", 1))
    fourth = segkit.build(config)
    assert query(wh, "select version from meta.run_views where run_id = ? and view_name = "
                     "'features.customer_rfm'", [fourth.run_id]) == [(2,)]
    # Each run keeps the exact SQL it ran.
    (sql_ran,), = query(wh, "select sql from meta.run_views where run_id = ? and view_name = "
                            "'features.customer_rfm'", [third.run_id])
    assert "revenue + 0 as total_spend" in sql_ran and "{{" not in sql_ran


def _table_file(path, rows: int = 3_000_000) -> None:
    """A real DuckDB file with one table over several blocks, checkpointed and closed."""
    con = duckdb.connect(str(path))
    con.execute(f"create table main.big as select range as i, hash(range) as h "
                f"from range({rows})")
    con.execute("checkpoint")
    con.close()


def test_a_block_damaged_inside_the_file_is_said_clearly(tmp_path):
    path = tmp_path / "segkit.duckdb"
    _table_file(path)
    con = duckdb.connect(str(path), read_only=True)
    (block,), = con.execute("select max(block_id) from pragma_storage_info('main.big')").fetchall()
    con.close()
    with open(path, "r+b") as handle:  # same length, garbage inside a block of the table
        handle.seek(3 * 4096 + block * 262144 + 100)
        handle.write(b"\xff" * 4096)
    # It opens (the length is right): the query that reads the block finds the damage.
    con = warehouse.connect(path, segkit.config.load_config().duckdb, read_only=True)
    try:
        with pytest.raises(WarehouseError) as info, warehouse.said_clearly(path):
            con.execute("select sum(h) from main.big").fetchall()
    finally:
        con.close()
    message = str(info.value)
    assert message.startswith(f"the warehouse {path} is damaged and cannot be read whole (")
    assert "No previous generation is kept beside it (segkit.duckdb.previous" in message


def test_a_file_cut_short_is_refused_when_opened(tmp_path):
    path = tmp_path / "segkit.duckdb"
    # A table dropped early leaves free blocks at the start, where the last checkpoint
    # puts the metadata; the table kept is stored at the end, as in a warehouse.
    con = duckdb.connect(str(path))
    for sql in ("create table main.early as select range as i from range(1000000)",
                "create table main.kept as select range as i, hash(range) as h "
                "from range(1000000)",
                "drop table main.early"):
        con.execute(sql)
        con.execute("checkpoint")
    con.close()
    previous = tmp_path / "segkit.duckdb.previous"
    shutil.copy(path, previous)
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size - 262_144)
    duckdb.connect(str(path), read_only=True).close()  # DuckDB itself opens it
    with pytest.raises(WarehouseError) as info:
        warehouse.connect(path, segkit.config.load_config().duckdb, read_only=True)
    message = str(info.value)
    assert f"the warehouse {path} is damaged and cannot be read whole (the file is " in message
    # The previous generation has no build: the way out says so.
    assert (f"Put back the previous generation, kept beside it as {previous} (no successful "
            "build), with `python -m segkit restore`") in message


def test_a_message_about_a_source_file_is_not_a_damaged_warehouse(tmp_path):
    path = tmp_path / "segkit.duckdb"
    source = duckdb.IOException('IO Error: Could not read enough bytes from file '
                                '"/data/orders.parquet": attempted to read 4 bytes')
    assert warehouse.translated(source, path) is None
    own = duckdb.IOException(f'IO Error: Could not read enough bytes from file "{path}.next"')
    assert "is damaged" in str(warehouse.translated(own, path))
    full = duckdb.FatalException(f'FATAL Error: Could not write file "{path}.next": No space '
                                 "left on device")
    assert str(warehouse.translated(full, path)).startswith(
        f"the disk holding the warehouse folder {tmp_path} is full (Could not write file ")


def test_the_room_a_build_needs_is_the_next_file_and_its_log(tmp_path):
    path = tmp_path / "segkit.duckdb"
    con = duckdb.connect(str(path))  # a warehouse keeping three builds' per-customer rows
    con.execute("create schema segments")
    con.execute("create table segments.segment_history as select 'run' || (range % 3) "
                "as run_id, range as customer_id from range(300000)")
    con.close()
    live = path.stat().st_size
    (tmp_path / "segkit.duckdb.previous").write_bytes(b"\0" * (live - 100_000))
    # The next file: the live one plus what the last build added (live less previous);
    # its write-ahead log: one build's rows, a third of the live file here.
    assert warehouse.faults.build_room(path) == {
        "live": live, "previous": live - 100_000, "next": live + 100_000,
        "needed": live + 100_000 + live // 3}
    # A second name of the live file takes no room of its own.
    (tmp_path / "segkit.duckdb.previous").unlink()
    (tmp_path / "segkit.duckdb.previous").hardlink_to(path)
    assert warehouse.faults.build_room(path)["previous"] == 0



def test_no_connection_the_build_opens_draws_duckdbs_progress_bar(tmp_path):
    # The build prints its own progress per stage; DuckDB draws a bar into the same
    # terminal for any query over two seconds (the per-customer tables at 100M lines).
    # In a child process: under pytest DuckDB starts with the bar off anyway.
    code = f"""
from pathlib import Path
from segkit import warehouse
from segkit.config import load_config
cfg = load_config(None)
tmp = Path({str(tmp_path)!r})
for con in (warehouse.connect_memory(), warehouse.connect_memory(threads=1),
            warehouse.connect_work(cfg.duckdb, tmp / "tmp"),
            warehouse.connect(tmp / "segkit.duckdb", cfg.duckdb)):
    print(con.execute("select current_setting('enable_progress_bar')").fetchall()[0][0])
    con.close()
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False"] * 4
