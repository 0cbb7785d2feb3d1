"""Compare two warehouses relation by relation: the same builds, before and after a change.

A refactor that must keep results exactly unchanged is checked by building the
same data with the same config before and after it, then comparing every
table and view of the schemas a build writes (``segments``, ``meta``,
``features``, ``cleaning``), row for row and value for value (floats with
``==``). What differs between two runs of the same build by nature is set
aside: run ids (each is replaced by its rank among the warehouse's builds, in
every column and inside text), MLflow's run ids, timestamps (``*_at``) and
durations (``seconds``, ``seconds_total``, the map's ``seconds``). A view's SQL
is compared too (after the same run id replacement). Views are read on one
thread: a parallel float sum in a view can differ in its last bits between
two reads of the same file.

With ``--lake``, Parquet outputs of the Spark engine (one folder per table,
``output_path``) are compared the same way.

Usage::

    python bench/compare_warehouses.py BEFORE.duckdb AFTER.duckdb
    python bench/compare_warehouses.py BEFORE.duckdb AFTER.duckdb --lake BEFORE_DIR AFTER_DIR

Exits 0 when every relation is equal, 1 with the differences listed otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb
import polars as pl

SCHEMAS = ("segments", "meta", "features", "cleaning")
# Columns whose values differ between two runs of the same build by nature.
VOLATILE = {"started_at", "finished_at", "recorded_at", "seconds", "seconds_total",
            "mlflow_run_id", "applied_at", "created_at"}
LAKE_TABLES = ("customer_segments", "customer_features", "quarantine", "segment_history")


def run_ids(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each build's run id -> ``run-<n>``, its rank by start time (failed runs too)."""
    rows = con.execute("select run_id from meta.runs order by started_at, run_id").fetchall()
    return {run_id: f"run-{n}" for n, (run_id,) in enumerate(rows, 1)}


def relations(con: duckdb.DuckDBPyConnection, schemas) -> dict[str, str | None]:
    """``schema.name`` -> the view's SQL (None for a table), for the given schemas."""
    found = {}
    listed = ", ".join(f"'{s}'" for s in schemas)
    for schema, name in con.execute(
            f"select schema_name, table_name from duckdb_tables() "
            f"where database_name = current_database() and schema_name in ({listed})"
    ).fetchall():
        found[f"{schema}.{name}"] = None
    for schema, name, sql in con.execute(
            f"select schema_name, view_name, sql from duckdb_views() "
            f"where database_name = current_database() and not internal "
            f"and schema_name in ({listed})").fetchall():
        found[f"{schema}.{name}"] = sql
    return found


def replace_ids(text: str | None, ids: dict[str, str]) -> str | None:
    if text is None:
        return None
    for run_id, token in ids.items():
        text = text.replace(run_id, token)
    return text


def normalized(frame: pl.DataFrame, ids: dict[str, str]) -> pl.DataFrame:
    """The frame with volatile columns dropped, run ids replaced, rows in a fixed order."""
    frame = frame.drop([c for c in frame.columns if c in VOLATILE])
    for column, dtype in frame.schema.items():
        if dtype == pl.String:
            expr = pl.col(column)
            for run_id, token in ids.items():
                expr = expr.str.replace_all(run_id, token, literal=True)
            frame = frame.with_columns(expr)
        if column == "tsne_method":
            frame = frame.with_columns(pl.col(column).map_elements(
                _without_seconds, return_dtype=pl.String))
    sortable = [c for c, t in frame.schema.items()
                if not isinstance(t, (pl.List, pl.Array, pl.Struct, pl.Object))]
    return frame.sort(sortable, nulls_last=True) if sortable and frame.height else frame


def _without_seconds(text: str | None) -> str | None:
    if text is None:
        return None
    value = json.loads(text)
    if isinstance(value, dict):
        value.pop("seconds", None)
    return json.dumps(value, sort_keys=True)


