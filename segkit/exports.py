"""Exports: a published build's segments written where they are used (``[export]``).

After a successful publish (and on ``segkit export [RUN_ID]``) each table of
:data:`EXPORTED` that the warehouse holds is written, with the rows of one
build, to every destination ``[export]`` names:

- ``postgres``: tables in ``schema`` whose rows are replaced in one
  transaction (``delete`` then ``insert``, never ``drop``/``truncate``/rename):
  a reader sees the old rows or the new ones, never a mix or a missing table,
  and the grants and views others put on the tables stay. A column the build
  has and the table lacks is added; one it lacks stays (null), so views on it
  keep working. Passwords come from libpq (PGPASSWORD, ~/.pgpass, PGSERVICE).
- ``parquet``, ``csv``: one file per table (``<folder>/customer_segments.parquet``),
  written beside its final name and renamed into place.

A build's rows are read from the warehouse alone, through the exact SQL that
build published (``meta.run_views``), in a session where that build is the
latest: ``segkit export RUN_ID`` of a past build gives what its current views
showed. Per-customer rows are kept for the last ``[duckdb] history_builds``
builds. A build of the Spark engine has its per-customer rows in Spark's
outputs: they are read from there (Parquet under ``output_path``, or the
catalog through a Spark session).
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from segkit import project
from segkit import warehouse as wh
from segkit.config import Config
from segkit.errors import ConfigError, InputError, SegkitError, WarehouseError

# The tables exported, each when the warehouse holds it: the one list.
EXPORTED = ("segments.customer_segments", "segments.segment_profiles",
            "segments.segment_changes")
# The run registry's views: made first, as of the exported build.
REGISTRY = ("segments.successful_runs", "segments.latest_run", "segments.previous_run")


@dataclass
class Exported:
    """What :func:`export` wrote: the build, its tables' row counts, each destination."""

    run_id: str
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows
    destinations: list[str] = field(default_factory=list)  # passwords masked
    seconds: float = 0.0


# -- the URL -----------------------------------------------------------------------

def masked(text: str) -> str:
    """``text`` with any password (of a URL, or libpq's PGPASSWORD) replaced by ``***``."""
    text = re.sub(r"(://[^/@:\s]*:)[^/@\s]*@", r"\1***@", str(text))
    text = re.sub(r"(?i)(password=)[^&\s]*", r"\1***", text)
    secret = os.environ.get("PGPASSWORD")
    return text.replace(secret, "***") if secret else text


def check(cfg: Config) -> None:
    """Refuse an ``[export] postgres`` URL that is not one or carries a password.

    Raises
    ------
    ConfigError
        Not a ``postgresql://`` URL, or a password in it (names the fix).
    """
    url = cfg.export.postgres
    if url is None:
        return
    where = f"{cfg.source_file or 'the config'}, [export] postgres"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"{where} = {masked(url)!r} is not a PostgreSQL URL; write "
                          "postgresql://user@host:5432/database.")
    query = urllib.parse.parse_qs(parts.query)
    if parts.password is not None or "password" in query:
        raise ConfigError(
            f"{where} = {masked(url)!r} holds a password: segkit.toml is no place for one. "
            "Remove it from the URL and give it through the environment (PGPASSWORD) or "
            "libpq's files (~/.pgpass, or a service in ~/.pg_service.conf named by PGSERVICE).")


def configured(cfg: Config) -> bool:
    """Whether ``[export]`` names any destination."""
    e = cfg.export
    return bool(e.postgres or e.parquet or e.csv)


# -- the build's rows ------------------------------------------------------------------

def _q(name: str) -> str:
    return ".".join(project.quote_ident(p) for p in name.split("."))


