"""What a build asks of an engine: the one interface DuckDB and Spark implement.

The build (:mod:`segkit.pipeline.sequence`) is one sequence of named steps,
written once. Wherever a step needs the source rows or the per-customer rows,
it asks the engine that holds them, through the methods of :class:`Engine`,
and never asks which engine it has. An engine module overrides only what
differs (as SQLMesh's engine adapters do): where the SQL models run, how the
model gets its binned vectors, where every customer is assigned, where the
per-customer tables go. What comes back to the build is small or already
the build's own frame: a features result, the model's weighted vectors,
the map's sample, one profile row per segment and feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from segkit.config import Config

if TYPE_CHECKING:  # importing scikit-learn takes seconds: the warm-up thread does it
    from segkit.model import Segmenter, TsneResult


@dataclass
class ProfileQuery:
    """The segment profile query and the small frames it reads besides the members.

    ``sql`` is ``sql/build/segment_profile_rows.sql`` (see its header);
    ``profiled`` the features profiled (numeric and one-hot), ``numeric`` the
    numeric ones among them (the ones with a median); ``frames`` the
    ``profile_features``, ``fitted_segments`` and ``segment_features`` frames.
    The engine supplies the members (or their per-segment aggregates) and
    runs it.
    """

    sql: str
    profiled: list[str]
    numeric: list[str]
    frames: dict[str, pl.DataFrame]


def sql_detail(feats) -> str:
    """The SQL stage's line on the terminal, for either engine's features result."""
    return (f"{feats.rows_in:,} rows in, {feats.rows_quarantined:,} quarantined, "
            f"{feats.n_customers:,} customers (load {feats.load_seconds:.2f} s)")


class Engine:
    """The engine of a build: it holds the source and per-customer rows.

    Parameters
    ----------
    cfg : Config
        The build's configuration (``[engine]`` says which engine).

    Notes
    -----
    The build calls the methods in this order: :meth:`start`, :meth:`run_sql`
    (which calls :meth:`register_sources`), :meth:`fit`, :meth:`assign`,
    :meth:`map_sample`, :meth:`customer_tables`, :meth:`segment_profiles`,
    :meth:`segment_kpis`, the backtest's (:meth:`first_purchase_day`,
    :meth:`backtest_engine`, :meth:`backtest_sql`, :meth:`backtest_outcomes`,
    :meth:`release_backtest`),
    :meth:`release_purchases`, :meth:`write_outputs`, :meth:`example_rows` (when
    tracking), then, once the warehouse
    is written, :meth:`publish_outputs`; :meth:`discard_outputs` when the
    build fails after :meth:`run_sql`. ``stages`` is the build's stage timer:
    ``with stages(name, description) as info`` times a stage and shows it.
    """

    #: the engine's name, as ``[engine] kind`` spells it
    kind = ""
    #: what the model stage does, on the terminal
    model_description = "Discretizing and sweeping k (K-Means, stability)"

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def start(self, stages) -> None:
        """Connect to the engine (a stage of its own when that takes time)."""

    def register_sources(self) -> dict[str, str]:
        """Make each configured source readable by the SQL models.

        Returns
        -------
        dict
            Source name (``transactions``, ``customers``) -> the relation the
            models read in its place; empty when they read the sources as
            configured.
        """
        raise NotImplementedError

    def run_sql(self, run_id: str, stages):
        """Stage ``sql``: the SQL models up to features, with the row accounting.

        Returns the features result the rest of the build reads
        (:class:`segkit.features.FeatureResult` or one with the same fields):
        accounting, column quality, histograms, warnings, the rendered SQL,
        ``n_customers`` and ``run_tables`` (what the warehouse keeps per run).
        """
        raise NotImplementedError

    def fit(self, model: Segmenter, feats) -> str:
        """Fit ``model`` on the customers' features; return the stage's detail line.

        Raises ``ValueError`` when the data cannot be segmented (the build
        turns it into an :class:`segkit.errors.InputError`).
        """
        raise NotImplementedError

    def assign(self, model: Segmenter, ids: list[int], stages) -> None:
        """Give every customer its segment, where the engine holds them.

        Nothing to do when the fit already labelled every customer.
        """

    def map_sample(self, feats, model: Segmenter, ids: list[int], sample_size: int,
                   seed: int) -> tuple[TsneResult, pl.DataFrame]:
        """The t-SNE map of a bounded, stratified sample of the customers.

        Returns the map and, per row of its coordinates, the customer's
        ``customer_id`` and ``segment_id``. Raises ``ValueError`` when no map
        can be drawn.
        """
        raise NotImplementedError

    def segment_profiles(self, feats, model: Segmenter, ids: list[int],
                         query: ProfileQuery) -> pl.DataFrame:
        """The rows of ``segments.profile_history`` (without ``run_id``), from ``query``."""
        raise NotImplementedError

    def customer_tables(self, run_id: str, feats, model: Segmenter,
                        ids: list[int]) -> dict[str, pl.DataFrame]:
        """Per-customer tables the warehouse stores for this run, by warehouse name."""
        return {}

    def write_outputs(self, run_id: str, stages) -> None:
        """Write the per-customer tables the engine keeps itself (not yet current)."""

    def example_rows(self, feats, features: list[str], n: int = 5) -> pl.DataFrame:
        """A few customers' feature rows: the input example MLflow logs with the model."""
        raise NotImplementedError

    def publish_outputs(self) -> None:
        """Make the tables :meth:`write_outputs` wrote current (just before the warehouse)."""

    def discard_outputs(self) -> None:
        """The build failed: remove what :meth:`write_outputs` wrote; earlier outputs stay."""

    # -- what each segment is worth, and the backtest (segkit/pipeline/worth.py) --

    #: the dialect the build's own queries (``sql/build/``) are rendered for
    sql_dialect = "duckdb"

    def money_scale(self) -> int | None:
        """Decimal places of the build's money (``features.customer_purchases.revenue``);
        ``None`` in a customers-only build."""
        raise NotImplementedError

    def first_purchase_day(self) -> object:
        """The first day with a used transaction line (a ``datetime.date``), or ``None``."""
        raise NotImplementedError

    def segment_kpis(self, feats, model: Segmenter, ids: list[int], sql: str) -> pl.DataFrame:
        """``sql/build/segment_kpis.sql`` (rendered, ``sql``) over the assigned customers
        and ``features.customer_purchases``: one row per segment."""
        raise NotImplementedError

    def backtest_engine(self, cfg: Config) -> Engine:
        """A second engine of the same kind for the backtest's fit, with ``cfg``
        (the build's, as of the backtest date). It shares this engine's
        connection or session where it has one; of its tables, only what
        :meth:`backtest_sql` hands it (the purchases cut at the backtest date)."""
        return type(self)(cfg)

    def backtest_sql(self, fit: Engine, run_id: str, stages):
        """The SQL stage of the backtest's fit (``fit``, from :meth:`backtest_engine`):
        its features result, as :meth:`run_sql` as of the backtest date returns it.

        By default the fit runs its whole SQL project, from the source. An
        engine that kept the build's line work (the DuckDB engine) makes only
        the models after the purchases, from the build's purchases cut at the
        backtest date (:mod:`segkit.features.backtest_fit` says why that is exact).
        """
        return fit.run_sql(run_id, stages)

    def backtest_outcomes(self, fit: Engine, fit_feats, model: Segmenter, ids: list[int],
                          sql: str) -> pl.DataFrame:
        """``sql/build/backtest_outcomes.sql`` (rendered, ``sql``): one row per customer of
        the backtest's fit (``fit``, after :meth:`assign`) and per customer new in
        the horizon, ordered by ``customer_id``."""
        raise NotImplementedError

    def release_backtest(self, fit: Engine) -> None:
        """Let go of what the backtest's fit engine holds."""

    def release_purchases(self) -> None:
        """The KPIs and the backtest are done: let go of the build's purchases."""
