"""The backtest's fit over the build's own line work: the purchases as of an earlier day.

A build's backtest fits again as of d = as-of date - horizon, exactly as
``segkit build --as-of d`` would. Most of that build would be the same work
as the build's own: reading the source, the line checks, the line groups,
the exact repeats. None of it depends on the as-of date, so the fit does not
do it again. It starts from the build's purchases cut at d
(:func:`purchases_until`, whose docstring says why the cut is exact) and the
build's staged customer rows, and makes every model downstream of them
(:func:`fit_model_names`: the purchases' features, the customers' ages, the
bounds, levels and features over the customers as of d) from the same SQL
files, with ``cleaning.as_of`` = d.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass
from typing import Any

import polars as pl

from segkit import project, warehouse
from segkit.config import Config
from segkit.errors import InputError
from segkit.features.context import AS_OF, RAW_FEATURES
from segkit.features.run import DuckDBModels, FeatureResult, run_models

PURCHASES = "cleaning.purchases"
STAGED_CUSTOMERS = "staging.customers"
# What the fit takes from the build, as the build made it: the purchases (cut
# at d) and the staged customer rows (a typed copy of the source: no date in it).
SHARED_MODELS = (PURCHASES, STAGED_CUSTOMERS)


def backtest_day(cfg: Config, as_of: dt.date) -> dt.date | None:
    """The backtest date d = ``as_of`` - ``[backtest] horizon_days``; ``None`` when the
    build has no backtest to fit (turned off, or no transactions)."""
    h = cfg.backtest.horizon_days
    if not cfg.backtest.enabled or h == 0 or not cfg.transactions:
        return None
    return as_of - dt.timedelta(days=h)


def purchases_until(day: dt.date) -> str:
    """The purchases a build as of ``day`` makes, from the build's own ``cleaning.purchases``.

    The cut: ``select * from cleaning.purchases where purchase_date <= day``,
    for any ``day`` on or before the build's as-of date. It is exact, because
    nothing before ``cleaning.purchases`` depends on the as-of date but the
    filter at its end:

    - the line checks (``line_reason`` in ``sql/macros/checks.sql``, used by
      ``cleaning.transactions_screened`` and ``cleaning.line_groups``) read
      the line alone; ``staging.transactions`` types the line, no date in it;
    - the line groups (``cleaning.line_groups``) and the days that may hold a
      repeat (``repeat_days``) are the usable lines grouped by customer, day,
      order and categorical values: no date in them;
    - the exact repeats (``cleaning.transactions_set_aside``): a repeat is
      numbered among the copies of its content (``copy_number``), and a line
      of a day that may hold a repeat is set aside whatever the as-of date.
      The as-of date only adds lines after it to the lines set aside (as
      ``timestamp after the as-of date``, not as duplicates) and a column
      ``is_after`` that is a function of ``ordered_at``, already a key of the
      copies: the duplicates are the same lines for any as-of date;
    - ``cleaning.purchases`` takes those duplicates out of their groups, then
      keeps ``purchase_date <= as_of_date``. The day is a key of every group,
      so that filter commutes with the sums: as of d, the purchases are the
      build's purchases with ``purchase_date <= d``, row for row.

    The as-of date enters again only downstream, where the fit makes the
    models anew as of d: recency and tenure (``features.customer_rfm``),
    ages (``cleaning.customers``), the categorical levels, bounds and
    imputed values over the customers as of d. The quarantine and the row
    accounting (lines after d) are the build's business, not the fit's.
    """
    return f"select * from {PURCHASES} where purchase_date <= {_date(day)}"


def _date(day: dt.date) -> str:
    """A date literal both dialects read."""
    return f"date '{day.isoformat()}'"


def as_of_sql(day: dt.date) -> str:
    """``cleaning.as_of`` as ``sql/cleaning/as_of.sql`` makes it when the date is given."""
    return f"select cast({_date(day)} as date) as as_of_date"


def fit_context(context: dict[str, Any], day: dt.date) -> dict[str, Any]:
    """The build's render context (as it was before its levels were found) as of ``day``."""
    return {**context, "as_of_given": _date(day)}


