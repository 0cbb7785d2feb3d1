"""Source checks: the configured files and columns exist, with the fix when not."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import duckdb

from segkit import warehouse
from segkit.config import Config, CustomersConfig, TransactionsConfig
from segkit.errors import InputError
from segkit.warehouse import quote_ident, quote_literal


def slug(name: str) -> str:
    """A canonical snake_case column name for a source column or level."""
    text = re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower()
    if not text or text[0].isdigit():
        text = "c_" + text
    return text


_PARQUET = re.compile(r"\.(parquet|pq)$", re.IGNORECASE)


def _csv_options(section: TransactionsConfig | CustomersConfig, **options: Any) -> dict:
    """``options`` and the reader options the config sets (delimiter, encoding)."""
    if section.delimiter:
        options["delim"] = section.delimiter
    if section.encoding.lower() not in ("utf-8", "utf8"):
        options["encoding"] = section.encoding
    return options


def _read_csv(path: str, options: dict) -> str:
    """A ``read_csv`` call with ``options`` written as SQL literals."""
    def literal(value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value) if isinstance(value, int) else quote_literal(value)

    written = ", ".join(f"{name} = {literal(value)}" for name, value in options.items())
    return f"read_csv({quote_literal(path)}, {written})"


def _source_sql(section: TransactionsConfig | CustomersConfig, dialect: dict | None = None
                ) -> str:
    """The FROM target of a source: a file reader, or a quoted table name.

    ``dialect``: CSV options found by :func:`_csv_dialect`, written into the reader.
    """
    if section.table:
        return ".".join(quote_ident(p) for p in section.table.split("."))
    path = section.path
    if _PARQUET.search(path):
        return f"read_parquet({quote_literal(path)}, union_by_name = true)"
    options = _csv_options(section, header=True, all_varchar=True, union_by_name=True)
    return _read_csv(path, options | (dialect or {}))


def _csv_dialect(con, section: TransactionsConfig | CustomersConfig) -> dict:
    """The CSV file's quote, escape, comment and skipped lines (and delimiter), as read_csv options.

    DuckDB sniffs a CSV's dialect every time a query that reads it is bound:
    ~14 ms per read of the demo file, and the live views read it ~50 times in
    a build (cleaning.transactions alone 6 times, 84 ms per query). Found once
    here and written into the reader, binding takes ~4.5 ms and the file is
    split exactly as the sniffer split it. One file only: each file of a glob
    keeps its own sniffing. Empty when the sniffer fails (reading the file then
    reports why).
    """
    path = Path(section.path) if section.path else None
    if path is None or not path.is_file() or _PARQUET.search(path.name):
        return {}
    options = _csv_options(section, header=True, all_varchar=True)
    arguments = ", ".join(f"{name} = ${name}" for name in options)
    try:
        found = con.execute(f"select Delimiter, Quote, Escape, Comment, SkipRows "
                            f"from sniff_csv($path, {arguments})",
                            {"path": str(path), **options}).fetchone()
    except duckdb.Error:
        return {}
    delimiter, quote, escape, comment, skip = (
        "" if value == "(empty)" else value for value in found)
    pinned = {} if section.delimiter else {"delim": delimiter}
    return pinned | {"quote": quote, "escape": escape, "comment": comment, "skip": int(skip)}


def _describe(con: duckdb.DuckDBPyConnection, source_sql: str, label: str,
              section_name: str) -> list[str]:
    """The source's column names; a clear error when the file cannot be read."""
    try:
        return [row[0] for row in con.execute(f"describe select * from {source_sql}").fetchall()]
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        hint = ""
        lowered = str(exc).lower()
        if "unicode" in lowered or "utf-8" in lowered or "encoding" in lowered:
            hint = (f' The file is not UTF-8: set encoding = "latin-1" (or its real '
                    f"encoding) in [{section_name}].")
        elif "no files found" in lowered:
            hint = " Check the path."
        elif "empty" in lowered or "no data" in lowered or "0 columns" in lowered:
            hint = " The file is empty."
        raise InputError(f"cannot read {label} ([{section_name}]): {first}.{hint}") from None


def _check_columns(columns: list[str], wanted: dict[str, str], label: str,
                   section_name: str) -> None:
    if len(set(columns)) != len(columns):
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        raise InputError(f"{label} has duplicate column names: {', '.join(dupes)}. Rename them "
                         "so each column is unambiguous.")
    for key, column in wanted.items():
        if column not in columns:
            close = difflib.get_close_matches(column, columns, n=1, cutoff=0.6)
            if not close:
                close = [c for c in columns if c.lower() == column.lower()]
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            if len(columns) == 1:
                # One column whose name holds separators: the delimiter is wrong.
                seps = [d for d in (";", ",", "\t", "|") if d in columns[0]]
                if seps:
                    hint = (f". The file was read as one column, so it is separated by "
                             f"{seps[0]!r}: set delimiter = {seps[0]!r} in [{section_name}] "
                             "(or remove delimiter to detect it)")
            raise InputError(
                f'[{section_name}] {key}: column "{column}" is not in {label}{hint}. '
                f"Its columns are: {', '.join(columns)}.")


