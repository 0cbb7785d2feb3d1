"""Staging, cleaning and features: the SQL half of a build, with row accounting.

Runs the views under ``sql/`` in the build's work database, reads each source
exactly once (the screened transaction lines are materialized as a table, as
dbt's table materialization does), and hands one feature row per customer to
Python as a Polars frame.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl

from segkit import project, warehouse
from segkit.config import Config, CustomersConfig, TransactionsConfig
from segkit.errors import InputError
from segkit.feature_names import BEHAVIOUR_FEATURES, RFM_FEATURES
from segkit.warehouse import quote_ident, quote_literal

# The build keeps these as tables in the work database (their headers say
# materialized: table). The transactions are read once: staging.transactions
# stays a view, inlined into the one transaction-grain table (the line table),
# which also gives the default as-of date (cleaning.as_of); everything at
# customer grain reads features.customer_features_raw, so the RFM aggregate
# runs once, not once per downstream query.
LINE_TABLE = "cleaning.transactions_screened"
AS_OF = "cleaning.as_of"
RAW_FEATURES = "features.customer_features_raw"
HISTOGRAM_BINS = 30


@dataclass
class FeatureResult:
    """What the SQL stage hands to modelling, tracking and the report."""

    frame: pl.DataFrame  # customer_id + features, ordered by customer_id
    numeric_features: list[str]
    onehot_features: list[str]
    as_of: dt.date
    accounting: pl.DataFrame  # source, reason (null = used), n_rows
    column_quality: pl.DataFrame
    histograms: pl.DataFrame
    quarantine: Any  # Arrow table of rejected rows
    models: list[project.Model]  # the enabled models of sql/ up to features, upstream first
    rendered: dict[str, str]  # model -> the SQL this build ran (also what the warehouse shows)
    # run_table models (header published: run_table) -> the rows the build computed,
    # stored per run in the warehouse
    run_tables: dict[str, Any] = field(default_factory=dict)
    customers_removed: int = 0
    source: str = ""
    warnings: list[str] = field(default_factory=list)
    # seconds spent reading and checking the source rows (the "load" stage);
    # the rest of the SQL stage is the "features" stage
    load_seconds: float = 0.0
    # canonical feature -> how people call it: the source column as written, or
    # its [features] labels entry; one-hot columns read "<column>: <level>"
    labels: dict[str, str] = field(default_factory=dict)
    # one per categorical: {"attribute", "label", "levels": [(one-hot column, level)]}
    categoricals: list[dict[str, Any]] = field(default_factory=list)

    @property
    def views(self) -> list[project.Model]:
        """The models this build ran (older name, kept for callers)."""
        return self.models

    @property
    def rows_in(self) -> int:
        return int(self.accounting.filter(pl.col("source") == self.primary_source)["n_rows"].sum())

    @property
    def rows_used(self) -> int:
        used = self.accounting.filter((pl.col("source") == self.primary_source)
                                      & pl.col("reason").is_null())
        return int(used["n_rows"].sum())

    @property
    def rows_quarantined(self) -> int:
        return self.rows_in - self.rows_used

    @property
    def primary_source(self) -> str:
        sources = set(self.accounting["source"].to_list())
        return "transactions" if "transactions" in sources else "customers"


def slug(name: str) -> str:
    """A canonical snake_case column name for a source column or level."""
    text = re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower()
    if not text or text[0].isdigit():
        text = "c_" + text
    return text


def _source_sql(section: TransactionsConfig | CustomersConfig) -> str:
    """The FROM target of a source: a file reader, or a quoted table name."""
    if section.table:
        return ".".join(quote_ident(p) for p in section.table.split("."))
    path = section.path
    if re.search(r"\.(parquet|pq)$", path, re.IGNORECASE):
        return f"read_parquet({quote_literal(path)}, union_by_name = true)"
    options = ["header = true", "all_varchar = true", "union_by_name = true"]
    if section.delimiter:
        options.append(f"delim = {quote_literal(section.delimiter)}")
    if section.encoding.lower() not in ("utf-8", "utf8"):
        options.append(f"encoding = {quote_literal(section.encoding)}")
    return f"read_csv({quote_literal(path)}, {', '.join(options)})"


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
    if re.search(r"\.(parquet|pq)$", path.name, re.IGNORECASE):
        return
    # DuckDB renames a repeated header ("amount", "amount_1"), which would make
    # the mapping silently pick the first: read the header as written instead.
    options = ["header = false", "all_varchar = true"]
    if section.delimiter:
        options.append(f"delim = {quote_literal(section.delimiter)}")
    if section.encoding.lower() not in ("utf-8", "utf8"):
        options.append(f"encoding = {quote_literal(section.encoding)}")
    try:
        header = con.execute(f"select * from read_csv({quote_literal(str(path))}, "
                             f"{', '.join(options)}) limit 1").fetchall()
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
    source = _source_sql(section)
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
NOT_CAPPED = ("recency_days", "tenure_days", "age")


def _numeric_columns(names: list[str]) -> list[dict[str, Any]]:
    return [{"name": quote_ident(n), "plain": n, "label": quote_literal(n),
             "impute": quote_ident(f"{n}__impute"), "low": quote_ident(f"{n}__low"),
             "high": quote_ident(f"{n}__high"), "capped": n not in NOT_CAPPED}
            for n in names]


def _categorical_levels(con, name: str, cfg: Config) -> list[str]:
    """The levels that get their own one-hot column: common, capped at top_levels."""
    rows = con.execute(
        f"select {quote_ident(name)} as level, count(*) as n from features.customer_features_raw "
        f"where {quote_ident(name)} is not null group by level order by n desc, level"
    ).fetchall()
    total = sum(n for _, n in rows) or 1
    keep = [level for level, n in rows if n / total >= cfg.features.min_level_share]
    return keep[: cfg.features.top_levels]


def _categorical_columns(con, categorical, cfg: Config) -> list[dict[str, Any]]:
    columns = []
    for column in categorical:
        plain = column["plain"]
        levels, taken = [], set()
        for level in _categorical_levels(con, plain, cfg):
            onehot = f"is_{plain}_{slug(level)}"
            while onehot in taken:
                onehot += "_"
            taken.add(onehot)
            levels.append({"value": quote_literal(level), "column": quote_ident(onehot),
                           "plain": onehot, "text": str(level)})
        columns.append({**column, "levels": levels,
                        "other": quote_ident(f"is_{plain}_other"),
                        "unknown": quote_ident(f"is_{plain}_unknown"),
                        "onehot": [lv["plain"] for lv in levels]
                        + [f"is_{plain}_other", f"is_{plain}_unknown"],
                        "level_texts": [lv["text"] for lv in levels] + ["other", "unknown"]})
    return columns


def _labels(context: dict[str, Any], cfg: Config) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Canonical name -> the name people know, and each categorical's one-hot levels."""
    configured = dict(cfg.features.labels)
    written = {c["plain"]: c["written"] for source in ("transactions", "customers")
               for key in ("numeric", "categorical")
               for c in (context[source] or {}).get(key, [])}
    labels = {}
    for column in context["numeric_features"]:
        name = column["plain"]
        source_name = written.get(name, name)
        if source_name in configured:
            labels[name] = configured[source_name]
        elif name in written:
            labels[name] = source_name
    categoricals = []
    for column in context["categorical_features"]:
        source_name = column["written"]
        label = configured.get(source_name, source_name)
        labels[column["plain"]] = label
        levels = list(zip(column["onehot"], column["level_texts"]))
        labels.update((onehot, f"{label}: {text}") for onehot, text in levels)
        categoricals.append({"attribute": column["plain"], "label": label, "levels": levels})
    return labels, categoricals