def fit_model_names(models: list[project.Model], rendered: dict[str, str]) -> set[str]:
    """The models the fit makes: every model that reads only the shared models,
    ``cleaning.as_of`` and models the fit makes (so none that reads a line)."""
    made = set(SHARED_MODELS) | {AS_OF}
    names = set()
    for model in models:  # upstream first
        if model.name in made:
            continue
        # named as project.order names them: the same cached parse
        reads = project.dependencies(rendered[model.name], name=str(model.path)) & {
            m.name for m in models}
        if reads and reads <= made:
            made.add(model.name)
            names.add(model.name)
    return names


@dataclass
class SharedLineWork:
    """What the build keeps for its backtest's fit: the cut purchases, the staged customers.

    ``context`` is the build's render context before its levels were found;
    ``purchases`` and ``customers`` are Arrow tables (``customers`` None
    without a customers source); ``source`` the build's source label.
    """

    day: dt.date
    context: dict[str, Any]
    purchases: Any
    customers: Any
    source: str = ""


def keep_line_work(con, cfg: Config, context: dict[str, Any],
                   as_of: dt.date) -> SharedLineWork | None:
    """What the backtest's fit needs of the build's work database ``con`` (None when
    the build fits no backtest). Called before the line groups are let go."""
    day = backtest_day(cfg, as_of)
    if day is None:
        return None
    customers = (con.sql(f"select * from {STAGED_CUSTOMERS}").to_arrow_table()
                 if cfg.customers else None)
    return SharedLineWork(day=day, context=context, customers=customers,
                          purchases=con.sql(purchases_until(day)).to_arrow_table())


def fit_features(shared: SharedLineWork, cfg: Config, run_id: str) -> tuple[
        FeatureResult, pl.DataFrame]:
    """The fit's features as of ``shared.day`` and its ``features.customer_purchases``.

    A private in-memory DuckDB where ``cleaning.purchases`` and
    ``staging.customers`` are the build's (``shared``) and ``cleaning.as_of``
    is the day; :func:`segkit.features.run_models` makes the rest, the
    models :func:`fit_model_names` names, from the same SQL files as a build.
    Raises :class:`InputError` when no customer has usable data as of the day.
    """
    if cfg.as_of != shared.day.isoformat():
        raise ValueError(f"the shared line work is as of {shared.day}, the fit as of {cfg.as_of}")
    started = time.perf_counter()
    work_tmp = cfg.warehouse.parent / ".tmp" / run_id
    con = warehouse.connect_work(cfg.duckdb, work_tmp)
    try:
        con.register("shared_purchases", shared.purchases)
        con.execute(f"create view {PURCHASES} as select * from shared_purchases")
        if shared.customers is not None:
            con.register("shared_customers", shared.customers)
            con.execute(f"create view {STAGED_CUSTOMERS} as select * from shared_customers")
        con.execute(project.create_sql(AS_OF, as_of_sql(shared.day), materialize=True))
        context = fit_context(shared.context, shared.day)
        run = run_models(cfg, context, DuckDBModels(con, {}, context), started=started,
                         only=fit_model_names)
        if con.execute(f"select count(*) from {RAW_FEATURES}").fetchall()[0][0] == 0:
            raise InputError("no customer has usable data: every row was quarantined.")
        frame = con.sql("select * from features.customer_features").pl()
        purchases = con.sql("select * from features.customer_purchases").pl()
    finally:
        con.close()
        shutil.rmtree(work_tmp, ignore_errors=True)
    feats = FeatureResult(
        frame=frame, numeric_features=run.numeric_features,
        onehot_features=run.onehot_features, as_of=shared.day,
        accounting=pl.DataFrame(schema={"source": pl.String, "reason": pl.String,
                                        "n_rows": pl.Int64}),
        # what only a build reports (the fit's figures are its segments)
        column_quality=pl.DataFrame(), histograms=pl.DataFrame(), quarantine=None,
        models=run.models, rendered=run.rendered, source=shared.source,
        labels=run.labels, categoricals=run.categoricals)
    return feats, purchases
