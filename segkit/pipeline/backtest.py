"""The backtest of a build: fit again as of (as-of date - horizon), then measure what came next.

The fit is the build's own steps (the SQL models, :func:`_fit_model`, the
assignment) with the build's config as of the backtest date d, on a second
engine of the same kind: exactly what ``segkit build --as-of d`` would fit
in an empty warehouse (its segments numbered and named afresh). Its SQL
(:meth:`Engine.backtest_sql`) starts from the build's own purchases cut at d
and makes only the models after them: the line work does not depend on the
as-of date (:func:`segkit.features.backtest_fit.purchases_until` says why
the cut is exact), so the source is not read again. It is not a build: it writes no run row, no per-customer history and no model
version. Then ``sql/build/backtest_outcomes.sql`` measures, on the build's
engine, what each customer of the fit did in (d, d + horizon], and
:func:`segkit.model.backtest_statistics` turns that into per-segment figures,
the lift and the AUC, each with a seeded bootstrap interval (in Python, on
inputs that are the same on every engine).

A build skips its backtest, saying why, when there is too little history
(less than twice the horizon before the as-of date), too few customers at d
(fewer than ``[model] min_customers``), or no transactions at all.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from decimal import Decimal

import polars as pl

from segkit.config import Config
from segkit.engines import Engine
from segkit.errors import InputError
from segkit.pipeline.carryover import _keep_names, _name_segments, _segment_ids
from segkit.pipeline.kpis import money_scale, render_build_sql
from segkit.pipeline.progress import _Stages, Progress

OUTCOME_SQL = "build/backtest_outcomes.sql"


@dataclass
class Backtest:
    """A build's backtest: ``status`` is ``ran``, ``skipped`` (``reason`` says why) or ``off``."""

    status: str
    horizon_days: int
    reason: str | None = None
    as_of: dt.date | None = None
    seconds: float = 0.0
    stats: object = None  # segkit.model.BacktestStatistics when it ran
    names: dict[int, str] = field(default_factory=dict)  # segment id -> name in the fit
    new_customers: int = 0
    new_customer_revenue: Decimal | None = None
    scale: int = 2

    @property
    def message(self) -> str | None:
        """The line the build shows when it skipped the backtest."""
        return f"backtest skipped: {self.reason}" if self.status == "skipped" else None

    def tables(self, run_id: str) -> dict[str, pl.DataFrame]:
        """``segments.backtest_run_history`` (one row) and ``segments.backtest_history``."""
        s = self.stats
        run = {"run_id": run_id, "status": self.status, "reason": self.reason,
               "backtest_as_of_date": self.as_of, "horizon_days": self.horizon_days,
               "seconds": round(self.seconds, 4)}
        rows = []
        if s is not None:
            by_rank = sorted(s.segments, key=lambda o: (o.rank, o.segment))
            run.update(
                n_customers=s.n_customers, n_resamples=s.n_resamples,
                confidence=s.confidence, seed=s.seed, lift=s.lift, lift_low=s.lift_ci.low,
                lift_high=s.lift_ci.high, lift_note=s.lift_note, auc=s.auc,
                auc_low=s.auc_ci.low, auc_high=s.auc_ci.high, auc_note=s.auc_note,
                top_segment_name=self.names[by_rank[0].segment],
                bottom_segment_name=self.names[by_rank[-1].segment],
                revenue=sum((o.revenue for o in s.segments), Decimal(0)),
                new_customers=self.new_customers,
                new_customer_revenue=self.new_customer_revenue)
            for o in s.segments:
                rows.append({
                    "run_id": run_id, "backtest_as_of_date": self.as_of,
                    "horizon_days": self.horizon_days, "segment_id": o.segment,
                    "segment_name": self.names[o.segment], "segment_rank": o.rank,
                    "n_customers": o.n_customers, "n_bought_again": o.n_bought_again,
                    "repurchase_share": o.repurchase_share,
                    "repurchase_share_low": o.repurchase_share_ci.low,
                    "repurchase_share_high": o.repurchase_share_ci.high,
                    "revenue": o.revenue, "mean_spend": o.mean_spend,
                    "mean_spend_low": o.mean_spend_ci.low,
                    "mean_spend_high": o.mean_spend_ci.high,
                    "revenue_share": o.revenue_share,
                    "revenue_share_low": o.revenue_share_ci.low,
                    "revenue_share_high": o.revenue_share_ci.high,
                    "purchase_days": o.purchase_days,
                    "purchase_days_per_customer": o.purchase_days_per_customer,
                    "purchase_days_per_customer_low": o.purchase_days_per_customer_ci.low,
                    "purchase_days_per_customer_high": o.purchase_days_per_customer_ci.high,
                    "lift": s.lift, "lift_low": s.lift_ci.low, "lift_high": s.lift_ci.high,
                    "auc": s.auc, "auc_low": s.auc_ci.low, "auc_high": s.auc_ci.high})
        tables = {"segments.backtest_run_history": pl.DataFrame([run], infer_schema_length=None)}
        if rows:
            money = pl.Decimal(38, self.scale)
            tables["segments.backtest_history"] = pl.DataFrame(rows, schema_overrides={
                c: money for c in ("revenue", "mean_spend", "mean_spend_low", "mean_spend_high")})
        return tables

    def metrics(self) -> dict[str, float]:
        """MLflow metrics: lift, AUC, each segment's repurchase share (by segment id)."""
        s = self.stats
        if s is None:
            return {}
        # Not its seconds: meta.run_stages has them, and metrics are the same on every run.
        metrics = {}
        if s.lift is not None:
            metrics["backtest_lift"] = s.lift
        if s.auc is not None:
            metrics["backtest_auc"] = s.auc
        for o in s.segments:
            if o.repurchase_share is not None:
                metrics[f"backtest_repurchase_{o.segment}"] = o.repurchase_share
        return metrics


