"""A history written before segment_since existed, in a DuckDB warehouse: the
literal builds and rows that the backfill tests (DuckDB and Spark) share."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

# Four kept builds (run ids sort as they ran) and a failed one between them.
RUNS = [("20240101T000000Z-aaaaaa", "success", dt.date(2024, 1, 1)),
        ("20240201T000000Z-bbbbbb", "success", dt.date(2024, 2, 1)),
        ("20240215T000000Z-ffffff", "failed", None),
        ("20240301T000000Z-cccccc", "success", dt.date(2024, 3, 1)),
        ("20240401T000000Z-dddddd", "success", dt.date(2024, 4, 1))]
KEPT = [run for run, status, _ in RUNS if status == "success"]
AS_OF = {run: as_of for run, _, as_of in RUNS}
PREVIOUS = KEPT[-1]

# customer -> its segment in each kept build (None: not in that build)
SEGMENTS = {
    "c1": (1, 1, 1, 1),           # the same since the oldest build kept
    "c2": (1, 2, 2, 2),           # moved in the second
    "c3": (1, None, 1, 1),        # gone from the second, back in the third
    "c4": (2, 2, 1, 2),           # back to its old segment in the last: a new run
    "c5": (None, None, None, 3),  # new in the last
    "c6": (3, 3, 3, None),        # gone from the last
}
# segment_since of the previous (last kept) build's customers
EXPECTED_SINCE = {"c1": dt.date(2024, 1, 1), "c2": dt.date(2024, 2, 1),
                  "c3": dt.date(2024, 3, 1), "c4": dt.date(2024, 4, 1),
                  "c5": dt.date(2024, 4, 1)}


def history_rows() -> list[tuple]:
    """``(run_id, customer_id, segment_id, segment_name)`` of every kept build."""
    return [(run, customer, segment, f"Segment {segment}")
            for customer, segments in SEGMENTS.items()
            for run, segment in zip(KEPT, segments) if segment is not None]


def write_old_warehouse(path: Path) -> Path:
    """A warehouse file as builds before segment_since left it: meta.runs and a
    segments.segment_history without the columns that look back."""
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema meta")
        con.execute("create schema segments")
        con.execute("create table meta.runs (run_id varchar, started_at timestamp, "
                    "finished_at timestamp, status varchar, as_of_date date)")
        for i, (run, status, as_of) in enumerate(RUNS):
            at = dt.datetime(2024, 1, 1) + dt.timedelta(days=i)
            con.execute("insert into meta.runs values (?, ?, ?, ?, ?)",
                        [run, at, at + dt.timedelta(minutes=1), status, as_of])
        con.execute("create table segments.segment_history (run_id varchar, "
                    "customer_id varchar, segment_id integer, segment_name varchar, "
                    "distance_to_centroid double, bins double[])")
        for row in history_rows():
            con.execute("insert into segments.segment_history values (?, ?, ?, ?, 0.5, [1.0])",
                        list(row))
    finally:
        con.close()
    return path
