"""``segkit init --source``: which kind of source the argument is, and the file written."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from segkit import warehouse
from segkit.config.sections import TransactionsConfig
from segkit.errors import ConfigError, InputError
from segkit.sources.files import FileSource
from segkit.sources.guess import config_text, guess_mapping
from segkit.sources.postgres import PostgresSource, check_url
from segkit.sources.query import SqlSource, resolve_paths

_QUERY = re.compile(r"^\s*(select|with|from)\b", re.IGNORECASE)


def _section(**values):
    return TransactionsConfig(customer_id="", timestamp="", **values)


def _kind(path: Path, source: str, table: str | None, query: str | None):
    """The source to read and the keys the file will hold."""
    if source.startswith(("postgresql://", "postgres://")):
        check_url(source, "--source", "the URL")
        if (table is None) == (query is None):
            raise ConfigError("--source with a PostgreSQL URL needs --table (schema.table) or "
                              "--query (PostgreSQL's SQL).")
        keys = {"connection": source, **({"table": table} if table else {"query": query})}
        select = PostgresSource(_section(connection=source, table=table, query=query),
                                "transactions").select
        # a sample is enough to guess from: PostgreSQL sends 2,000 rows
        read = _section(connection=source, query=f"select * from ({select}) as q limit 2000")
        return PostgresSource(read, "transactions"), keys
    if table or query:
        raise ConfigError("--table and --query go with a PostgreSQL --source URL.")
    if _QUERY.match(source):
        sql = source.strip().rstrip(";")
        return (SqlSource(_section(sql=resolve_paths(sql, Path.cwd())), "transactions"),
                {"sql": resolve_paths(sql, Path.cwd())})
    file = Path(source).expanduser().absolute()
    if not file.exists() and not list(file.parent.glob(file.name)):
        raise InputError(f"--source {source} does not exist (looked for {file}).")
    folder = path.absolute().parent
    # relative to the config's folder when the data is inside it, so the folder can move
    written = str(file.relative_to(folder)) if file.is_relative_to(folder) else str(file)
    return FileSource(_section(path=str(file)), "transactions"), {"path": written}


def write_guessed(path: Path, source: str, *, table: str | None = None,
                  query: str | None = None, force: bool = False) -> Path:
    """Read ``source``'s columns and write ``path`` with the mapping they suggest."""
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it.")
    kind, keys = _kind(path, source, table, query)
    con = warehouse.connect_memory()
    try:
        opened = kind.open(con)
        guess = guess_mapping(con, opened)
    except duckdb.Error as exc:
        raise InputError(f"cannot read --source {source}: {str(exc).strip().splitlines()[0]}"
                         ) from None
    finally:
        con.close()
    label = keys.get("path") or keys.get("connection") or "a query"
    path.write_text(config_text(keys, guess, label), encoding="utf-8")
    return path
