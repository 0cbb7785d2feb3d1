"""``connection =`` with ``table =`` or ``query =``: rows read from PostgreSQL.

On DuckDB through ADBC (``adbc-driver-postgresql``, the extra ``segkit[postgres]``):
the rows arrive as Arrow record batches, streamed into a table of the build's
work database (so memory stays bounded: DuckDB spills to its temp folder).
On Spark through JDBC (Debian's ``libpostgresql-jdbc-java`` jar on the
session's ``spark.jars``). ``query`` is PostgreSQL's SQL, run by PostgreSQL.

Passwords never come from ``segkit.toml``: libpq reads ``PGPASSWORD``,
``~/.pgpass`` and ``PGSERVICE`` itself (ADBC); for JDBC segkit looks them up
the same way and passes the password as a JDBC property, never in the URL.
The warehouse's clients cannot read PostgreSQL: its live views read an empty
relation of the source's columns (the warehouse holds what the build read).
"""

from __future__ import annotations

import configparser
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from segkit.errors import ConfigError, InputError
from segkit.project import quote_ident
from segkit.sources.base import OpenSource, Source, columns_of, stand_in
from segkit.sources.tables import check_table_name

EXTRA = "pip install 'segkit[postgres]'"
# Debian's libpostgresql-jdbc-java
JDBC_JAR = Path("/usr/share/java/postgresql.jar")
WORK_SCHEMA = "segkit_source"


def check_url(url: str, where: str, key: str) -> None:
    """A ``postgresql://user@host:port/db`` URL without a password (config error otherwise)."""
    try:
        parsed = urlparse(url)
        parsed.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"{where}: {key} is not a PostgreSQL URL ({exc}); write "
                          "postgresql://user@host:5432/database.") from None
    if parsed.scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"{where}: {key} must start with postgresql:// (e.g. "
                          "postgresql://user@host:5432/database).")
    params = {k.lower() for k in parse_qs(parsed.query)}
    if parsed.password is not None or "password" in params:
        raise ConfigError(f"{where}: {key} holds a password; remove it from the URL and give "
                          "it to libpq instead: the environment (PGPASSWORD), ~/.pgpass or a "
                          "service (PGSERVICE). segkit.toml is often shared, its values reach "
                          "the warehouse and MLflow, so a password never belongs in it.")


def masked(url: str) -> str:
    """The URL as messages show it (without any password, should one slip in)."""
    return re.sub(r"(//[^:/@]*):[^@/]*@", r"\1:***@", url)


def _driver():
    try:
        import adbc_driver_postgresql.dbapi as dbapi
    except ImportError:
        raise ConfigError(f"a PostgreSQL source (connection = ...) needs the ADBC PostgreSQL "
                          f"driver, which is not installed. Install the extra: {EXTRA}."
                          ) from None
    return dbapi


def driver_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("adbc_driver_postgresql") is not None


