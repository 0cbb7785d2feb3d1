"""The SQL project under ``sql/``: model headers, rendering, dependencies and versions.

Each ``sql/<layer>/<name>.sql`` is the model ``<layer>.<name>``: one ``select``
with a header of ``-- key: value`` comment lines that says what it is (see
docs/SQL.md). Dependencies come from parsing the rendered SQL with SQLGlot,
and a version is a fingerprint of the parsed query, so comments and layout are
not a new version while a config change that changes the SQL is.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import jinja2
import sqlglot
from sqlglot import exp

from segkit.errors import ProjectError

LAYERS = ("staging", "cleaning", "features", "segments")
DIALECTS = ("duckdb", "spark")
MATERIALIZATIONS = ("view", "table", "ephemeral")
# How the warehouse holds a model (docs/SQL.md):
#   live      the rendered SQL as a view: reads the configured source now
#   run_table the build's rows in a run-keyed history table, a current view of
#             the latest run under the model's name, and the rendered SQL as
#             <schema>.live_<name>
#   view      the rendered SQL as a view over run-keyed tables (segments.*)
PUBLISHED = ("live", "run_table", "view")
HEADER_KEYS = ("materialized", "published", "history", "grain", "requires", "unique",
               "not_null", "accepted_values")


def sql_dir() -> Path:
    """The folder of versioned SQL: packaged in a wheel, or the repo's ``sql/``."""
    packaged = Path(__file__).parent / "sql"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "sql"


def quote_ident(name: str) -> str:
    """A DuckDB identifier, quoted so any column name is safe in SQL."""
    return '"' + str(name).replace('"', '""') + '"'


def quote_literal(value: Any) -> str:
    """A SQL literal for a config value: strings quoted, numbers checked."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"not a finite number: {value!r}")
        return repr(value)
    if isinstance(value, dt.date):
        return f"date '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


# -- headers -------------------------------------------------------------------

_HEADER_START = re.compile(r"^--\s*model:\s*$")
_HEADER_LINE = re.compile(r"^--\s+([a-z_]+):\s*(.*?)\s*$")


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def parse_header(text: str, path: Path) -> dict[str, Any]:
    """The ``-- model:`` block at the top of a model file, as a dict.

    ``accepted_values`` is ``column = a | b | c`` (several separated by ``;``);
    ``unique`` and ``not_null`` are comma-separated columns.
    """
    lines = text.splitlines()
    if not lines or not _HEADER_START.match(lines[0]):
        raise ProjectError(f"{path}: a model file starts with a '-- model:' header "
                           "(see docs/SQL.md), found {lines[0]!r}." if lines else
                           f"{path} is empty; a model file holds a header and one select.")
    header: dict[str, Any] = {}
    for line in lines[1:]:
        match = _HEADER_LINE.match(line)
        if not match:
            break
        key, value = match.groups()
        if key not in HEADER_KEYS:
            raise ProjectError(f"{path}: unknown header key {key!r}; the keys are "
                               f"{', '.join(HEADER_KEYS)}.")
        header[key] = value
    materialized = header.get("materialized", "view")
    if materialized not in MATERIALIZATIONS:
        raise ProjectError(f"{path}: materialized: {materialized!r}; use one of "
                           f"{', '.join(MATERIALIZATIONS)}.")
    published = header.get("published", "live")
    if published not in PUBLISHED:
        raise ProjectError(f"{path}: published: {published!r}; use one of "
                           f"{', '.join(PUBLISHED)}.")
    accepted: dict[str, tuple[str, ...]] = {}
    for part in header.get("accepted_values", "").split(";"):
        if not part.strip():
            continue
        column, _, values = part.partition("=")
        if not values:
            raise ProjectError(f"{path}: accepted_values {part.strip()!r}; write "
                               "'column = a | b | c'.")
        accepted[column.strip()] = tuple(v.strip() for v in values.split("|") if v.strip())
    return {
        "materialized": materialized, "published": published,
        "history": header.get("history") or None,
        "grain": header.get("grain", ""), "requires": header.get("requires") or None,
        "unique": _split_list(header.get("unique", "")),
        "not_null": _split_list(header.get("not_null", "")),
        "accepted_values": accepted,
    }


@dataclass(frozen=True)
class Model:
    """One SQL file: ``sql/<layer>/<name>.sql`` is the model ``<layer>.<name>``."""

    name: str
    path: Path
    template: str
    materialized: str = "view"
    published: str = "live"
    history: str | None = None
    grain: str = ""
    requires: str | None = None  # "transactions" or "customers": exists only with that source
    unique: tuple[str, ...] = ()
    not_null: tuple[str, ...] = ()
    accepted_values: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def layer(self) -> str:
        return self.name.split(".")[0]

    @property
    def history_table(self) -> str | None:
        """Where a ``run_table`` model's rows live, keyed by ``run_id``."""
        if self.published != "run_table":
            return None
        return self.history or f"{self.name}_history"

    @property
    def live_name(self) -> str:
        """The warehouse name of the rendered SQL: the model's own, or live_ for run tables."""
        if self.published == "run_table":
            schema, name = self.name.split(".")
            return f"{schema}.live_{name}"
        return self.name

    def enabled(self, context: dict[str, Any]) -> bool:
        """A model that needs a source exists only when that source is configured."""
        return not self.requires or bool(context.get(self.requires))


