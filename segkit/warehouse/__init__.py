"""DuckDB: connections, the versioned SQL views, and publishing by atomic swap.

A build computes in a private in-memory DuckDB (the *work* database) and never
opens the warehouse file for writing. It publishes by writing the *next*
warehouse beside the live one (a copy of it, so people's own views and tables
come along), then swapping it in with one ``os.replace``; the file it replaces
stays as ``<warehouse>.previous`` for ``segkit restore``. A reader that opened
the old file keeps its consistent snapshot until it reconnects; new
connections see the new build; a reader never makes a build wait or fail, and
a build that dies leaves the live file as it was. The run registry's
``running`` rows live in a small journal beside the warehouse
(``<warehouse>.runs.jsonl``), not in the file readers use.

One module per job: ``connections`` (the work database, the warehouse file, the
build lock, inserting frames and rows), ``publishing`` (the next warehouse and
the swap, the previous generation kept, leftovers of killed builds),
``run_tables`` (run-keyed tables, history trimming), ``generations``
(``segkit restore``), ``faults`` (a damaged file or a full disk said clearly),
``journal`` (runs not yet in ``meta.runs``) and ``queries`` (the named queries
of ``sql/queries/``). The SQL project (headers, rendering, versions) is
:mod:`segkit.project`; its names stay importable from here.
"""

from __future__ import annotations

import duckdb

from segkit.project import (  # noqa: F401 - re-exported for callers that used them here
    LAYERS, Model, View, create_sql, load_models, quote_ident, quote_literal, render, sql_dir,
)
from segkit.warehouse.connections import (  # noqa: F401
    LOCK_TIMEOUT_SECONDS,
    build_lock,
    build_running,
    connect,
    connect_memory,
    connect_work,
    ensure_tables,
    insert_frame,
    insert_row,
    transaction,
)
from segkit.warehouse.journal import (  # noqa: F401
    interrupted_message,
    journal_append,
    journal_forget,
    journal_path,
    journal_runs,
    pending_runs,
)
from segkit.warehouse.faults import (  # noqa: F401
    damaged_error,
    disk_full_error,
    previous_path,
    said_clearly,
    translated,
)
from segkit.warehouse.generations import Restored, restore  # noqa: F401
from segkit.warehouse.publishing import (  # noqa: F401
    PUBLISH_ATTEMPTS,
    RUN_ID_SHAPE,
    NextWarehouse,
    keep_previous,
    next_path,
    remove_leftovers,
)
from segkit.warehouse.run_tables import (  # noqa: F401
    PER_CUSTOMER_HISTORY,
    append_run_rows,
    point_run_view,
    replace_schemas,
    trim_history,
)

load_views = load_models


def version_views(con: duckdb.DuckDBPyConnection,
                  rendered: dict[str, str]) -> dict[str, tuple[int, str]]:
    """Record a version for each model whose parsed, rendered SQL is new; see
    :func:`segkit.project.version_models`."""
    from segkit.project import version_models

    return version_models(con, rendered)