def _numeric_feature_names(context: dict[str, Any]) -> list[str]:
    """The numeric columns of features.customer_features_raw, known from the config alone."""
    names = list(BEHAVIOUR_FEATURES) if context["transactions"] else []
    customers = context["customers"]
    if customers:
        names += (["age"] if customers["has_age"] else [])
        names += [c["plain"] for c in customers["numeric"]]
    return names


def _add_levels(con, context: dict[str, Any], cfg: Config) -> None:
    """The one part of the context read from data: each categorical's common levels."""
    categorical = [c for source in ("transactions", "customers")
                   for c in (context[source] or {}).get("categorical", [])]
    context["categorical_features"] = _categorical_columns(con, categorical, cfg)


def _as_of_given(cfg: Config) -> dt.date | None:
    if not cfg.as_of:
        return None
    try:
        return dt.date.fromisoformat(cfg.as_of)
    except ValueError:
        raise InputError(f'--as-of "{cfg.as_of}" is not a date; use YYYY-MM-DD.') from None


def render_context(con: duckdb.DuckDBPyConnection, cfg: Config) -> dict[str, Any]:
    """The one render context of the SQL project for a config (docs/SQL.md lists its keys).

    Reads the sources' headers through ``con`` to check the mapping. The
    categorical levels are data: empty here, filled by the build once
    ``features.customer_features_raw`` exists.
    """
    as_of = _as_of_given(cfg)
    context: dict[str, Any] = {
        "transactions": None, "customers": None,
        "features": {"frequency": cfg.features.frequency, "monetary": cfg.features.monetary},
        "as_of_given": quote_literal(as_of) if as_of else "null",
        "age_min": quote_literal(cfg.features.age_range[0]),
        "age_max": quote_literal(cfg.features.age_range[1]),
        "impute_function": {"median": "median", "mean": "avg"}[cfg.features.impute],
        "cap_low": quote_literal(float(cfg.features.cap_quantiles[0])),
        "cap_high": quote_literal(float(cfg.features.cap_quantiles[1])),
        "outliers": cfg.features.outliers,
        "numeric_features": [], "categorical_features": [],
        "segment_features": [], "from_run_id": None, "to_run_id": None,
    }
    taken = set(BEHAVIOUR_FEATURES) | {"customer_id", "age"}  # canonical names in use
    if cfg.transactions:
        context["transactions"] = _transactions_context(con, cfg.transactions, taken)
    if cfg.customers:
        context["customers"] = _customers_context(con, cfg.customers, taken)
    if cfg.features.frequency == "orders" and not (cfg.transactions and cfg.transactions.order_id):
        raise InputError('[features] frequency = "orders" needs order_id in [transactions].')
    context["numeric_features"] = _numeric_columns(_numeric_feature_names(context))
    categorical = [c for source in ("transactions", "customers")
                   for c in (context[source] or {}).get("categorical", [])]
    context["categorical_features"] = [
        {**c, "levels": [], "other": quote_ident(f"is_{c['plain']}_other"),
         "unknown": quote_ident(f"is_{c['plain']}_unknown"),
         "onehot": [f"is_{c['plain']}_other", f"is_{c['plain']}_unknown"]} for c in categorical]
    return context


