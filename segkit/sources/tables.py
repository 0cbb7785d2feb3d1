"""``table =``: a table in the warehouse, or (with ``attach =``) in another DuckDB file."""

from __future__ import annotations

import re

import duckdb

from segkit.errors import ConfigError, InputError, WarehouseBusyError
from segkit.project import quote_ident, quote_literal
from segkit.sources.base import OpenSource, Source, columns_of, stand_in

# schema.table or table, plain identifiers (quoted when read)
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?")
WAREHOUSE_ALIAS = "source_warehouse"


def qualified(table: str) -> str:
    return ".".join(quote_ident(p) for p in table.split("."))


def check_table_name(values: dict, where: str) -> None:
    if not _TABLE.fullmatch(values["table"]):
        raise ConfigError(f"{where}: table = {values['table']!r} is not a table name; give "
                          "table or schema.table (letters, digits and _).")


def attach_warehouse(con, warehouse) -> bool:
    """The warehouse attached read-only to ``con`` as ``source_warehouse`` (once);
    False when there is no warehouse yet."""
    if not warehouse or not warehouse.exists():
        return False
    attached = {row[0] for row in con.execute("select database_name from duckdb_databases()"
                                              ).fetchall()}
    if WAREHOUSE_ALIAS not in attached:
        _attach(con, str(warehouse), WAREHOUSE_ALIAS, "the warehouse")
    return True


def _attach(con, path: str, alias: str, what: str) -> None:
    try:
        con.execute(f"attach {quote_literal(path)} as {quote_ident(alias)} (read_only)")
    except duckdb.Error as exc:
        text = str(exc).lower()
        if "lock" in text:
            raise WarehouseBusyError(
                f"{what} {path} is open for writing in another process (a DuckDB session "
                "opened without read_only), so it cannot be read now. Close that session or "
                "open it read-only, then retry.") from None
        raise InputError(f"cannot open {what} {path}: {str(exc).splitlines()[0]}") from None


def alias_table(con, table: str, catalog: str) -> None:
    """``table`` (``schema.table`` or ``table``) of the attached ``catalog`` readable in
    ``con`` under its own name."""
    parts = table.split(".")
    if len(parts) == 2:
        con.execute(f"create schema if not exists {quote_ident(parts[0])}")
    target = qualified(table if len(parts) == 2 else f"main.{table}")
    con.execute(f"create or replace view {qualified(table)} as "
                f"select * from {quote_ident(catalog)}.{target}")


class WarehouseTable(Source):
    """An existing table or view in the warehouse (DuckDB), or Spark's catalog (Spark)."""

    kind = "warehouse table"
    keys = ("table",)

    @classmethod
    def check(cls, values, where, base, resolve):
        check_table_name(values, where)
        return values

    @property
    def label(self) -> str:
        return self.section.table

    def open(self, con, *, rows: bool = True) -> OpenSource:
        """Made readable in the work database under the same name: the warehouse is
        attached read-only (and the warehouse's views read the table itself)."""
        if not attach_warehouse(con, self.warehouse):
            raise InputError(f'[{self.name}] table = "{self.section.table}" names a warehouse '
                             f"table, but the warehouse {self.warehouse} does not exist yet.")
        alias_table(con, self.section.table, WAREHOUSE_ALIAS)
        relation = qualified(self.section.table)
        return OpenSource(self, relation, relation)

    def read_spark(self, spark, view: str) -> None:
        """The Spark catalog's table (not readable by the DuckDB warehouse's clients)."""
        spark.table(self.section.table).createOrReplaceTempView(view)


class AttachedTable(Source):
    """A table in another DuckDB file, attached read-only (DuckDB engine only)."""

    kind = "table in another DuckDB file (attach)"
    keys = ("attach", "table")
    readable_by_plain_client = False  # a client that has not attached the file cannot
    on_spark = False

    @classmethod
    def check(cls, values, where, base, resolve):
        check_table_name(values, where)
        values["attach"] = resolve("attach", must_exist=True)
        return values

    @property
    def label(self) -> str:
        return f"{self.section.attach}: {self.section.table}"

    @property
    def alias(self) -> str:
        return f"source_{self.name}"

    def open(self, con, *, rows: bool = True) -> OpenSource:
        attached = {row[0] for row in con.execute(
            "select database_name from duckdb_databases()").fetchall()}
        if self.alias not in attached:
            _attach(con, self.section.attach, self.alias, f"[{self.name}] attach =")
        parts = self.section.table.split(".")
        target = qualified(self.section.table if len(parts) == 2
                           else f"main.{self.section.table}")
        relation = f"{quote_ident(self.alias)}.{target}"
        try:
            columns = columns_of(con, relation)
        except duckdb.Error:
            raise InputError(f'[{self.name}] table = "{self.section.table}" is not in '
                             f"{self.section.attach}. Check the name (schema.table).") from None
        return OpenSource(self, relation, stand_in(columns))
