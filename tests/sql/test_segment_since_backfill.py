"""sql/build/segment_since_backfill.sql on a literal history written before
segment_since: the exact dates, through the DuckDB engine's reader of it."""

from __future__ import annotations

import duckdb

from segkit import warehouse
from segkit.pipeline.runs import previous_customers
from segkit.warehouse import queries
from tests.customers.old_history import (
    AS_OF,
    EXPECTED_SINCE,
    KEPT,
    PREVIOUS,
    SEGMENTS,
    write_old_warehouse,
)


def test_the_previous_builds_customers_get_the_start_of_their_run(tmp_path):
    path = write_old_warehouse(tmp_path / "segkit.duckdb")
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = previous_customers(con, PREVIOUS)
    finally:
        con.close()
    assert dict(zip(rows["customer_id"], rows["segment_since"])) == EXPECTED_SINCE
    assert dict(zip(rows["customer_id"], rows["segment_id"])) == {
        c: s[-1] for c, s in SEGMENTS.items() if s[-1] is not None}


def test_every_kept_build_gets_its_own_runs(tmp_path):
    """Each kept row's date, not only the last build's: a failed build between
    two kept ones does not break a run, a build missing from the history does."""
    path = write_old_warehouse(tmp_path / "segkit.duckdb")
    con = duckdb.connect(str(path), read_only=True)
    try:
        for name in ("kept_history", "kept_builds"):
            con.execute(f"create temp view {name} as\n" + queries.sql(f"history.{name}"))
        sql = (warehouse.sql_dir() / "build" / "segment_since_backfill.sql").read_text()
        got = {(run, customer): since for run, customer, since in con.sql(
            f"select run_id, customer_id, segment_since from ({sql})").fetchall()}
    finally:
        con.close()
    first, second, third, _ = (AS_OF[run] for run in KEPT)
    assert got[(KEPT[1], "c2")] == second and got[(KEPT[2], "c2")] == second
    assert got[(KEPT[2], "c3")] == third  # back after a build without it
    assert got[(KEPT[2], "c6")] == first  # the failed build between is no break
    assert got[(KEPT[2], "c4")] == third and got[(KEPT[0], "c4")] == first
    assert len(got) == sum(s is not None for segs in SEGMENTS.values() for s in segs)