class _BuildRows:
    """A DuckDB session on the warehouse (read-only) where build ``run_id`` is the latest.

    The warehouse's tables are reached through views of the same names in a
    scratch catalog; ``meta.runs`` there ends at ``run_id``, and the segments
    views are the SQL that build published, so they show its rows.
    """

    def __init__(self, cfg: Config, run_id: str | None):
        self.cfg = cfg
        if not cfg.warehouse.exists():
            raise InputError(f"no warehouse at {cfg.warehouse} yet; run `python -m segkit "
                             "build` first.")
        # Opened once as segkit opens a warehouse (waiting out a writer, damage said
        # clearly), then attached read-only to a scratch database that holds the views.
        wh.connect(cfg.warehouse, cfg.duckdb, read_only=True).close()
        self.con = wh.connect_memory()
        self.db = "segkit_warehouse"
        try:
            self.con.execute(f"attach {project.quote_literal(str(cfg.warehouse))} as "
                             f"{self.db} (read_only)")
            self.run = self._run(run_id)
            self.run_id = self.run["run_id"]
            self._session()
        except BaseException:
            self.con.close()
            raise

    def close(self) -> None:
        self.con.close()

    def _run(self, run_id: str | None) -> dict:
        if not self.con.execute(
                "select count(*) from duckdb_tables() where database_name = ? and "
                "schema_name = 'meta' and table_name = 'runs'", [self.db]).fetchone()[0]:
            raise InputError(f"the warehouse {self.cfg.warehouse} holds no build yet; run "
                             "`python -m segkit build` first.")
        sql = (f"select run_id, status, customers, config_json from {self.db}.meta.runs "
               + ("where run_id = ?" if run_id else
                  "where status = 'success' order by finished_at desc, run_id desc limit 1"))
        found = self.con.execute(sql, [run_id] if run_id else []).fetchone()
        if found is None:
            raise InputError(
                (f"no build {run_id!r} in {self.cfg.warehouse}" if run_id else
                 f"the warehouse {self.cfg.warehouse} holds no successful build yet")
                + "; list the builds with `python -m segkit runs`.")
        run = dict(zip(("run_id", "status", "customers", "config_json"), found))
        if run["status"] != "success":
            raise InputError(f"build {run['run_id']} {run['status']}: only a successful build "
                             "is exported. List the builds with `python -m segkit runs`.")
        return run

    def _session(self) -> None:
        con, db, run = self.con, project.quote_ident(self.db), self.run_id
        tables = con.execute("select schema_name, table_name from duckdb_tables() "
                             "where database_name = ? and not internal", [self.db]).fetchall()
        self.tables = {f"{s}.{t}" for s, t in tables}
        for schema, table in tables:
            con.execute(f"create schema if not exists {project.quote_ident(schema)}")
            source = f"{db}.{project.quote_ident(schema)}.{project.quote_ident(table)}"
            where = ""
            if (schema, table) == ("meta", "runs"):  # the builds up to this one
                this = project.quote_literal(run)
                done = f"(select finished_at from {source} where run_id = {this})"
                where = (f" where not (status = 'success' and (finished_at > {done} or "
                         f"(finished_at = {done} and run_id > {this})))")
            con.execute(f"create view {_q(schema + '.' + table)} as select * "
                        f"from {source}{where}")
        published = dict(con.execute(
            f"select view_name, sql from {db}.meta.run_views where run_id = ? "
            "and sql is not null", [run]).fetchall())
        models = {m.name: m for m in project.load_models()}
        views = [models[n] for n in published if n in models
                 and models[n].layer == "segments" and models[n].published == "view"]
        if not views:
            raise InputError(f"build {run} was published before the warehouse kept each "
                             "build's SQL, so its tables cannot be read as it showed them; "
                             "export a later build.")
        # Only the views the exported ones read (live_segments reads today's source).
        wanted = set(REGISTRY) | {n for n in EXPORTED if n in published}
        for name in list(wanted):
            if name in published:
                wanted |= project.upstream(name, views, published)
        ordered = [m for m in project.order(views, published) if m.name in wanted]
        for model in [m for m in ordered if m.name in REGISTRY]:
            con.execute(f"create view {_q(model.name)} as {published[model.name]}")
        for model in models.values():  # the current views of run tables (their history)
            if model.published == "run_table" and model.history_table in self.tables:
                con.execute(f"create schema if not exists {model.layer}")
                con.execute(f"create or replace view {_q(model.name)} as select * from "
                            f"{_q(model.history_table)} where run_id = "
                            "(select run_id from segments.latest_run)")
        for model in [m for m in ordered if m.name not in REGISTRY]:
            con.execute(f"create or replace view {_q(model.name)} as {published[model.name]}")
        self.names = [n for n in EXPORTED if n in published or n in self.tables]
        engine = json.loads(self.run["config_json"] or "{}").get("engine") or {}
        self.spark = engine.get("kind") == "spark"
        if self.spark:
            self._spark_rows(engine)

    def _spark_rows(self, engine: dict) -> None:
        """``segments.customer_segments`` from the Spark engine's outputs (every build's
        rows are in its ``segment_history``, keyed by run_id)."""
        run = project.quote_literal(self.run_id)
        base = engine.get("output_path")
        if base and "://" not in base:
            files = project.quote_literal(str(Path(base) / "segment_history" / "*.parquet"))
            if not list((Path(base) / "segment_history").glob("*.parquet")):
                raise InputError(f"build {self.run_id} ran on Spark, and its per-customer "
                                 f"rows are not under {base}/segment_history.")
            self.con.execute(f"create or replace view segments.customer_segments as select * "
                             f"from read_parquet({files}) where run_id = {run}")
            return
        from segkit.config import EngineConfig
        from segkit.spark import session, spark_errors

        settings = EngineConfig(**{**engine, "conf": tuple(map(tuple, engine.get("conf", ())))})
        with spark_errors(settings, "reading the build's per-customer rows"):
            spark = session(settings)
            db = ".".join(f"`{p}`" for p in settings.database.split("."))
            path = f"parquet.`{base.rstrip('/')}/segment_history`" if base else \
                f"{db}.`segment_history`"
            rows = spark.sql(f"select * from {path} where run_id = {run}").toArrow()
        self.con.register("spark_customer_segments", rows)
        self.con.execute("create or replace view segments.customer_segments as "
                         "select * from spark_customer_segments")

    def query(self, name: str) -> str:
        """The select of ``name``'s rows of this build."""
        return f"select * from {_q(name)} where run_id = {project.quote_literal(self.run_id)}"

    def check_kept(self) -> dict[str, int]:
        """Rows per table; an error when the build's customers are no longer kept."""
        rows = {n: self.con.execute(f"select count(*) from ({self.query(n)})").fetchone()[0]
                for n in self.names}
        if rows.get("segments.customer_segments") == 0 and (self.run["customers"] or 0) > 0:
            if self.spark:
                raise InputError(f"build {self.run_id} ran on Spark, and Spark's outputs hold "
                                 "none of its customers (a later Spark build of another "
                                 "history, or the outputs moved); it is not exported.")
            keep = self.cfg.duckdb.history_builds
            kept = [r for r, in self.con.execute(
                "select distinct run_id from segments.segment_history order by run_id desc"
            ).fetchall()]
            raise InputError(
                f"build {self.run_id} is older than the per-customer history keeps: "
                f"[duckdb] history_builds = {keep} keeps the customers of the last {keep} "
                "builds, so its customer_segments rows are gone and it is not exported. "
                + (f"Builds that can be exported: {', '.join(kept)}." if kept else ""))
        return rows


