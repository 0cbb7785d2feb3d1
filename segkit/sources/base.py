"""What every kind of source is: its config keys, its checks, its reads, its label.

A source is one section of ``segkit.toml`` (``[transactions]`` or
``[customers]``) pointing at rows somewhere. Each kind is a subclass of
:class:`Source` (a file or glob, a warehouse table, a table in another DuckDB
file, a SQL query, a PostgreSQL table or query) that says, in one place:
which keys choose it and the rules among them (:meth:`Source.check`), how the
DuckDB engine reads it (:meth:`Source.open`), how Spark reads it
(:meth:`Source.read_spark`), what the warehouse's views read in its place
(:meth:`Source.open` again: ``shown``), and its name in messages and the
accounting (:attr:`Source.label`). Adding a kind is one new subclass, listed
in :data:`segkit.sources.KINDS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from segkit.errors import ConfigError
from segkit.project import quote_ident


@dataclass(frozen=True)
class OpenSource:
    """A source made readable in one DuckDB connection.

    ``read``: the FROM target the build's models read there (the rows);
    ``shown``: the FROM target the warehouse's views read, readable by any
    DuckDB client that opens the warehouse. The two differ where a plain
    client cannot read the source (then ``shown`` is an empty relation of the
    source's columns and types: the warehouse holds what the build read).
    """

    source: "Source"
    read: str
    shown: str


def stand_in(columns: list[tuple[str, str]]) -> str:
    """An empty relation with these (name, DuckDB type) columns: what a live view reads
    where the warehouse's clients cannot read the source itself."""
    body = ", ".join(f"cast(null as {kind}) as {quote_ident(name)}" for name, kind in columns)
    return f"(select {body} where false) as source_not_readable_here"


def columns_of(con, relation: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of each column of ``relation`` in ``con``."""
    return [(row[0], row[1]) for row in
            con.execute(f"describe select * from {relation}").fetchall()]


class Source:
    """One configured source; subclasses are the kinds (see the module docstring).

    Parameters
    ----------
    section : TransactionsConfig or CustomersConfig
        The section as loaded (paths already resolved against the config's folder).
    name : {"transactions", "customers"}
        Which section it is.
    warehouse : Path, default=None
        The warehouse file (``table =`` sources and ``sql =`` sources read it).
    """

    #: the kind's name in messages and the README
    kind: ClassVar[str] = ""
    #: the keys that choose this kind; ``optional`` keys may come with them
    keys: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ()
    #: a DuckDB client opening the warehouse can read it (the live views work)
    readable_by_plain_client: ClassVar[bool] = True
    #: the Spark engine can read it
    on_spark: ClassVar[bool] = True

    def __init__(self, section, name: str, *, warehouse: Path | None = None):
        self.section = section
        self.name = name
        self.warehouse = warehouse

    # -- the config --------------------------------------------------------------

    @classmethod
    def matches(cls, given: set[str]) -> bool:
        """The source keys given in a section choose this kind."""
        return set(cls.keys) <= given <= set(cls.keys) | set(cls.optional)

    @classmethod
    def check(cls, values: dict[str, Any], where: str, base: Path,
              resolve) -> dict[str, Any]:
        """The section's values with this kind's rules applied (paths resolved).

        ``base``: the config's folder; ``resolve(key, must_exist=...)``: the
        value of ``key`` as a path resolved against it (the config's one path rule). Raises
        :class:`ConfigError` naming the key and the fix.
        """
        return values

    @classmethod
    def check_engine(cls, engine_kind: str, where: str) -> None:
        """This kind can be read by the configured engine."""
        if engine_kind == "spark" and not cls.on_spark:
            raise ConfigError(f"{where}: a {cls.kind} is read by the DuckDB engine only; "
                              "build with [engine] kind = \"duckdb\" (or --engine duckdb), "
                              "or point the section at a file, a table or a query Spark reads.")

    # -- naming ------------------------------------------------------------------

    @property
    def label(self) -> str:
        """The source in messages: a path, a table, a connection and its table."""
        raise NotImplementedError

    @property
    def short_label(self) -> str:
        """The source in the accounting and short messages (a file's name)."""
        return self.label

    # -- reading -----------------------------------------------------------------

    def open(self, con, *, rows: bool = True) -> OpenSource:
        """Make the source readable in the DuckDB connection ``con``.

        ``rows=False``: only its columns are needed (``segkit sql render``);
        a source that copies rows may copy none.
        """
        raise NotImplementedError

    def check_rows(self, con, opened: OpenSource, mapped: dict[str, str]) -> None:
        """Problems DuckDB's readers would paper over (files only)."""

    def read_spark(self, spark, view: str) -> None:
        """Register the source as the temporary view ``view`` of a Spark session."""
        raise NotImplementedError

    def section_key(self, key: str) -> str:
        return f"[{self.name}] {key}"