# Kept for callers that still say "view": every model is one.
View = Model


def load_models() -> list[Model]:
    """Every model under ``sql/``, by layer then file name (see :func:`order` for the DAG)."""
    models = []
    for layer in LAYERS:
        for path in sorted((sql_dir() / layer).glob("*.sql")):
            text = path.read_text(encoding="utf-8")
            models.append(Model(f"{layer}.{path.stem}", path, text, **parse_header(text, path)))
    return models


# -- rendering -------------------------------------------------------------------

def _environment() -> jinja2.Environment:
    return jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                              keep_trailing_newline=True)


_ENV = _environment()
_MACROS: dict[str, Any] = {}


def macros(dialect: str = "duckdb") -> dict[str, Any]:
    """The dialect macros of ``sql/macros/*.sql`` (docs/SQL.md), by name."""
    if dialect not in DIALECTS:
        raise ProjectError(f"dialect {dialect!r}: use one of {', '.join(DIALECTS)}.")
    key = f"{sql_dir()}:{dialect}"
    if key not in _MACROS:
        found: dict[str, Any] = {}
        for path in sorted((sql_dir() / "macros").glob("*.sql")):
            module = _ENV.from_string(path.read_text(encoding="utf-8")).make_module(
                vars={"dialect": dialect})
            found.update({name: getattr(module, name) for name in dir(module)
                          if not name.startswith("_")})
        _MACROS[key] = found
    return _MACROS[key]


@functools.lru_cache(maxsize=256)
def _template(text: str) -> jinja2.Template:
    # Compiling a template costs more than rendering it; a build renders every model.
    return _ENV.from_string(text)


def render(model: Model, context: dict[str, Any], *, dialect: str = "duckdb") -> str:
    """The model's SQL for this context and dialect, macros expanded."""
    macro_functions = macros(dialect)
    try:
        return _template(model.template).render(
            **macro_functions, **context, dialect=dialect)
    except jinja2.UndefinedError as exc:
        raise ProjectError(f"{model.path}: {exc.message} (the render context lacks it; "
                           "see docs/SQL.md for the context's keys).") from None


def render_string(text: str, context: dict[str, Any], *, dialect: str = "duckdb") -> str:
    """SQL text that calls the project's macros (``segkit score`` uses the assignment rule)."""
    return _template(text).render(**macros(dialect), **context, dialect=dialect)


def render_model(name: str, context: dict[str, Any], *, dialect: str = "duckdb") -> str:
    """One model by name, for a context that holds just the keys it reads."""
    model = next((m for m in load_models() if m.name == name), None)
    if model is None:
        raise ProjectError(f"no model {name!r} under {sql_dir()}.")
    return render(model, context, dialect=dialect)


def create_sql(name: str, sql: str, *, materialize: bool = False) -> str:
    kind = "table" if materialize else "view"
    return f"create or replace {kind} {name} as\n{sql}"


