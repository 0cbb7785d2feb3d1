"""``path =``: a CSV or Parquet file, or a glob of them."""

from __future__ import annotations

import glob
import re
from pathlib import Path
from typing import Any

import duckdb

from segkit.errors import InputError
from segkit.project import quote_literal
from segkit.sources.base import OpenSource, Source

PARQUET = re.compile(r"\.(parquet|pq)$", re.IGNORECASE)


def _csv_options(section, **options: Any) -> dict:
    """``options`` and the reader options the config sets (delimiter, encoding)."""
    if section.delimiter:
        options["delim"] = section.delimiter
    if section.encoding.lower() not in ("utf-8", "utf8"):
        options["encoding"] = section.encoding
    return options


def read_csv_sql(path: str, options: dict) -> str:
    """A ``read_csv`` call with ``options`` written as SQL literals."""
    def literal(value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value) if isinstance(value, int) else quote_literal(value)

    written = ", ".join(f"{name} = {literal(value)}" for name, value in options.items())
    return f"read_csv({quote_literal(path)}, {written})"


class FileSource(Source):
    """A CSV (any delimiter, read as text) or Parquet file, or a glob of them."""

    kind = "file"
    keys = ("path",)

    @classmethod
    def check(cls, values, where, base, resolve):
        values["path"] = resolve("path", must_exist=True)
        return values

    @property
    def label(self) -> str:
        return self.section.path

    @property
    def short_label(self) -> str:
        return Path(self.section.path).name

    def relation(self, dialect: dict | None = None) -> str:
        """The file reader; ``dialect``: CSV options found by :meth:`sniff`."""
        path = self.section.path
        if PARQUET.search(path):
            return f"read_parquet({quote_literal(path)}, union_by_name = true)"
        options = _csv_options(self.section, header=True, all_varchar=True, union_by_name=True)
        return read_csv_sql(path, options | (dialect or {}))

    def sniff(self, con) -> dict:
        """The CSV file's quote, escape, comment and skipped lines (and delimiter), as options.

        DuckDB sniffs a CSV's dialect every time a query that reads it is bound:
        ~14 ms per read of the demo file, and the live views read it ~50 times in
        a build (cleaning.transactions alone 6 times, 84 ms per query). Found once
        here and written into the reader, binding takes ~4.5 ms and the file is
        split exactly as the sniffer split it. One file only: each file of a glob
        keeps its own sniffing. Empty when the sniffer fails (reading the file then
        reports why).
        """
        path = Path(self.section.path)
        if not path.is_file() or PARQUET.search(path.name):
            return {}
        options = _csv_options(self.section, header=True, all_varchar=True)
        arguments = ", ".join(f"{name} = ${name}" for name in options)
        try:
            found = con.execute(f"select Delimiter, Quote, Escape, Comment, SkipRows "
                                f"from sniff_csv($path, {arguments})",
                                {"path": str(path), **options}).fetchone()
        except duckdb.Error:
            return {}
        delimiter, quote, escape, comment, skip = (
            "" if value == "(empty)" else value for value in found)
        pinned = {} if self.section.delimiter else {"delim": delimiter}
        return pinned | {"quote": quote, "escape": escape, "comment": comment, "skip": int(skip)}

    def open(self, con, *, rows: bool = True) -> OpenSource:
        self.check_rows(con, None, {})
        relation = self.relation(self.sniff(con))
        return OpenSource(self, relation, relation)

    def check_rows(self, con, opened, mapped: dict[str, str]) -> None:
        """Catch what DuckDB's CSV reader would paper over: empty files, repeated headers."""
        path = Path(self.section.path)
        if not path.is_file():  # a glob of files
            return
        if path.stat().st_size == 0:
            raise InputError(f"{path} is empty (0 bytes). Point [{self.name}] path at a file "
                             "with a header row and data rows.")
        if PARQUET.search(path.name) or not mapped:
            return
        # DuckDB renames a repeated header ("amount", "amount_1"), which would make
        # the mapping silently pick the first: read the header as written instead.
        reader = read_csv_sql(str(path), _csv_options(self.section, header=False,
                                                      all_varchar=True))
        try:
            header = con.execute(f"select * from {reader} limit 1").fetchall()
        except duckdb.Error:
            return  # reading the columns reports unreadable files
        names = [str(v).strip() for v in header[0]] if header else []
        for key, column in mapped.items():
            positions = [i + 1 for i, name in enumerate(names) if name == column]
            if len(positions) > 1:
                raise InputError(
                    f'{path}: column "{column}" ([{self.name}] {key}) appears {len(positions)} '
                    f"times in the header (columns {', '.join(map(str, positions))}). Rename "
                    "the copies so the mapping is unambiguous.")

    def read_spark(self, spark, view: str) -> None:
        """CSV as text (DuckDB's ``all_varchar``) with its header, the same delimiter and
        encoding and RFC 4180 quotes; Parquet keeps its types (``mergeSchema``:
        DuckDB's ``union_by_name``)."""
        path = self.section.path
        if PARQUET.search(path):
            frame = spark.read.option("mergeSchema", "true").parquet(path)
        else:
            frame = (spark.read.option("header", "true").option("inferSchema", "false")
                     .option("sep", self.section.delimiter or _delimiter(path))
                     .option("encoding", self.section.encoding).option("quote", '"')
                     .option("escape", '"').option("mode", "PERMISSIVE").csv(path))
        frame.createOrReplaceTempView(view)


def _delimiter(path: str) -> str:
    """The CSV delimiter DuckDB's sniffer finds, so both engines split lines alike."""
    con = duckdb.connect(":memory:")
    try:
        first = sorted(glob.glob(path))
        target = first[0] if first else path
        rows = con.execute("select delimiter from sniff_csv(?)", [target]).fetchall()
        return rows[0][0] if rows else ","
    finally:
        con.close()
