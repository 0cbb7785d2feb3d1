"""segment_since rebuilt for a Spark history written before it existed.

The first Spark build over such a history gives the previous build's customers
the segment_since that the DuckDB engine gives a warehouse in the same state:
both run ``sql/build/segment_since_backfill.sql``, here over the Spark
``segment_history`` (builds in run id order: run ids sort as the builds ran)
and the as-of dates of those builds from the warehouse's ``meta.runs``, where
every Spark build publishes its run. A build the warehouse does not know
(another machine's warehouse) has no as-of date, so its customers' runs start
at the build being made.
"""

from __future__ import annotations

from pathlib import Path

from segkit import warehouse
from segkit.warehouse import queries

BACKFILL_SQL = "build/segment_since_backfill.sql"


def run_dates(path: Path, duckdb_config) -> list[tuple]:
    """``(run_id, as_of_date)`` of every build the warehouse at ``path`` recorded."""
    if not path.exists():
        return []
    con = warehouse.connect(path, duckdb_config, read_only=True)
    try:
        if not queries.rows(con, "runs.has_registry")[0][0]:
            return []
        return queries.rows(con, "history.run_dates")
    finally:
        con.close()


def backfilled_previous(spark, history, previous_run: str, dates: list[tuple]):
    """The customers of ``previous_run`` in ``history`` (a Spark frame of the history
    rows, without segment_since): customer_id, segment_id, segment_name and the
    segment_since that the backfill query gives them."""
    history.select("run_id", "customer_id", "segment_id", "segment_name"
                   ).createOrReplaceTempView("kept_history")
    spark.createDataFrame(dates, "run_id string, as_of_date date"
                          ).createOrReplaceTempView("segkit_run_dates")
    spark.sql("""
        select
            runs.run_id,
            dates.as_of_date,
            row_number() over (order by runs.run_id) as build_number
        from (select distinct run_id from kept_history) as runs
        left join segkit_run_dates as dates on dates.run_id = runs.run_id
    """).createOrReplaceTempView("kept_builds")
    backfill = (warehouse.sql_dir() / BACKFILL_SQL).read_text(encoding="utf-8")
    run = previous_run.replace("'", "''")
    return spark.sql(f"select customer_id, segment_id, segment_name, segment_since "
                     f"from ({backfill}) as backfilled where run_id = '{run}'")
