"""What each segment is worth: the segment KPIs of a build, computed by its engine in SQL.

The query is ``sql/build/segment_kpis.sql``, rendered for the engine's
dialect and run over the assigned customers and
``features.customer_purchases`` (the used lines, per customer). Its rows are
``segments.kpi_history``; the view ``segments.segment_kpis`` shows the latest
build's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from segkit import project, warehouse
from segkit.config import Config
from segkit.engines import Engine

if TYPE_CHECKING:  # importing scikit-learn takes seconds: the warm-up thread does it
    from segkit.model import Segmenter

KPI_SQL = "build/segment_kpis.sql"
# The scale the queries render with in a customers-only build (no money at all).
NO_MONEY_SCALE = 2


def render_build_sql(name: str, engine: Engine, **context) -> str:
    """A query of ``sql/build/`` rendered for the engine's dialect, with the dialect macros."""
    text = (warehouse.sql_dir() / name).read_text(encoding="utf-8")
    return project.render_string(text, context, dialect=engine.sql_dialect)


def money_scale(engine: Engine) -> int:
    """Decimal places of the build's money (a fixed scale when it has none)."""
    scale = engine.money_scale()
    return NO_MONEY_SCALE if scale is None else scale


def segment_kpis(cfg: Config, engine: Engine, run_id: str, feats, model: Segmenter,
                 ids: list[int]) -> pl.DataFrame:
    """The rows of ``segments.kpi_history`` for this build: one per segment."""
    sql = render_build_sql(KPI_SQL, engine, scale=money_scale(engine),
                           money_decimals=cfg.features.money_decimals)
    rows = engine.segment_kpis(feats, model, ids, sql)
    return rows.with_columns(pl.lit(run_id).alias("run_id"),
                             pl.lit(bool(cfg.transactions)).alias("has_transactions"))