# -- destinations ------------------------------------------------------------------------

# DuckDB type -> PostgreSQL type; unlisted types are exported as text.
PG_TYPES = {
    "BOOLEAN": "boolean", "TINYINT": "smallint", "SMALLINT": "smallint",
    "UTINYINT": "smallint", "INTEGER": "integer", "USMALLINT": "integer",
    "BIGINT": "bigint", "UINTEGER": "bigint", "UBIGINT": "numeric(20, 0)",
    "HUGEINT": "numeric(38, 0)", "UHUGEINT": "numeric(39, 0)", "FLOAT": "real",
    "DOUBLE": "double precision", "VARCHAR": "text", "DATE": "date", "TIME": "time",
    "TIMESTAMP": "timestamp", "TIMESTAMP_S": "timestamp", "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_NS": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "INTERVAL": "interval", "UUID": "uuid", "BLOB": "bytea",
}
# What DuckDB casts a column to before Arrow carries it (types PostgreSQL's COPY lacks).
ARROW_CASTS = {"UTINYINT": "smallint", "USMALLINT": "integer", "UINTEGER": "bigint",
               "UBIGINT": "decimal(20, 0)", "UHUGEINT": "varchar", "TIMESTAMP_S": "timestamp",
               "TIMESTAMP_MS": "timestamp", "TIMESTAMP_NS": "timestamp", "UUID": "varchar",
               "INTERVAL": "varchar"}