def segment_context(features: list[str]) -> dict[str, Any]:
    """The context keys of the segments models: the clustered features, in order."""
    return {"segment_features": [
        {"name": quote_ident(f), "label": quote_literal(f),
         "bin_column": quote_ident(f"{f}_bin"), "position": j + 1}
        for j, f in enumerate(features)]}


def project_models(context: dict[str, Any], *, layers=project.LAYERS) -> tuple[
        list[project.Model], dict[str, str]]:
    """The models enabled for this context, upstream first, and their rendered SQL."""
    models = [m for m in project.load_models() if m.layer in layers and m.enabled(context)]
    rendered = {m.name: project.render(m, context) for m in models}
    return project.order(models, rendered), rendered


def _histograms(con, final: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Equal-width histograms of each numeric feature, before and after capping."""
    rows = []
    for name in names:
        # One raw column at a time: the raw frame is as large as the final one.
        before = con.sql(f"select {quote_ident(name)} from features.customer_features_raw"
                         ).pl().to_series().drop_nulls().to_numpy().astype(float)
        before = before[np.isfinite(before)]
        after = final[name].to_numpy().astype(float)
        if before.size == 0:
            continue
        for stage, values in (("raw", before), ("capped", after)):
            # Each stage gets its own bins: capped values squeezed into the raw
            # range's 30 bins would show as a handful of bars.
            counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
            rows += [{"feature": name, "stage": stage, "bin_lower": float(edges[i]),
                      "bin_upper": float(edges[i + 1]), "n_customers": int(c)}
                     for i, c in enumerate(counts)]
    schema = {"feature": pl.String, "stage": pl.String, "bin_lower": pl.Float64,
              "bin_upper": pl.Float64, "n_customers": pl.Int64}
    return pl.DataFrame(rows, schema=schema)


def _no_usable_rows(con, label: str, rows_in: int) -> InputError:
    if rows_in == 0:
        return InputError(f"{label} has no data rows (only a header, or nothing). "
                          "Point [transactions] at a file with transactions.")
    reason, n, example = con.execute(
        "select quarantine_reason, count(*), any_value(coalesce(ordered_at_text, amount_text)) "
        "from cleaning.transactions_checked group by all order by 2 desc limit 1").fetchall()[0]
    hint = reason_hints(con, "transactions").get(reason, "")
    if hint:
        example_text = f" (e.g. {example!r})" if example is not None else ""
        hint = f"{example_text}; {hint}"
    return InputError(f"none of the {rows_in:,} rows in {label} can be used: {n:,} have "
                      f"'{reason}'{hint}.")


def reason_hints(con, source: str) -> dict[str, str]:
    """reason -> hint, from the one list of reasons (cleaning.quarantine_reasons)."""
    return dict(con.execute("select reason, hint from cleaning.quarantine_reasons "
                            "where source = ?", [source]).fetchall())


# A reason that rejects at least this share of a source's rows is worth a
# warning: a date format, a decimal comma, or a rule that matches real data
# (an order id prefix), not a handful of bad lines.
QUARANTINE_WARN_SHARE = 0.01
# Which kept source value shows best what a reason rejected.
_SAMPLE_COLUMN = {
    "missing or unparseable timestamp": "ordered_at_text",
    "amount missing or not a number": "amount_text",
    "amount zero or negative": "amount_text",
    "timestamp after the as-of date": "ordered_at_text",
}


def _lost_customers(con, quarantine) -> pl.DataFrame:
    """Customers whose every transaction line was quarantined, with the reason of most.

    They have lines (so an id) but no usable one: nobody segments them, and
    without this count they would vanish with nothing but a line count to show.
    """
    con.register("_segkit_quarantine", quarantine)
    try:
        return con.sql("""
            with lines as (
                select customer_id, reason, count(*) as n_lines
                from _segkit_quarantine
                where source = 'transactions' and customer_id is not null
                group by all
            ),
            lost as (
                select * from lines
                where customer_id not in (select customer_id
                                          from features.customer_features_raw)
            ),
            ranked as (
                select *, row_number() over (partition by customer_id
                                             order by n_lines desc, reason) as rank
                from lost
            )
            select reason, count(*) as n_customers, min(customer_id) as example
            from ranked where rank = 1 group by all order by reason
        """).pl()
    finally:
        con.unregister("_segkit_quarantine")


def _quarantine_warnings(accounting: pl.DataFrame, hints: dict[str, dict[str, str]],
                         samples: dict | None = None,
                         lost: pl.DataFrame | None = None) -> list[str]:
    """A warning per reason that rejected a notable share of a source's rows, and
    one for customers who lost every line; each names the reason, count and a sample.

    ``hints`` is source -> reason -> hint, from cleaning.quarantine_reasons.
    """
    samples = samples or {}
    warnings = []
    for source in accounting["source"].unique(maintain_order=True).to_list():
        rows = accounting.filter(pl.col("source") == source)
        total = int(rows["n_rows"].sum())
        for reason, n in rows.filter(pl.col("reason").is_not_null()).select(
                "reason", "n_rows").iter_rows():
            if total and n / total >= QUARANTINE_WARN_SHARE:
                hint = hints.get(source, {}).get(reason)
                hint = f"; {hint}" if hint else ""
                sample = samples.get((source, reason))
                example = f", e.g. {sample!r}" if sample is not None else ""
                warnings.append(f"{n:,} of {total:,} {source} rows ({n / total:.1%}) were "
                                f"quarantined as '{reason}'{example} (see cleaning.quarantine)"
                                f"{hint}.")
    if lost is not None and lost.height:
        n_lost = int(lost["n_customers"].sum())
        parts = ", ".join(f"'{r}' for {n:,} (e.g. customer {e!r})"
                          for r, n, e in lost.select("reason", "n_customers", "example")
                          .iter_rows())
        warnings.append(f"{n_lost:,} customers lost every transaction line to quarantine and "
                        f"are not segmented: {parts} (see meta.row_accounting, "
                        "n_customers_lost).")
    return warnings


def _quarantine_samples(con, quarantine) -> dict[tuple[str, str], str]:
    """One source value per (source, reason), the smallest, so builds repeat exactly."""
    con.register("_segkit_quarantine", quarantine)
    try:
        cases = " ".join(f"when '{r}' then {c}" for r, c in _SAMPLE_COLUMN.items())
        rows = con.execute(f"""
            select source, reason,
                   min(coalesce(case reason {cases} end, order_id, customer_id,
                                ordered_at_text, amount_text))
            from _segkit_quarantine group by all
        """).fetchall()
    finally:
        con.unregister("_segkit_quarantine")
    return {(source, reason): value for source, reason, value in rows if value is not None}


def build_features(con: duckdb.DuckDBPyConnection, cfg: Config) -> FeatureResult:
    """Apply the SQL pipeline in the work database and return the feature matrix.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The build's work database (see :func:`segkit.warehouse.connect_work`);
        ``table =`` sources must be readable in it under their own names.
    cfg : Config

    Raises
    ------
    InputError
        A source cannot be read, a mapped column is missing, or no row is usable.
    """
    started = time.perf_counter()
    context = render_context(con, cfg)
    models, rendered = project_models(context, layers=("staging", "cleaning", "features"))
    # The "load" stage first: staging, the line table and the as-of date (they
    # read only each other, so running them first keeps the order valid).
    loading = [m for m in models if m.layer == "staging" or m.name in (LINE_TABLE, AS_OF)]
    models = loading + [m for m in models if m not in loading]
    load_seconds = None
    for model in models:
        if load_seconds is None and model not in loading:
            load_seconds = round(time.perf_counter() - started, 4)
        # Rendered again where the context grew (the levels); same SQL otherwise.
        sql = rendered[model.name] = project.render(model, context)
        con.execute(project.create_sql(model.name, sql,
                                       materialize=model.materialized == "table"))
        if model.name == RAW_FEATURES:
            _add_levels(con, context, cfg)
    as_of = con.execute(f"select as_of_date from {AS_OF}").fetchall()[0][0]

    accounting_sql = []
    if cfg.transactions:
        accounting_sql.append("select 'transactions' as source, quarantine_reason as reason, "
                              "count(*) as n_rows from cleaning.transactions_checked group by all")
    if cfg.customers:
        accounting_sql.append("select 'customers' as source, quarantine_reason as reason, "
                              "count(*) as n_rows from cleaning.customers_checked group by all")
    accounting = con.sql(" union all ".join(accounting_sql)
                             + " order by source, reason nulls first").pl()

    if cfg.transactions:
        label = Path(cfg.transactions.path).name if cfg.transactions.path else cfg.transactions.table
        rows_in = int(accounting.filter(pl.col("source") == "transactions")["n_rows"].sum())
        used = accounting.filter((pl.col("source") == "transactions") & pl.col("reason").is_null())
        if used.is_empty():
            raise _no_usable_rows(con, label, rows_in)
    n_raw = con.execute("select count(*) from features.customer_features_raw").fetchall()[0][0]
    if n_raw == 0:
        raise InputError("no customer has usable data: every row was quarantined.")
    numeric = [c["plain"] for c in context["numeric_features"]]
    onehot = [name for c in context["categorical_features"] for name in c["onehot"]]
    quality = con.sql("select * from features.column_quality order by column_kind desc, "
                      "column_name").pl()
    quarantine = con.sql("select * from cleaning.quarantine").to_arrow_table()
    if cfg.transactions:
        # Everything left reads customer-grain tables: free the line-grain one
        # before the per-customer frames come to Python (matters at 100M lines),
        # leaving the view in its place.
        con.execute(f"drop table {LINE_TABLE}")
        con.execute(project.create_sql(LINE_TABLE, rendered[LINE_TABLE]))
    frame = con.sql("select * from features.customer_features").pl()
    histograms = _histograms(con, frame, numeric)
    lost = (_lost_customers(con, quarantine) if cfg.transactions
            else pl.DataFrame(schema={"reason": pl.String, "n_customers": pl.Int64,
                                      "example": pl.String}))
    accounting = (accounting.join(
        lost.select("reason", pl.col("n_customers").alias("n_customers_lost"))
        .with_columns(pl.lit("transactions").alias("source")),
        on=["source", "reason"], how="left")
        .with_columns(pl.col("n_customers_lost").fill_null(0).cast(pl.Int64)))
    hints = {source: reason_hints(con, source)
             for source in accounting["source"].unique().to_list()}
    warnings = _quarantine_warnings(accounting, hints, _quarantine_samples(con, quarantine), lost)
    if context["customers"] and context["customers"]["has_age"]:
        n_absurd = con.execute("select count(*) from cleaning.customers "
                               "where is_age_impossible").fetchall()[0][0]
        if n_absurd:
            low, high = cfg.features.age_range
            warnings.append(f"{n_absurd:,} customers have an age outside [features] age_range "
                            f"[{low}, {high}] (negative, or a typo like 1893); their age was "
                            "treated as missing and imputed (see meta.column_quality).")
    removed = n_raw - frame.height
    if removed:
        warnings.append(f"{removed:,} customers were removed as outliers "
                        f"(outside the {cfg.features.cap_quantiles} quantiles of a feature).")
    source = cfg.transactions or cfg.customers
    labels, categoricals = _labels(context, cfg)
    # What the warehouse keeps per run: the build's own rows, not a view of the source.
    run_tables = {"features.customer_features": frame, "features.column_quality": quality,
                  "cleaning.quarantine": quarantine,
                  "features.numeric_bounds": con.sql("select * from features.numeric_bounds").pl()}
    return FeatureResult(
        frame=frame, numeric_features=numeric, onehot_features=onehot, as_of=as_of,
        accounting=accounting, column_quality=quality,
        histograms=histograms, quarantine=quarantine, models=models,
        rendered=rendered, run_tables=run_tables, customers_removed=removed,
        source=source.path or source.table, warnings=warnings,
        load_seconds=load_seconds or 0.0, labels=labels, categoricals=categoricals)


# -- the SQL project for `segkit sql list` and `segkit sql render` ---------------

def _spark_value(value: Any) -> Any:
    """A context value in Spark's spelling: `quoted` identifiers, file sources as paths."""
    if isinstance(value, dict):
        return {k: _spark_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_spark_value(v) for v in value]
    if isinstance(value, str):
        source = re.match(r"read_(csv|parquet)\('((?:[^']|'')*)'", value)
        if source:
            return f"{source.group(1)}.`{source.group(2).replace(chr(39) * 2, chr(39))}`"
        if len(value) > 1 and value[0] == value[-1] == '"':
            return "`" + value[1:-1].replace('""', '"').replace("`", "``") + "`"
    return value


def for_dialect(context: dict[str, Any], dialect: str) -> dict[str, Any]:
    """The render context with identifiers and sources spelled for ``dialect``."""
    return _spark_value(context) if dialect == "spark" else context


def _clustered_features(cfg: Config) -> list[str]:
    """The features the segments models name: the latest build's, else the config's."""
    if cfg.warehouse.exists():
        wh = warehouse.connect(cfg.warehouse, cfg.duckdb, read_only=True)
        try:
            rows = wh.execute("select r.features from segments.latest_run l "
                              "join meta.runs r using (run_id)").fetchall()
        except duckdb.Error:  # no build yet
            rows = []
        finally:
            wh.close()
        if rows and rows[0][0]:
            return rows[0][0].split(",")
    return list(cfg.model.features or RFM_FEATURES)


def compile_project(con: duckdb.DuckDBPyConnection, cfg: Config, *,
                    dialect: str = "duckdb") -> tuple[list[project.Model], dict[str, str]]:
    """Every enabled model rendered for the current config, upstream first.

    With categorical columns configured, the levels are data: the models up to
    ``features.customer_features_raw`` run in ``con`` (DuckDB) to find them.
    """
    context = render_context(con, cfg)
    context.update(segment_context(_clustered_features(cfg)))
    models, rendered = project_models(context)
    if context["categorical_features"]:
        for model in models:
            if model.layer == "segments":
                continue
            con.execute(project.create_sql(model.name, project.render(model, context),
                                           materialize=model.materialized == "table"))
            if model.name == RAW_FEATURES:
                _add_levels(con, context, cfg)
                break
    context = for_dialect(context, dialect)
    rendered = {m.name: project.render(m, context, dialect=dialect) for m in models}
    return models, rendered
