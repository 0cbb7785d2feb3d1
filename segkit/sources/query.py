"""``sql =``: a query in the engine's own dialect (DuckDB or Spark SQL) over files and tables.

Relative file paths inside the query (``read_parquet('orders/*.parquet')``,
``from 'lines.csv'``, Spark's ``parquet.`orders```) are resolved against the
config's folder when the config is loaded, like ``path =``: the stored query
holds absolute paths, so the build, ``segkit score`` and the warehouse's live
views read the same files from any working directory.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from segkit.errors import ConfigError, InputError
from segkit.sources.base import OpenSource, Source, columns_of
from segkit.sources.tables import WAREHOUSE_ALIAS, alias_table, attach_warehouse

# DuckDB's file readers: the first argument is a path, a glob or a list of them
_READERS = {"read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json",
            "read_json_auto", "read_ndjson", "read_ndjson_auto", "read_text", "read_blob"}
# Spark's format.`path` reads
_SPARK_READ = re.compile(r"\b(parquet|csv|json|orc|text|avro)\.`((?:[^`]|``)*)`", re.IGNORECASE)
_ALIAS = "source_sql"


def _absolute(text: str, base: Path) -> str:
    """A path as written, made absolute against ``base`` (URLs and absolute paths stay)."""
    if "://" in text or text.startswith(("/", "~")) or not text:
        return text
    return str(base / text)


def resolve_paths(sql: str, base: Path) -> str:
    """``sql`` with the relative file paths it reads made absolute against ``base``.

    Only the literal paths of file reads change (found by SQLGlot's tokenizer:
    the first argument of a DuckDB reader, a quoted file name after FROM or
    JOIN, Spark's ``format.`path```); the rest of the text stays as written.
    """
    from sqlglot.tokens import Tokenizer, TokenType

    try:
        tokens = Tokenizer().tokenize(sql)
    except Exception:  # noqa: BLE001 - the engine reports a query it cannot parse
        return sql
    edits = []  # (start, end, new text)
    for i, token in enumerate(tokens):
        previous = tokens[i - 1] if i else None
        if token.token_type == TokenType.STRING and previous is not None:
            reader = _reader_argument(tokens, i)
            after_from = previous.token_type in (TokenType.FROM, TokenType.JOIN)
            if reader or after_from:
                edits.append((token.start, token.end, token.text))
    for match in _SPARK_READ.finditer(sql):  # Spark's format.`path`
        edits.append((match.start(2) - 1, match.end(2), match.group(2).replace("``", "`")))
    out = sql
    for start, end, text in sorted(edits, reverse=True):
        quote = sql[start]
        new = _absolute(text, base)
        if new != text:
            escaped = new.replace(quote, quote * 2)
            out = out[:start] + quote + escaped + quote + out[end + 1:]
    return out


def _reader_argument(tokens, i: int) -> bool:
    """Token ``i`` is (in) the first argument of a DuckDB file reader."""
    from sqlglot.tokens import TokenType

    depth = 0
    j = i - 1
    while j >= 1:
        kind = tokens[j].token_type
        if kind in (TokenType.L_BRACKET,):
            j -= 1
            continue
        if kind == TokenType.COMMA and depth == 0:
            # inside a [list] of paths: keep walking back to its bracket
            k = j - 1
            while k >= 0 and tokens[k].token_type in (TokenType.STRING, TokenType.COMMA):
                k -= 1
            if k >= 0 and tokens[k].token_type == TokenType.L_BRACKET:
                j = k
                continue
            return False
        if kind == TokenType.L_PAREN:
            return tokens[j - 1].text.lower() in _READERS
        return False
    return False


def tables_read(sql: str) -> list[str]:
    """The ``schema.table`` / ``table`` names a query reads (CTEs excluded)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except Exception:  # noqa: BLE001 - DuckDB reports a query it cannot parse
        return []
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    names = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier) or table.catalog:
            continue  # a function (read_parquet(...)) or a catalog.schema.table
        name = ".".join(p for p in (table.db, table.name) if p)
        if name and name not in ctes and name not in names:
            names.append(name)
    return names


class SqlSource(Source):
    """A query the engine runs (DuckDB's or Spark's SQL) over files and tables."""

    kind = "SQL query (sql)"
    keys = ("sql",)

    @classmethod
    def check(cls, values, where, base, resolve):
        sql = values["sql"].strip().rstrip(";").strip()
        if not sql:
            raise ConfigError(f'{where}: sql = "" holds no query; give a select, e.g. '
                              "sql = \"select * from read_parquet('orders/*.parquet')\".")
        values["sql"] = resolve_paths(sql, base)
        return values

    @property
    def label(self) -> str:
        return f"the [{self.name}] sql query"

    def open(self, con, *, rows: bool = True) -> OpenSource:
        """The query as a subquery; the warehouse tables it names are aliased in ``con``
        (the warehouse attached read-only), so it reads them as a client of the
        warehouse would."""
        names = tables_read(self.section.sql)
        if names and attach_warehouse(con, self.warehouse):
            present = {f"{s}.{t}" for s, t in con.execute(
                "select schema_name, table_name from duckdb_tables() where database_name = ? "
                "union all select schema_name, view_name from duckdb_views() "
                "where database_name = ?", [WAREHOUSE_ALIAS, WAREHOUSE_ALIAS]).fetchall()}
            for name in names:
                full = name if "." in name else f"main.{name}"
                if full in present:
                    alias_table(con, name, WAREHOUSE_ALIAS)
        relation = f"(\n{self.section.sql}\n) as {_ALIAS}"
        try:
            columns_of(con, relation)
        except duckdb.Error as exc:
            raise InputError(f"cannot run the [{self.name}] sql query: "
                             f"{str(exc).strip().splitlines()[0]}. It runs in DuckDB (the "
                             "engine's own dialect) over files and warehouse tables; fix the "
                             "query (try it in a DuckDB shell).") from None
        return OpenSource(self, relation, relation)

    def read_spark(self, spark, view: str) -> None:
        """The query run by Spark (Spark SQL, over files and the catalog's tables)."""
        spark.sql(self.section.sql).createOrReplaceTempView(view)