class PostgresSource(Source):
    """A PostgreSQL table (``table``) or query (``query``) at ``connection``."""

    kind = "PostgreSQL source (connection)"
    keys = ("connection",)
    optional = ("table", "query")
    readable_by_plain_client = False

    @classmethod
    def matches(cls, given):
        return "connection" in given and given <= {"connection", "table", "query"}

    @classmethod
    def check(cls, values, where, base, resolve):
        check_url(values["connection"], where, "connection")
        if ("table" in values) == ("query" in values):
            raise ConfigError(f"{where}: connection needs exactly one of table (e.g. "
                              "\"sales.orders\") or query (PostgreSQL's SQL, run by "
                              "PostgreSQL).")
        if "table" in values:
            check_table_name(values, where)
        elif not values["query"].strip().rstrip(";").strip():
            raise ConfigError(f'{where}: query = "" holds no query; give a select.')
        else:
            values["query"] = values["query"].strip().rstrip(";").strip()
        return values

    @property
    def label(self) -> str:
        what = self.section.table or "query"
        return f"{masked(self.section.connection)} ({what})"

    @property
    def select(self) -> str:
        """The query PostgreSQL runs."""
        if self.section.table:
            return f"select * from {'.'.join(quote_ident(p) for p in self.section.table.split('.'))}"
        return self.section.query

    def _failed(self, doing: str, exc: Exception) -> InputError:
        text = str(exc).strip()
        secret = os.environ.get("PGPASSWORD")
        if secret:
            text = text.replace(secret, "***")
        text = re.sub(r"^(IO|INVALID_ARGUMENT|UNKNOWN|INTERNAL): ", "", text)
        text = re.sub(r"\s*\n\s*", " ", text.replace("[libpq] ", "")).strip().rstrip(".")
        return InputError(
            f"cannot {doing} PostgreSQL at {masked(self.section.connection)} ([{self.name}] "
            f"connection): {text}. Check that the server runs and accepts connections from "
            "here, the user and database in the URL, and that the password is in "
            "PGPASSWORD, ~/.pgpass or a PGSERVICE entry; the previous build's results are "
            "untouched.")

    def open(self, con, *, rows: bool = True) -> OpenSource:
        """The rows streamed from PostgreSQL into ``segkit_source.<name>`` of ``con``.

        ADBC hands ``numeric`` over as text (an opaque extension type, so
        ``sum()`` would fail on it): a ``numeric(p, s)`` column becomes
        ``DECIMAL(p, s)`` when DuckDB holds it (p <= 38), else stays text (read
        as text money, rounded to amount_decimals). ``timestamptz`` becomes a
        plain timestamp in UTC, whatever the machine's time zone.
        """
        dbapi = _driver()
        try:
            pg = dbapi.connect(self.section.connection)
        except Exception as exc:  # noqa: BLE001 - the driver raises its own error types
            raise self._failed("connect to", exc) from None
        table = f"{WORK_SCHEMA}.{quote_ident(self.name)}"
        try:
            cursor = pg.cursor()
            query = self.select if rows else f"select * from ({self.select}) as q limit 0"
            try:
                cursor.execute(query)
                reader = cursor.fetch_record_batch()
            except Exception as exc:  # noqa: BLE001
                raise self._failed("read from", exc) from None
            con.execute(f"create schema if not exists {WORK_SCHEMA}")
            con.register("segkit_postgres_rows", reader)
            try:
                con.execute(f"create or replace table {table} as select "
                            f"{_converted(reader.schema)} from segkit_postgres_rows")
            except Exception as exc:  # noqa: BLE001 - a connection lost mid-stream
                raise self._failed("read from", exc) from None
            finally:
                con.unregister("segkit_postgres_rows")
        finally:
            pg.close()
        return OpenSource(self, table, stand_in(columns_of(con, table)))

    def read_spark(self, spark, view: str) -> None:
        """Read through Spark's JDBC source; the password is a JDBC property."""
        options = jdbc_options(self.section.connection)
        reader = spark.read.format("jdbc").option("url", options.pop("url"))
        for key, value in options.items():
            reader = reader.option(key, value)
        if self.section.table:
            reader = reader.option("dbtable", self.section.table)
        else:
            reader = reader.option("query", self.section.query)
        frame = reader.option("preferTimestampNTZ", "true").load()
        # timestamptz arrives as an instant: its UTC wall clock, as the DuckDB engine reads it
        for name, kind in frame.dtypes:
            if kind == "timestamp":
                from pyspark.sql import functions as F

                frame = frame.withColumn(name, F.expr(
                    f"cast(to_utc_timestamp(`{name}`, current_timezone()) as timestamp_ntz)"))
        frame.createOrReplaceTempView(view)