def parse(sql: str, *, dialect: str = "duckdb", name: str = "") -> exp.Expression:
    """The rendered SQL as a SQLGlot tree; a clear error when it does not parse."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except sqlglot.errors.ParseError as exc:
        raise ProjectError(f"{name or 'SQL'} does not parse as {dialect} SQL: "
                           f"{str(exc).splitlines()[0]}") from None
    return tree


def dependencies(sql: str, *, dialect: str = "duckdb", name: str = "") -> set[str]:
    """The ``schema.table`` names a query reads (CTE names are not tables)."""
    return set(_dependencies(sql, dialect, name))


@functools.lru_cache(maxsize=256)
def _dependencies(sql: str, dialect: str, name: str) -> frozenset[str]:
    # Cached like fingerprint: a build orders the same rendered SQL more than once.
    tree = parse(sql, dialect=dialect, name=name)
    # Models are always schema-qualified; an unqualified name is a CTE, a
    # registered frame or a table function (read_csv), not a model.
    return frozenset(f"{table.db}.{table.name}" for table in tree.find_all(exp.Table)
                     if table.db)


@functools.lru_cache(maxsize=256)
def fingerprint(sql: str, *, dialect: str = "duckdb") -> str:
    """A hash of the parsed query: comments and layout do not change it."""
    tree = parse(sql, dialect=dialect)
    canonical = tree.sql(dialect=dialect, comments=False, normalize=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def base_name(name: str) -> str:
    """A live_ name points at its model for ordering: features.live_x is features.x."""
    schema, _, table = name.partition(".")
    return f"{schema}.{table[5:]}" if table.startswith("live_") else name


def order(models: list[Model], rendered: dict[str, str], *,
          dialect: str = "duckdb") -> list[Model]:
    """The models upstream first, by the tables each rendered query reads."""
    by_name = {m.name: m for m in models}
    graph = {}
    for model in models:
        deps = {base_name(d) for d in dependencies(rendered[model.name], dialect=dialect,
                                               name=str(model.path))}
        graph[model.name] = (deps & by_name.keys()) - {model.name}
    try:
        # static_order breaks ties by insertion; models are by layer then name.
        names = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise ProjectError(f"the models read each other in a cycle: {' -> '.join(exc.args[1])}."
                           ) from None
    # Layer by layer (a model reads its own layer or those below), upstream first.
    position = {n: i for i, n in enumerate(names)}
    names.sort(key=lambda n: (LAYERS.index(by_name[n].layer), position[n]))
    return [by_name[n] for n in names]


def upstream(model_name: str, models: list[Model], rendered: dict[str, str]) -> set[str]:
    """Every model ``model_name`` reads, directly or through others."""
    by_name = {m.name for m in models}
    seen: set[str] = set()
    todo = [model_name]
    while todo:
        name = todo.pop()
        for dep in dependencies(rendered[name]):
            dep = base_name(dep)
            if dep in by_name and dep not in seen and dep != name:
                seen.add(dep)
                todo.append(dep)
    return seen


# -- data tests from the headers -------------------------------------------------

def audits(model: Model, relation: str | None = None) -> list[tuple[str, str]]:
    """The header's data tests as (description, query returning the failing rows)."""
    rel = relation or model.name
    checks = []
    for column in model.not_null:
        checks.append((f"{model.name}.{column} is not null",
                       f"select * from {rel} where {column} is null"))
    if model.unique:
        key = ", ".join(model.unique)
        checks.append((f"{model.name} is unique on ({key})",
                       f"select {key}, count(*) as n from {rel} group by {key} "
                       "having count(*) > 1"))
    for column, values in model.accepted_values.items():
        allowed = ", ".join(quote_literal(v) for v in values)
        checks.append((f"{model.name}.{column} in ({', '.join(values)})",
                       f"select * from {rel} where {column} is not null "
                       f"and {column} not in ({allowed})"))
    return checks


# -- versions ----------------------------------------------------------------------

def version_models(con, rendered: dict[str, str]) -> dict[str, tuple[int, str]]:
    """Record a version for each model whose fingerprint is new; name -> (version, hash)."""
    known = {}
    for name, version, sql_hash in con.execute(
            "select view_name, version, sql_hash from meta.view_versions").fetchall():
        known[(name, sql_hash)] = version
    latest = dict(con.execute(
        "select view_name, max(version) from meta.view_versions group by view_name").fetchall())
    result = {}
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    for name, sql in rendered.items():
        sql_hash = fingerprint(sql)
        version = known.get((name, sql_hash))
        if version is None:
            version = latest.get(name, 0) + 1
            latest[name] = version
            known[(name, sql_hash)] = version
            con.execute("insert into meta.view_versions values (?, ?, ?, ?, ?)",
                        [name, version, sql_hash, sql, now])
        result[name] = (version, sql_hash)
    return result