def pg_type(duckdb_type: str) -> tuple[str, str | None]:
    """The PostgreSQL type of a DuckDB type, and the DuckDB cast it needs first (or None).

    DECIMAL(p, s) stays numeric(p, s); lists become arrays of their element.
    """
    t = duckdb_type.upper()
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", t)
    if decimal:
        return f"numeric({decimal[1]}, {decimal[2]})", None
    if t.endswith("[]"):
        inner, cast = pg_type(duckdb_type[:-2])
        return f"{inner}[]", (f"{cast}[]" if cast else None)
    if t in PG_TYPES:
        cast = ARROW_CASTS.get(t)
        pg = "text" if cast == "varchar" else PG_TYPES[t]
        return pg, cast
    return "text", "varchar"


def _pg_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pg_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def to_postgres(rows: _BuildRows, url: str, schema: str) -> None:
    """Every table's rows replaced in one transaction (see the module docstring)."""
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as pg

    where = f"PostgreSQL at {masked(url)}"
    try:
        conn = pg.connect(url)
    except adbc_driver_manager.Error as exc:
        raise InputError(f"cannot connect to {where}: {masked(_first_line(exc))}. Check that "
                         "the server is up and the password is in PGPASSWORD, ~/.pgpass or "
                         "the service PGSERVICE names.") from None
    try:
        cur = conn.cursor()
        cur.execute(f"create schema if not exists {_pg_ident(schema)}")
        for name in rows.names:
            _replace_rows(cur, rows, name, schema)
        conn.commit()
    except adbc_driver_manager.Error as exc:
        raise InputError(f"the export to {where} (schema {schema}) failed and changed "
                         f"nothing: {masked(_first_line(exc))}") from None
    finally:
        conn.close()


def _replace_rows(cur, rows: _BuildRows, name: str, schema: str) -> None:
    table = name.split(".")[-1]
    target = f"{_pg_ident(schema)}.{_pg_ident(table)}"
    described = rows.con.execute(f"describe {rows.query(name)}").fetchall()
    columns = [(c, *pg_type(t)) for c, t, *_ in described]
    ddl = ", ".join(f"{_pg_ident(c)} {t}" for c, t, _ in columns)
    cur.execute(f"create table if not exists {target} ({ddl})")
    cur.execute("select column_name from information_schema.columns where table_schema = "
                f"{_pg_literal(schema)} and table_name = {_pg_literal(table)}")
    existing = {r[0] for r in cur.fetchall()}
    for column, kind, _ in columns:  # a column this build has: added; none is dropped
        if column not in existing:
            cur.execute(f"alter table {target} add column {_pg_ident(column)} {kind}")
    staged = f"segkit_next_{table}"
    cur.execute(f"create temp table {_pg_ident(staged)} ({ddl}) on commit drop")
    select = ", ".join(f"cast({project.quote_ident(c)} as {cast})" if cast
                       else project.quote_ident(c) for c, _, cast in columns)
    reader = rows.con.sql(f"select {select} from ({rows.query(name)})").to_arrow_reader()
    cur.adbc_ingest(staged, reader, mode="append", temporary=True)
    names = ", ".join(_pg_ident(c) for c, _, _ in columns)
    cur.execute(f"delete from {target}")
    cur.execute(f"insert into {target} ({names}) select {names} from {_pg_ident(staged)}")


def to_files(rows: _BuildRows, folder: str | Path, fmt: str) -> list[Path]:
    """One file per table in ``folder``, each written beside its name and renamed in."""
    folder = Path(folder)
    options = "format parquet" if fmt == "parquet" else "format csv, header true"
    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name in rows.names:
            final = folder / f"{name.split('.')[-1]}.{fmt}"
            temp = folder / f".{final.name}.{os.getpid()}.tmp"
            try:
                rows.con.execute(f"copy ({rows.query(name)}) to "
                                 f"{project.quote_literal(str(temp))} ({options})")
                os.replace(temp, final)
            finally:
                temp.unlink(missing_ok=True)
            written.append(final)
    except (OSError, duckdb.IOException) as exc:
        raise WarehouseError(f"cannot write the {fmt} export in {folder}: "
                             f"{_first_line(exc)}. Check the folder's permissions and the "
                             "free space.") from None
    return written


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# -- the export --------------------------------------------------------------------------