def _converted(schema) -> str:
    """The select list that turns ADBC's PostgreSQL columns into DuckDB's."""
    import pyarrow as pa

    items = []
    for field in schema:
        name = quote_ident(field.name)
        meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
        if meta.get("POSTGRESQL:type") == "numeric":
            typmod = int(meta.get("POSTGRESQL:typmod", "-1"))
            precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
            if typmod >= 4 and precision <= 38:
                items.append(f"cast({name} as decimal({precision}, {scale})) as {name}")
                continue
            items.append(f"cast({name} as varchar) as {name}")
        elif pa.types.is_timestamp(field.type) and field.type.tz:
            items.append(f"timezone('UTC', {name}) as {name}")
        else:
            items.append(name)
    return ", ".join(items)


# -- JDBC: the connection as Spark's JDBC source needs it ------------------------

def jdbc_options(url: str) -> dict[str, str]:
    """``url``, ``user``, ``password`` (when found) and ``driver`` for Spark's JDBC source.

    The password comes from libpq's places, in libpq's order: ``PGPASSWORD``,
    then the service's entry (``PGSERVICE``), then the password file
    (``PGPASSFILE`` or ``~/.pgpass``).
    """
    parsed = urlparse(url)
    params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    service = _service(params.get("service") or os.environ.get("PGSERVICE"))
    host = parsed.hostname or service.get("host") or os.environ.get("PGHOST") or "localhost"
    port = str(parsed.port or service.get("port") or os.environ.get("PGPORT") or 5432)
    database = (unquote(parsed.path.lstrip("/")) or service.get("dbname")
                or os.environ.get("PGDATABASE") or "")
    user = (unquote(parsed.username or "") or service.get("user") or os.environ.get("PGUSER")
            or os.environ.get("USER") or "")
    database = database or user
    options = {"url": f"jdbc:postgresql://{host}:{port}/{database}", "user": user,
               "driver": "org.postgresql.Driver"}
    password = (os.environ.get("PGPASSWORD") or service.get("password")
                or _pgpass(host, port, database, user))
    if password:
        options["password"] = password
    return options


def _service(name: str | None) -> dict[str, str]:
    if not name:
        return {}
    files = [os.environ.get("PGSERVICEFILE") or str(Path.home() / ".pg_service.conf")]
    if os.environ.get("PGSYSCONFDIR"):
        files.append(str(Path(os.environ["PGSYSCONFDIR"]) / "pg_service.conf"))
    files.append("/etc/postgresql-common/pg_service.conf")
    for file in files:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(file, encoding="utf-8")
        except (OSError, configparser.Error):
            continue
        if parser.has_section(name):
            return dict(parser.items(name))
    return {}


def _pgpass(host: str, port: str, database: str, user: str) -> str | None:
    path = Path(os.environ.get("PGPASSFILE") or Path.home() / ".pgpass")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    wanted = (host, port, database, user)
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = re.split(r"(?<!\\):", line, maxsplit=4)
        if len(fields) != 5:
            continue
        fields = [f.replace("\\:", ":").replace("\\\\", "\\") for f in fields]
        if all(f == "*" or f == w for f, w in zip(fields[:4], wanted)):
            return fields[4]
    return None


def spark_jars(conf: tuple[tuple[str, str], ...], remote: str | None, where: str
               ) -> tuple[tuple[str, str], ...]:
    """``[engine] conf`` with the PostgreSQL JDBC jar on ``spark.jars`` (classic Spark).

    On Spark Connect the driver must be on the server's classpath: nothing to add.
    """
    if remote:
        return conf
    settings = dict(conf)
    jars = settings.get("spark.jars", "")
    if "postgresql" in jars:
        return conf
    if not JDBC_JAR.exists():
        raise ConfigError(f"{where}: a PostgreSQL source on Spark needs PostgreSQL's JDBC "
                          f"driver, not found at {JDBC_JAR}. Install it (apt-get install "
                          "libpostgresql-jdbc-java) or name the jar in [engine] conf: "
                          "{ \"spark.jars\" = \"/path/to/postgresql.jar\" }.")
    settings["spark.jars"] = ",".join(j for j in (jars, str(JDBC_JAR)) if j)
    return tuple(settings.items())