def run_backtest(cfg: Config, engine: Engine, feats, run_id: str, stages: _Stages) -> Backtest:
    """Stage ``backtest`` (when the data allows it): the fit as of d and its outcomes.

    ``engine`` is the build's, after its SQL run (its purchases are the build's,
    as of the as-of date, which is d + horizon).
    """
    h = cfg.backtest.horizon_days
    if not cfg.backtest.enabled or h == 0:
        return Backtest("off", h, "turned off ([backtest] enabled = false or horizon_days = 0)")
    if not cfg.transactions:
        return Backtest("skipped", h, "a customers-only build has no purchases to look back on")
    as_of = feats.as_of
    d = as_of - dt.timedelta(days=h)
    first = engine.first_purchase_day()
    history = (as_of - first).days if first is not None else 0
    if history < 2 * h:
        return Backtest("skipped", h, (
            f"the data holds {history} days of history before the as-of date {as_of}; a "
            f"{h}-day backtest needs at least {2 * h} (twice the horizon). Use a shorter "
            f"horizon (--backtest-days) or more history."), as_of=d)
    with stages("backtest", f"Backtest: fitting again as of {d}, then the {h} days after"
                ) as info:
        started = time.perf_counter()
        # The random baseline is only reported, never used to choose k or name
        # segments: without it the fit gives the same segments, for less.
        fit_cfg = cfg.replace(as_of=d.isoformat()).replace_model(baseline_resamples=0)
        result = _fit_and_measure(fit_cfg, engine, run_id, d, h)
        result.seconds = time.perf_counter() - started
        info["detail"] = _detail(result)
    return result


def _fit_and_measure(fit_cfg: Config, engine: Engine, run_id: str, d: dt.date,
                     h: int) -> Backtest:
    """The fit as of ``d`` on a second engine, its outcomes and their statistics."""
    from segkit.model.backtest import backtest_statistics, segment_ranks
    from segkit.pipeline.sequence import _fit_model

    quiet = _Stages(Progress())  # the fit's own steps: timed as the one backtest stage
    fit = engine.backtest_engine(fit_cfg)
    try:
        try:
            fit_feats = engine.backtest_sql(fit, f"{run_id}-backtest", quiet)
        except InputError as exc:
            return Backtest("skipped", h, f"as of {d}: {exc}", as_of=d)
        n = fit_feats.n_customers
        if n < fit_cfg.model.min_customers:
            return Backtest("skipped", h, (
                f"{n:,} customers had bought by the backtest date {d}; a backtest needs at "
                f"least [model] min_customers = {fit_cfg.model.min_customers:,}."), as_of=d)
        try:
            model = _fit_model(fit_cfg, fit, fit_feats, quiet)
        except InputError as exc:
            return Backtest("skipped", h, f"as of {d}: {exc}", as_of=d)
        # Numbered and named as a first build in an empty warehouse: no previous build.
        _name_segments(fit_cfg, model, {})
        ids = _segment_ids(model, {})
        _keep_names(model, ids, {})
        fit.assign(model, ids, quiet)
        try:
            ranks = segment_ranks(model.centroids_, model.features_,
                                  [model.n_bins_.get(f, 2) for f in model.features_])
        except ValueError as exc:
            return Backtest("skipped", h, str(exc), as_of=d)
        scale = money_scale(engine)
        outcomes = engine.backtest_outcomes(
            fit, fit_feats, model, ids, render_build_sql(OUTCOME_SQL, engine, scale=scale))
    finally:
        engine.release_backtest(fit)
    segmented = outcomes.filter(pl.col("segment_id").is_not_null())
    new = outcomes.filter(pl.col("segment_id").is_null())
    units = (segmented["spend"].cast(pl.Decimal(38, scale)) * 10 ** scale).cast(pl.Int64)
    stats = backtest_statistics(
        segmented["segment_id"].to_numpy(), {ids[i]: int(r) for i, r in enumerate(ranks)},
        segmented["bought_again"].to_numpy(), units.to_numpy(),
        segmented["purchase_days"].cast(pl.Int64).to_numpy(), scale=scale,
        money_decimals=min(fit_cfg.features.money_decimals, scale), seed=fit_cfg.model.seed)
    new_revenue = new["spend"].sum() if new.height else Decimal(0)
    return Backtest("ran", h, as_of=d, stats=stats, scale=scale,
                    names={ids[i]: name for i, name in enumerate(model.segment_names_)},
                    new_customers=new.height,
                    new_customer_revenue=Decimal(new_revenue).quantize(Decimal(1).scaleb(-scale)))


def _detail(result: Backtest) -> str:
    """The backtest stage's line on the terminal."""
    if result.status != "ran":
        return f"skipped: {result.reason}"
    s = result.stats
    lift = f"lift {s.lift:.1f}" if s.lift is not None else "lift undefined"
    auc = f"AUC {s.auc:.3f}" if s.auc is not None else "AUC undefined"
    return (f"as of {result.as_of}: {len(s.segments)} segments, {s.n_customers:,} customers, "
            f"{lift}, {auc}")
