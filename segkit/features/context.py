"""The render context of the SQL project: columns, caps, levels, labels, dialect spelling."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import duckdb

from segkit import project
from segkit.config import MAX_AMOUNT_DECIMALS, Config, TransactionsConfig
from segkit.errors import InputError
from segkit.feature_names import BEHAVIOUR_FEATURES
from segkit.sources import customers_context, open_sources, slug, transactions_context
from segkit.warehouse import quote_ident, quote_literal


# The build keeps these as tables in the work database (their headers say
# materialized: table). The transactions are read in full once: staging.transactions
# stays a view, inlined into the one aggregate of the usable lines by customer
# and day (the line groups), which also gives the default as-of date
# (cleaning.as_of); a second, filtered read keeps only the lines whose content
# is needed (cleaning.transactions_set_aside). Nothing at line grain goes
# through a window or a sort. Everything at customer grain reads
# features.customer_features_raw, so the RFM aggregate runs once, not once
# per downstream query.
LINE_TABLE = "cleaning.line_groups"
AS_OF = "cleaning.as_of"
RAW_FEATURES = "features.customer_features_raw"


NOT_CAPPED = ("recency_days", "tenure_days", "age")

# A line's amount keeps this many digits before the point (below 10^14): a
# customer's total, DECIMAL(38, s), then has ten more, room for ten billion lines.
AMOUNT_INTEGER_DIGITS = 14
_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                  "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
_DECIMAL_TYPE = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def _money_kind(type_name: str) -> tuple[str, int | None]:
    """How a money column is read (the to_decimal macro), and its scale: ``exact``
    when its type holds decimals segkit keeps as they are (an integer, a DECIMAL
    of at most MAX_AMOUNT_DECIMALS decimals), ``float`` for a DOUBLE or FLOAT,
    ``text`` otherwise (text, a DECIMAL with more decimals)."""
    name = type_name.upper()
    if name in _INTEGER_TYPES:
        return "exact", 0
    if name in ("DOUBLE", "FLOAT"):
        return "float", None
    decimal = _DECIMAL_TYPE.fullmatch(name)
    if decimal and int(decimal.group(2)) <= MAX_AMOUNT_DECIMALS:
        return "exact", int(decimal.group(2))
    return "text", None


def _add_money(con, transactions: dict[str, Any], cfg: TransactionsConfig) -> None:
    """How the amount (or quantity and unit price) is read (``*_kind``), and the
    amount's scale: the amount column's own when it is exact, else amount_decimals."""
    keys = [key for key in ("amount", "quantity", "unit_price") if transactions[key]]
    types = con.execute(f"describe select {', '.join(transactions[k] for k in keys)} "
                        f"from {transactions['source']}").fetchall()
    scale = cfg.amount_decimals
    for key in ("amount", "quantity", "unit_price"):
        transactions[f"{key}_kind"] = None
    for key, row in zip(keys, types):
        kind, declared = _money_kind(row[1])
        transactions[f"{key}_kind"] = kind
        if key == "amount" and kind == "exact":
            scale = declared
    transactions["amount_scale"] = scale
    transactions["amount_precision"] = scale + AMOUNT_INTEGER_DIGITS


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


def _scores(cfg: Config) -> dict[str, Any]:
    """The ``scores`` context of ``sql/features/customer_scores.sql``, from ``[scores]``."""
    from segkit.scores import scores_context  # parses the groups with SQLGlot

    groups = cfg.scores.groups
    return scores_context(groups if isinstance(groups, str) else dict(groups),
                          cfg.scores.levels)


def render_context(con: duckdb.DuckDBPyConnection, cfg: Config,
                   opened: dict | None = None) -> dict[str, Any]:
    """The one render context of the SQL project for a config (docs/SQL.md lists its keys).

    ``opened``: the sources made readable in ``con``
    (:func:`segkit.sources.open_sources`, which runs when it is None).
    Reads the sources' headers through ``con`` to check the mapping. The
    categorical levels are data: empty here, filled by the build once
    ``features.customer_features_raw`` exists.
    """
    as_of = _as_of_given(cfg)
    context: dict[str, Any] = {
        "transactions": None, "customers": None,
        "features": {"frequency": cfg.features.frequency, "monetary": cfg.features.monetary,
                     "money_decimals": cfg.features.money_decimals},
        "as_of_given": quote_literal(as_of) if as_of else "null",
        "age_min": quote_literal(cfg.features.age_range[0]),
        "age_max": quote_literal(cfg.features.age_range[1]),
        "impute_function": {"median": "median", "mean": "avg"}[cfg.features.impute],
        "cap_low": quote_literal(float(cfg.features.cap_quantiles[0])),
        "cap_high": quote_literal(float(cfg.features.cap_quantiles[1])),
        "outliers": cfg.features.outliers,
        "numeric_features": [], "categorical_features": [],
        "segment_features": [], "from_run_id": None, "to_run_id": None, "scores": None,
    }
    taken = set(BEHAVIOUR_FEATURES) | {"customer_id", "age"}  # canonical names in use
    if opened is None:
        opened = open_sources(con, cfg)
    if cfg.transactions:
        context["transactions"] = transactions_context(con, opened["transactions"], taken)
        _add_money(con, context["transactions"], cfg.transactions)
    if cfg.customers:
        context["customers"] = customers_context(con, opened["customers"], taken)
    if cfg.features.frequency == "orders" and not (cfg.transactions and cfg.transactions.order_id):
        raise InputError('[features] frequency = "orders" needs order_id in [transactions].')
    if cfg.transactions:  # features.customer_scores: R, F, M scores of every buyer
        context["scores"] = _scores(cfg)
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