def export(cfg: Config, run_id: str | None = None, *, progress=None) -> Exported:
    """Write build ``run_id`` (default: the latest successful one) to every ``[export]``.

    Runs under the build lock (one export or build at a time, so an older
    build's export never lands after a newer one's). Each destination is
    tried; when one fails the others are still written, and the error names
    every failure.

    Returns
    -------
    Exported

    Raises
    ------
    ConfigError
        No destination in ``[export]``, or a password in the URL.
    InputError
        No such successful build, its customers no longer kept, or PostgreSQL
        unreachable or refusing the write.
    WarehouseError
        A file export cannot be written; the warehouse is damaged.
    WarehouseBusyError
        A build holds the warehouse longer than ``[duckdb] lock_timeout_seconds``.
    """
    check(cfg)
    if not configured(cfg):
        raise ConfigError(f"{cfg.source_file or 'the config'} has no [export] destination; "
                          "add postgres = \"postgresql://user@host/db\", parquet = \"exports/\" "
                          "or csv = \"exports/\" under [export].")
    with wh.build_lock(cfg.warehouse, timeout=cfg.duckdb.lock_timeout_seconds):
        return _export(cfg, run_id, progress)


def _export(cfg: Config, run_id: str | None, progress, *,
            only_latest: bool = False) -> Exported | None:
    started = time.perf_counter()
    rows = _BuildRows(cfg, None if only_latest else run_id)
    failures: list[SegkitError] = []
    try:
        if only_latest and rows.run_id != run_id:
            return None  # a newer build is live: it exports itself
        if progress is not None:
            progress.start("export", "Exporting the segments")
        done = Exported(run_id=rows.run_id)
        try:
            done.rows = rows.check_kept()
            e = cfg.export
            targets = [(f"PostgreSQL {masked(e.postgres)} schema {e.schema}",
                        lambda: to_postgres(rows, e.postgres, e.schema))] if e.postgres else []
            targets += [(f"{label} in {folder}", lambda f=folder, k=kind: to_files(rows, f, k))
                        for folder, kind, label in ((e.parquet, "parquet", "Parquet"),
                                                    (e.csv, "csv", "CSV")) if folder]
            for label, write in targets:
                try:
                    write()
                    done.destinations.append(label)
                except SegkitError as exc:
                    failures.append(exc)
        finally:
            done.seconds = round(time.perf_counter() - started, 4)
            if progress is not None:
                progress.done("export", done.seconds, (
                    "failed (see below)" if failures or not done.rows else
                    f"{done.rows.get('segments.customer_segments', 0):,} customers to "
                    + "; ".join(done.destinations)))
    finally:
        rows.close()
    if failures:
        wrote = f" (written: {'; '.join(done.destinations)})" if done.destinations else ""
        raise type(failures[0])(" ".join(str(f) for f in failures) + wrote)
    return done


def after_build(cfg: Config, run_id: str, *, progress=None) -> str | None:
    """The export that follows a successful publish; a failure is a warning, not an error.

    Only while ``run_id`` is still the latest build (a newer build exports
    itself). Returns the warning (also given to ``progress``), or None.
    """
    if not configured(cfg):
        return None
    try:
        check(cfg)
        with wh.build_lock(cfg.warehouse, timeout=cfg.duckdb.lock_timeout_seconds):
            _export(cfg, run_id, progress, only_latest=True)
        return None
    except Exception as exc:  # noqa: BLE001 - the build is published either way
        reason = (str(exc) if isinstance(exc, SegkitError)
                  else masked(f"{type(exc).__name__}: {exc}"))
        message = (f"the build {run_id} is published, but its export failed: {reason} "
                   f"Export it again with `python -m segkit export {run_id}`.")
        if progress is not None:
            progress.warn(message)
        return message
