"""Named queries: the SQL that segkit's Python runs on a warehouse, read from ``sql/queries/``.

``sql/queries/<topic>.sql`` holds the queries of one job, each under a
``-- name: <query>`` line (the convention of aiosql and yesql): ``report.sql``
is everything the report reads, ``runs.sql`` the run registry, ``score.sql``
what ``segkit score`` reads and runs, ``generations.sql`` what ``segkit
restore`` reads from a generation of the warehouse. A query is called by ``<topic>.<query>``::

    queries.frame(con, "report.stages", [run_id])

They are plain SQL with ``?`` parameters (one, ``score.assign``, calls the
project's assignment macro and is rendered first). They are not models: the
warehouse does not hold them as views, and they have no versions.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import duckdb
import polars as pl

from segkit.errors import ProjectError
from segkit.project import sql_dir

_NAME = re.compile(r"^--\s*name:\s*([a-z_]+)\s*$", re.MULTILINE)


@functools.cache
def _topic(path: Path) -> dict[str, str]:
    """The queries of one file by name (the text under each ``-- name:`` line)."""
    parts = _NAME.split(path.read_text(encoding="utf-8"))
    return {name: text.strip() + "\n" for name, text in zip(parts[1::2], parts[2::2])}


def sql(name: str) -> str:
    """The text of the query ``<topic>.<query>``."""
    topic, _, query = name.partition(".")
    path = sql_dir() / "queries" / f"{topic}.sql"
    found = _topic(path) if path.is_file() else {}
    if query not in found:
        raise ProjectError(f"no query {query!r} in {path}.")
    return found[query]


def frame(con: duckdb.DuckDBPyConnection, name: str, params: list | None = None) -> pl.DataFrame:
    """Run a named query; its rows as a Polars frame (through Arrow)."""
    return con.sql(sql(name), params=params or []).pl()


def rows(con: duckdb.DuckDBPyConnection, name: str, params: list | None = None) -> list[tuple]:
    """Run a named query; its rows as tuples."""
    return con.execute(sql(name), params or []).fetchall()


def run(con: duckdb.DuckDBPyConnection, name: str, params: list | None = None) -> None:
    """Run a named statement that returns no rows."""
    con.execute(sql(name), params or [])
