"""The Spark engine's backtest fit over the build's own line work.

As on DuckDB (:mod:`segkit.features.backtest_fit`, whose
:func:`~segkit.features.backtest_fit.purchases_until` says why the cut is
exact): the fit's session gets the build's ``cleaning.purchases`` cut at the
backtest date d and the build's ``staging.customers``, through global
temporary views, and ``cleaning.as_of`` = d; then the models after them
(:func:`~segkit.features.backtest_fit.fit_model_names`) run as Spark SQL from
the same files. The source is not read again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from typing import Any

import polars as pl

from segkit.config import Config
from segkit.errors import InputError
from segkit.features import AS_OF, RAW_FEATURES, run_models
from segkit.features.backtest_fit import (
    PURCHASES,
    STAGED_CUSTOMERS,
    SHARED_MODELS,
    as_of_sql,
    fit_context,
    fit_model_names,
    purchases_until,
)
from segkit.spark import sql as ssql


class FitModels(ssql.SparkModels):
    """:class:`segkit.spark.sql.SparkModels` whose references also reach the shared
    models and the as-of date, which the fit's session holds without making them."""

    def prepare(self, models) -> None:
        super().prepare(models)
        self.names |= set(SHARED_MODELS) | {AS_OF}


def share_line_work(build_spark, fit_spark, cfg: Config, day: dt.date, tag: str) -> list[str]:
    """The build session's purchases cut at ``day`` and staged customers, as the fit
    session's views of the same names. Returns the global temporary views to drop
    once the fit is done."""
    shared = {PURCHASES: purchases_until(day)}
    if cfg.customers:
        shared[STAGED_CUSTOMERS] = f"select * from {STAGED_CUSTOMERS}"
    names = []
    for model, sql in shared.items():
        view = ssql.view_name(model)
        rows = build_spark.sql(ssql.localize(sql, set(SHARED_MODELS)))
        if model == PURCHASES:  # a view of the line groups in the build: computed once here
            rows = rows.localCheckpoint(eager=True)
        names.append(f"{tag}_{view}")
        rows.createOrReplaceGlobalTempView(names[-1])
        fit_spark.catalog.dropTempView(view)
        fit_spark.table(f"global_temp.{names[-1]}").createOrReplaceTempView(view)
    return names


def drop_shared(build_spark, names: list[str]) -> None:
    """Drop the global temporary views :func:`share_line_work` made."""
    for name in names:
        with contextlib.suppress(Exception):
            build_spark.catalog.dropGlobalTempView(name)


def fit_features(fit_spark, cfg: Config, context: dict[str, Any], day: dt.date,
                 source: str) -> ssql.SparkFeatures:
    """The fit's features as of ``day`` in its session, over the shared views.

    ``context`` is the build's render context before its levels were found.
    Raises :class:`InputError` when no customer has usable data as of the day.
    """
    started = time.perf_counter()
    ssql.materialize(fit_spark, ssql.view_name(AS_OF), as_of_sql(day))
    context = fit_context(context, day)
    models = FitModels(fit_spark, context, {})
    run = run_models(cfg, context, models, started=started, only=fit_model_names)
    n_raw = fit_spark.table(ssql.view_name(RAW_FEATURES)).count()
    if n_raw == 0:
        raise InputError("no customer has usable data: every row was quarantined.")
    features = fit_spark.table("features__customer_features")
    n_customers = features.count()
    empty = pl.DataFrame()
    return ssql.SparkFeatures(
        spark=fit_spark, n_customers=n_customers, feature_columns=features.columns,
        numeric_features=run.numeric_features, onehot_features=run.onehot_features,
        as_of=day, accounting=pl.DataFrame(schema={"source": pl.String, "reason": pl.String,
                                                   "n_rows": pl.Int64}),
        column_quality=empty, histograms=empty, numeric_bounds=empty, models=run.models,
        rendered=run.rendered, spark_sql=models.spark_sql,
        customers_removed=n_raw - n_customers, source=source, labels=run.labels,
        categoricals=run.categoricals)