def compare_frames(name: str, before: pl.DataFrame, after: pl.DataFrame) -> list[str]:
    """What differs between two normalized frames, as lines (empty when equal)."""
    if before.columns != after.columns:
        return [f"{name}: columns differ: {before.columns} vs {after.columns}"]
    if before.schema != after.schema:
        return [f"{name}: types differ: {dict(before.schema)} vs {dict(after.schema)}"]
    if before.height != after.height:
        return [f"{name}: {before.height} rows before, {after.height} after"]
    if before.equals(after, null_equal=True):
        return []
    lines = [f"{name}: values differ"]
    for column in before.columns:
        left, right = before[column], after[column]
        unequal = ~(left.eq_missing(right)) if left.dtype not in (pl.List, pl.Array) else \
            pl.Series([a != b for a, b in zip(left.to_list(), right.to_list())])
        n = int(unequal.sum())
        if n:
            first = int(unequal.arg_true()[0])
            lines.append(f"  {column}: {n} rows, first at row {first}: "
                         f"{left[first]!r} vs {right[first]!r}")
    return lines


def compare_warehouses(before: Path, after: Path, schemas=SCHEMAS) -> tuple[list[str], int]:
    """The differences between two warehouse files, and how many relations were compared."""
    # One thread: a view that sums floats (the live segments' distances) adds them in
    # the order threads deliver rows, which can change the last bits between reads.
    cons = [duckdb.connect(str(p), read_only=True, config={"threads": 1})
            for p in (before, after)]
    try:
        ids = [run_ids(c) for c in cons]
        if len(ids[0]) != len(ids[1]):
            return [f"meta.runs: {len(ids[0])} builds before, {len(ids[1])} after"], 0
        found = [relations(c, schemas) for c in cons]
        problems = []
        for name in sorted(set(found[0]) ^ set(found[1])):
            side = "before only" if name in found[0] else "after only"
            problems.append(f"{name}: {side}")
        common = sorted(set(found[0]) & set(found[1]))
        for name in common:
            sqls = [replace_ids(f[name], i) for f, i in zip(found, ids)]
            if sqls[0] != sqls[1]:
                problems.append(f"{name}: the view's SQL differs")
            frames = [normalized(c.sql(f"select * from {name}").pl(), i)
                      for c, i in zip(cons, ids)]
            problems += compare_frames(name, *frames)
        return problems, len(common)
    finally:
        for con in cons:
            con.close()


def compare_lakes(before: Path, after: Path, ids: list[dict[str, str]]) -> tuple[list[str], int]:
    """The differences between two Parquet output folders (``[engine] output_path``)."""
    problems, n = [], 0
    for table in LAKE_TABLES:
        paths = [p / table for p in (before, after)]
        present = [p.exists() for p in paths]
        if present != [True, True]:
            if any(present):
                problems.append(f"lake {table}: present {present}")
            continue
        frames = [normalized(pl.from_arrow(duckdb.sql(
            f"select * from read_parquet('{p}/*.parquet')").arrow()), i)
            for p, i in zip(paths, ids)]
        problems += compare_frames(f"lake {table}", *frames)
        n += 1
    return problems, n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--lake", nargs=2, type=Path, metavar=("BEFORE_DIR", "AFTER_DIR"))
    parser.add_argument("--schemas", nargs="+", default=list(SCHEMAS))
    args = parser.parse_args(argv)
    problems, n = compare_warehouses(args.before, args.after, args.schemas)
    if args.lake:
        ids = []
        for path in (args.before, args.after):
            con = duckdb.connect(str(path), read_only=True)
            try:
                ids.append(run_ids(con))
            finally:
                con.close()
        lake_problems, n_lake = compare_lakes(*args.lake, ids)
        problems += lake_problems
        n += n_lake
    for line in problems:
        print(line)
    print(f"{n} relations compared, {'all equal' if not problems else 'DIFFERENT'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
