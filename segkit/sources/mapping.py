"""The mapping: the configured columns exist in the source, and their render context."""

from __future__ import annotations

import difflib
import re
from typing import Any

import duckdb

from segkit.errors import InputError
from segkit.project import quote_ident, quote_literal
from segkit.sources.base import OpenSource


def slug(name: str) -> str:
    """A canonical snake_case column name for a source column or level."""
    text = re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower()
    if not text or text[0].isdigit():
        text = "c_" + text
    return text


def _columns(con: duckdb.DuckDBPyConnection, opened: OpenSource) -> list[str]:
    """The source's column names; a clear error when it cannot be read."""
    source = opened.source
    try:
        return [row[0] for row in
                con.execute(f"describe select * from {opened.read}").fetchall()]
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        hint = ""
        lowered = str(exc).lower()
        if "unicode" in lowered or "utf-8" in lowered or "encoding" in lowered:
            hint = (f' The file is not UTF-8: set encoding = "latin-1" (or its real '
                    f"encoding) in [{source.name}].")
        elif "no files found" in lowered:
            hint = " Check the path."
        elif "empty" in lowered or "no data" in lowered or "0 columns" in lowered:
            hint = " The file is empty."
        raise InputError(f"cannot read {source.label} ([{source.name}]): {first}.{hint}"
                         ) from None


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


_MAPPED = ("customer_id", "timestamp", "amount", "quantity", "unit_price", "order_id",
           "birth_year", "birth_date", "age")


def _source_context(con, opened: OpenSource) -> dict[str, Any]:
    source = opened.source
    section = source.section
    columns = _columns(con, opened)
    mapped = {k: getattr(section, k) for k in _MAPPED if getattr(section, k, None)}
    for key in ("numeric", "categorical"):
        for i, column in enumerate(getattr(section, key, ()) or ()):
            mapped[f"{key}[{i}]"] = column
    _check_columns(columns, mapped, source.label, source.name)
    source.check_rows(con, opened, mapped)
    context: dict[str, Any] = {"source": opened.shown, "label": source.label}
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


def transactions_context(con, opened: OpenSource, taken: set[str]) -> dict[str, Any]:
    """The ``transactions`` key of the render context; checks the mapping on the source."""
    cfg = opened.source.section
    context = _source_context(con, opened)
    for key in ("amount", "quantity", "unit_price", "order_id"):
        context.setdefault(key, None)
    context["categorical"] = _attribute_columns(cfg.categorical, taken)
    context["timestamp_formats"] = [quote_literal(f) for f in cfg.timestamp_format]
    context["cancellation_prefix"] = (quote_literal(cfg.cancellation_prefix)
                                      if cfg.cancellation_prefix else None)
    return context


def customers_context(con, opened: OpenSource, taken: set[str]) -> dict[str, Any]:
    """The ``customers`` key of the render context; checks the mapping on the source."""
    cfg = opened.source.section
    context = _source_context(con, opened)
    for key in ("birth_year", "birth_date", "age"):
        context.setdefault(key, None)
    for key in ("numeric", "categorical"):
        context[key] = _attribute_columns(getattr(cfg, key), taken)
    context["has_age"] = bool(cfg.birth_year or cfg.birth_date or cfg.age)
    return context