def _check_file(con, section, section_name: str, mapped: dict[str, str]) -> None:
    """Catch what DuckDB's CSV reader would paper over: empty files, repeated headers."""
    path = Path(section.path) if section.path else None
    if path is None or not path.is_file():  # a table, or a glob of files
        return
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes). Point [{section_name}] path at a file "
                         "with a header row and data rows.")
    if _PARQUET.search(path.name):
        return
    # DuckDB renames a repeated header ("amount", "amount_1"), which would make
    # the mapping silently pick the first: read the header as written instead.
    reader = _read_csv(str(path), _csv_options(section, header=False, all_varchar=True))
    try:
        header = con.execute(f"select * from {reader} limit 1").fetchall()
    except duckdb.Error:
        return  # _describe reports unreadable files
    names = [str(v).strip() for v in header[0]] if header else []
    for key, column in mapped.items():
        positions = [i + 1 for i, name in enumerate(names) if name == column]
        if len(positions) > 1:
            raise InputError(
                f'{path}: column "{column}" ([{section_name}] {key}) appears {len(positions)} '
                f"times in the header (columns {', '.join(map(str, positions))}). Rename the "
                "copies so the mapping is unambiguous.")


def _source_context(con, section, section_name: str) -> dict[str, Any]:
    source = _source_sql(section, _csv_dialect(con, section))
    label = section.path or section.table
    if section.path:
        _check_file(con, section, section_name, {})
    columns = _describe(con, source, label, section_name)
    mapped = {k: getattr(section, k) for k in
              ("customer_id", "timestamp", "amount", "quantity", "unit_price", "order_id",
               "birth_year", "birth_date", "age") if getattr(section, k, None)}
    for key in ("numeric", "categorical"):
        for i, column in enumerate(getattr(section, key, ()) or ()):
            mapped[f"{key}[{i}]"] = column
    _check_columns(columns, mapped, label, section_name)
    if section.path:
        _check_file(con, section, section_name, mapped)
    context: dict[str, Any] = {"source": source, "label": label}
    for key, column in mapped.items():
        if "[" not in key:
            context[key] = quote_ident(column)
    return context


def _attribute_columns(source_names, taken: set[str]) -> list[dict[str, str]]:
    """Canonical, unique, quoted names for attribute columns of a source."""
    columns = []
    for source_name in source_names:
        name = slug(source_name)
        while name in taken:
            name += "_"
        taken.add(name)
        columns.append({"source": quote_ident(source_name), "name": quote_ident(name),
                        "plain": name, "label": quote_literal(name), "written": source_name})
    return columns


def _transactions_context(con, cfg: TransactionsConfig, taken: set[str]) -> dict[str, Any]:
    context = _source_context(con, cfg, "transactions")
    for key in ("amount", "quantity", "unit_price", "order_id"):
        context.setdefault(key, None)
    context["categorical"] = _attribute_columns(cfg.categorical, taken)
    context["timestamp_formats"] = [quote_literal(f) for f in cfg.timestamp_format]
    context["cancellation_prefix"] = (quote_literal(cfg.cancellation_prefix)
                                      if cfg.cancellation_prefix else None)
    return context


def _customers_context(con, cfg: CustomersConfig, taken: set[str]) -> dict[str, Any]:
    context = _source_context(con, cfg, "customers")
    for key in ("birth_year", "birth_date", "age"):
        context.setdefault(key, None)
    for key in ("numeric", "categorical"):
        context[key] = _attribute_columns(getattr(cfg, key), taken)
    context["has_age"] = bool(cfg.birth_year or cfg.birth_date or cfg.age)
    return context


# Bounded by construction (days inside the data's window, ages inside age_range):
# capping them would only blur real values.


def _alias_warehouse_tables(con, cfg: Config) -> None:
    """Make ``table =`` sources readable in the work database under the same name.

    The warehouse is attached read-only just long enough to materialize them.
    """
    tables = [s.table for s in (cfg.transactions, cfg.customers) if s is not None and s.table]
    if not tables:
        return
    if not cfg.warehouse.exists():
        raise InputError(f"table = \"{tables[0]}\" names a warehouse table, but the warehouse "
                         f"{cfg.warehouse} does not exist yet.")
    con.execute(f"attach {warehouse.quote_literal(str(cfg.warehouse))} as source_warehouse "
                "(read_only)")
    for table in tables:
        parts = table.split(".")
        schema = parts[0] if len(parts) == 2 else "main"
        if schema != "main":
            con.execute(f"create schema if not exists {warehouse.quote_ident(schema)}")
        qualified = ".".join(warehouse.quote_ident(p) for p in parts)
        con.execute(f"create or replace view {qualified} as select * from source_warehouse."
                    f"{qualified if len(parts) == 2 else 'main.' + qualified}")
