"""Sources: where a build, ``segkit score`` and the live views read their rows.

One class per kind (:data:`KINDS`), each holding its config keys and checks,
its read on each engine, whether the warehouse's clients can read it, and its
label (see :mod:`segkit.sources.base`):

- ``path =``: a CSV or Parquet file or glob (:class:`FileSource`);
- ``table =``: a table in the warehouse, or Spark's catalog (:class:`WarehouseTable`);
- ``attach =`` + ``table =``: a table in another DuckDB file (:class:`AttachedTable`);
- ``sql =``: a query in the engine's dialect (:class:`SqlSource`);
- ``connection =`` + ``table =`` or ``query =``: PostgreSQL (:class:`PostgresSource`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segkit.errors import ConfigError
from segkit.sources.base import OpenSource, Source, columns_of, stand_in
from segkit.sources.files import FileSource
from segkit.sources.mapping import customers_context, slug, transactions_context
from segkit.sources.postgres import PostgresSource, check_url, masked
from segkit.sources.query import SqlSource
from segkit.sources.tables import AttachedTable, WarehouseTable

# Config (segkit.config) is not imported here: the config imports the sources
# to check their keys, so the sources take the loaded Config as it comes.

#: every kind of source, in the order the README lists them
KINDS: tuple[type[Source], ...] = (FileSource, WarehouseTable, AttachedTable, SqlSource,
                                   PostgresSource)
#: the keys that choose a source's kind
SOURCE_KEYS = ("path", "table", "attach", "sql", "connection", "query")
SECTIONS = ("transactions", "customers")

__all__ = ["AttachedTable", "FileSource", "KINDS", "OpenSource", "PostgresSource",
           "SOURCE_KEYS", "Source", "SqlSource", "WarehouseTable", "check_section",
           "check_url", "columns_of", "configured", "customers_context", "kind_of", "masked",
           "open_sources", "slug", "source_for", "stand_in", "transactions_context"]


def kind_of(values: dict[str, Any], where: str) -> type[Source]:
    """The kind a section's source keys choose; a config error naming the ways otherwise."""
    given = {key for key in SOURCE_KEYS if key in values}
    for kind in KINDS:
        if kind.matches(given):
            return kind
    said = ", ".join(sorted(given)) or "none of them"
    raise ConfigError(
        f"{where}: a source is exactly one of: path (a CSV/Parquet file or glob); table (a "
        "table in the warehouse), optionally with attach (another DuckDB file holding it); "
        "sql (a query the engine runs); connection (PostgreSQL) with table or query. "
        f"This section gives {said}.")


def check_section(values: dict[str, Any], where: str, base: Path, resolve) -> dict[str, Any]:
    """A section's source keys checked by its kind (see :meth:`Source.check`)."""
    return kind_of(values, where).check(values, where, base, resolve)


def source_for(section, name: str, cfg=None) -> Source:
    """The :class:`Source` of a loaded section (``name``: transactions or customers)."""
    values = {key: getattr(section, key) for key in SOURCE_KEYS
              if getattr(section, key, None) is not None}
    kind = kind_of(values, f"[{name}]")
    return kind(section, name, warehouse=cfg.warehouse if cfg is not None else None)


def configured(cfg) -> dict[str, Source]:
    """The config's sources by section name (transactions, customers)."""
    return {name: source_for(getattr(cfg, name), name, cfg)
            for name in SECTIONS if getattr(cfg, name) is not None}


def open_sources(con, cfg, *, rows: bool = True) -> dict[str, OpenSource]:
    """Every configured source made readable in the DuckDB connection ``con``."""
    return {name: source.open(con, rows=rows) for name, source in configured(cfg).items()}
