"""Run-keyed tables: a build's rows appended to history tables, views on the latest run,
the layers' views replaced, history trimmed."""

from __future__ import annotations

import duckdb

from segkit.errors import WarehouseError
from segkit.project import quote_ident, quote_literal
from segkit.warehouse.publishing import BUILT


# Per-customer (or per-rejected-row) history: the tables that grow with the data
# and are trimmed to the last ``[duckdb] history_builds`` successful builds.
# Everything else (the run registry, per-segment and per-feature tables) is kept.
PER_CUSTOMER_HISTORY = ("segments.segment_history", "segments.tsne_history",
                        "features.customer_features_history", "meta.quarantine_history")


def append_run_rows(con: duckdb.DuckDBPyConnection, run_id: str, rows, *, history: str,
                    released: bool = False) -> None:
    """Append a build's ``rows`` to a run-keyed ``history`` table, created as needed.

    The history table gains any column this build has and earlier ones lacked
    (a config change adds a feature).

    ``released``: ``rows`` has the columns only (the build let go of the rows),
    and they are copied from the file this build wrote first (a replayed write,
    see :meth:`segkit.warehouse.publishing.NextWarehouse.publish`).
    """
    con.execute(f"create schema if not exists {history.rsplit('.', 1)[0]}")
    if released:
        if not con.execute(f"select 1 from duckdb_databases() where database_name = "
                           f"{quote_literal(BUILT)}").fetchall():
            raise WarehouseError(f"cannot store {history} again: the build let go of its rows "
                                 "and the file it wrote first is gone.")
        con.execute(f"create or replace temp view _segkit_rows as select * exclude (run_id) "
                    f"from {BUILT}.{history} where run_id = {quote_literal(run_id)}")
        try:
            _append_rows(con, run_id, history)
        finally:
            con.execute("drop view if exists temp._segkit_rows")
    else:
        con.register("_segkit_rows", rows)
        try:
            _append_rows(con, run_id, history)
        finally:
            con.unregister("_segkit_rows")


def _append_rows(con: duckdb.DuckDBPyConnection, run_id: str, history: str) -> None:
    """Append the relation ``_segkit_rows`` to ``history``, created and widened as needed."""
    con.execute(f"create table if not exists {history} as select cast(null as varchar) "
                "as run_id, * from _segkit_rows limit 0")
    existing = {r[0] for r in con.execute(f"describe {history}").fetchall()}
    for name, kind, *_ in con.execute("describe select * from _segkit_rows").fetchall():
        if name not in existing:
            con.execute(f"alter table {history} add column {quote_ident(name)} {kind}")
    con.execute(f"insert into {history} by name select ? as run_id, * from _segkit_rows",
                [run_id])


def point_run_view(con: duckdb.DuckDBPyConnection, rows, *, history: str, view: str) -> None:
    """Point ``view`` at ``history``'s rows of the latest successful run
    (``segments.latest_run``), with this build's columns (those of ``rows``)."""
    # a Polars frame's columns are names; an Arrow table's are arrays
    names = rows.column_names if hasattr(rows, "column_names") else rows.columns
    columns = ", ".join(quote_ident(name) for name in names)
    con.execute(f"create or replace view {view} as\nselect {columns}\nfrom {history}\n"
                "where run_id = (select run_id from segments.latest_run)")


def replace_schemas(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...]) -> None:
    """Create ``schemas`` where missing and drop every view in them.

    A build then creates its views afresh, so no view of a source that is no
    longer configured is left pointing at stale files. Tables stay.
    """
    for schema in schemas:
        con.execute(f"create schema if not exists {schema}")
    listed = ", ".join(quote_literal(s) for s in schemas)
    for name, in con.execute("select schema_name || '.' || view_name from duckdb_views() "
                             f"where not internal and schema_name in ({listed})").fetchall():
        con.execute(f"drop view if exists {name} cascade")


def trim_history(con: duckdb.DuckDBPyConnection, keep_builds: int) -> None:
    """Keep per-customer history only for the last ``keep_builds`` successful builds.

    ``0`` keeps every build. ``meta.runs`` and the small per-segment tables are
    never trimmed.
    """
    if keep_builds <= 0:
        return
    existing = {f"{s}.{t}" for s, t in con.execute(
        "select schema_name, table_name from duckdb_tables() where not internal").fetchall()}
    for table in PER_CUSTOMER_HISTORY:
        if table in existing:
            con.execute(f"delete from {table} where run_id not in (select run_id from "
                        "meta.runs where status = 'success' order by finished_at desc, "
                        "run_id desc limit ?)", [keep_builds])
