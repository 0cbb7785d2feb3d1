"""The DuckDB engine: the SQL in a private work database, the customers as a Polars frame.

The default engine. The SQL models run in an in-memory DuckDB (the
warehouse file is only read); the feature frame comes to Python through
Arrow, the model is fitted on it (:meth:`segkit.model.Segmenter.fit`, which
labels every customer), and the per-customer tables are published into the
warehouse with everything else.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from segkit import warehouse
from segkit.engines.base import Engine, ProfileQuery, sql_detail
from segkit.features import FeatureResult, build_features
from segkit.features.backtest_fit import SharedLineWork, fit_features, keep_line_work
from segkit.sources import open_sources

if TYPE_CHECKING:  # importing scikit-learn takes seconds: the warm-up thread does it
    from segkit.model import Segmenter, TsneResult


class DuckDBEngine(Engine):
    """The build's engine when ``[engine] kind = "duckdb"`` (the default)."""

    kind = "duckdb"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.con = None  # the work database, open during the SQL stage only
        self.opened = {}  # the sources made readable in it (segkit.sources.OpenSource)
        # features.customer_purchases, fetched before the work database closes
        self.purchases: pl.DataFrame | None = None
        # the line work the backtest's fit shares (segkit/features/backtest_fit.py)
        self.shared: SharedLineWork | None = None

    def register_sources(self) -> dict[str, str]:
        """Each source made readable in the work database (:meth:`segkit.sources.Source.open`).

        Files and warehouse tables (and ``sql =`` over them) are read as the
        warehouse's views read them; a table in another DuckDB file is
        attached read-only; PostgreSQL's rows are streamed into the work
        database. Returns the relations the models read where they differ from
        what the warehouse's views read.
        """
        self.opened = open_sources(self.con, self.cfg)
        return {name: o.read for name, o in self.opened.items() if o.read != o.shown}

    def run_sql(self, run_id: str, stages) -> FeatureResult:
        """Stage ``sql``: the SQL project in a private work database; the warehouse is only read."""
        work_tmp = self.cfg.warehouse.parent / ".tmp" / run_id
        self.con = warehouse.connect_work(self.cfg.duckdb, work_tmp)
        try:
            with stages("sql", "Loading and cleaning the source in DuckDB") as info:
                self.register_sources()
                feats = build_features(self.con, self.cfg, self.opened, keep=self._keep)
                self.purchases = self._fetch_purchases()
                if self.shared is not None:
                    self.shared.source = feats.source
                info["detail"] = sql_detail(feats)
        finally:
            # Closed before the model runs: its memory is the model's now.
            self.con.close()
            self.con = None
            shutil.rmtree(work_tmp, ignore_errors=True)
        return feats

    def fit(self, model: Segmenter, feats: FeatureResult) -> str:
        """:meth:`Segmenter.fit` on the feature frame: it discretizes and labels every customer."""
        model.fit(feats.frame)
        t = model.timings_
        silhouette = model.selection_.filter(pl.col("is_chosen"))["silhouette"][0]
        return (f"k = {model.k_}, silhouette {silhouette:.3f}, "
                f"{model.n_distinct_} distinct vectors "
                f"(discretize {t['discretize'] + t['distinct']:.2f} s, "
                f"stability {t.get('stability', 0.0):.2f} s)")

    def map_sample(self, feats: FeatureResult, model: Segmenter, ids: list[int],
                   sample_size: int, seed: int) -> tuple[TsneResult, pl.DataFrame]:
        """:func:`segkit.model.tsne_map` of the fitted customers; it draws the sample itself."""
        from segkit.model import tsne_map

        # "distinct": t-SNE of the <= 4^d distinct binned vectors of the sample,
        # customers placed around their vector: ~0.1-0.3 s, against 20-40 s for
        # the 5,000 jittered points, with the same islands (bench/tsne_options.py).
        tsne = tsne_map(model.binned_, model.labels_, sample_size=sample_size, seed=seed,
                        method="distinct")
        idx = np.asarray(tsne.indices)
        return tsne, pl.DataFrame({
            "customer_id": feats.frame["customer_id"].gather(idx),
            "segment_id": np.asarray(ids)[model.labels_[idx]].astype(np.int32)})

    def segment_profiles(self, feats: FeatureResult, model: Segmenter, ids: list[int],
                         query: ProfileQuery) -> pl.DataFrame:
        """The profile query over the feature frame, in a short in-memory DuckDB.

        Not the work database: that is closed (its memory freed) before the
        model runs, and the segments exist only here until they are published.
        """
        # One thread: a parallel float avg can differ in its last bits between runs,
        # and the same input must give identical tables.
        con = warehouse.connect_memory(threads=1)
        try:
            for name, frame in profile_frames(feats, model, query).items():
                con.register(name, frame)
            return con.sql(query.sql).pl().drop("position")
        finally:
            con.close()

    def customer_tables(self, run_id: str, feats: FeatureResult, model: Segmenter,
                        ids: list[int]) -> dict[str, pl.DataFrame]:
        """``segments.segment_history``: every customer's segment, into the warehouse."""
        labels = model.labels_
        # Columnar all the way (no Python object per customer): at 10M customers a
        # list of names or run ids would cost gigabytes.
        return {"segments.segment_history": pl.DataFrame({
            "customer_id": feats.frame["customer_id"],
            "segment_id": np.asarray(ids)[labels].astype(np.int32),
            "segment_name": pl.Series(model.segment_names_, dtype=pl.String).gather(labels),
            "distance_to_centroid": model.distances_.astype(float),
            "bins": model.binned_.astype(float),
        }).with_columns(pl.lit(run_id).alias("run_id"))}

    def example_rows(self, feats: FeatureResult, features: list[str],
                     n: int = 5) -> pl.DataFrame:
        """The frame's first rows."""
        return feats.frame.head(n).select(features)


    # -- what each segment is worth, and the backtest ---------------------------
    def _keep(self, con, context, as_of) -> None:
        """Keep the purchases the backtest's fit starts from, before the work database goes."""
        self.shared = keep_line_work(con, self.cfg, context, as_of)

    def _fetch_purchases(self) -> pl.DataFrame:
        """``features.customer_purchases`` (a table of the work database); in a
        customers-only build, its columns without rows."""
        if self.cfg.transactions:
            return self.con.sql("select * from features.customer_purchases").pl()
        return pl.DataFrame(schema=PURCHASE_COLUMNS)

    def money_scale(self) -> int | None:
        """The scale of ``revenue``'s DECIMAL type; ``None`` without transactions."""
        return self.purchases.schema["revenue"].scale if self.cfg.transactions else None

    def first_purchase_day(self):
        """The earliest ``first_purchase_date`` of the purchases frame."""
        return self.purchases["first_purchase_date"].min()

    def segment_kpis(self, feats: FeatureResult, model: Segmenter, ids: list[int],
                     sql: str) -> pl.DataFrame:
        """The KPI query in a short in-memory DuckDB over the members and purchases frames."""
        segments = pl.DataFrame({"segment_index": pl.Series(range(model.k_), dtype=pl.Int32),
                                 "segment_id": pl.Series(ids, dtype=pl.Int32),
                                 "segment_name": list(model.segment_names_)})
        return _run_frames(sql, {"segment_members": _members(feats, model, ids),
                                 "customer_purchases": self.purchases,
                                 "fitted_segments": segments})

    def backtest_outcomes(self, fit: DuckDBEngine, fit_feats: FeatureResult, model: Segmenter,
                          ids: list[int], sql: str) -> pl.DataFrame:
        """The outcome query over the fit's members and purchases and the build's purchases.

        On every thread: its sums are exact (integers, DECIMAL) and its rows are
        ordered by customer, one per segmented customer and one per new
        customer, so the same input gives the same rows however many threads run.
        """
        return _run_frames(sql, {"backtest_members": _members(fit_feats, model, ids),
                                 "backtest_purchases": fit.purchases,
                                 "build_purchases": self.purchases}, threads=None)

    def backtest_sql(self, fit: DuckDBEngine, run_id: str, stages) -> FeatureResult:
        """The fit's features from the build's purchases cut at its date
        (:func:`segkit.features.backtest_fit.fit_features`): the source is not read again."""
        if self.shared is None:  # the build kept nothing (no backtest was expected)
            return fit.run_sql(run_id, stages)
        feats, fit.purchases = fit_features(self.shared, fit.cfg, run_id)
        return feats

    def release_backtest(self, fit: DuckDBEngine) -> None:
        """The fit's purchases frame and the shared line work go."""
        fit.purchases = None
        self.shared = None

    def release_purchases(self) -> None:
        """The build's purchases frame goes (one row per customer)."""
        self.purchases = None
        self.shared = None


# features.customer_purchases' columns (a customers-only build has no rows)
PURCHASE_COLUMNS = {"customer_id": pl.String, "n_purchase_days": pl.Int64,
                    "n_orders": pl.Int64, "revenue": pl.Decimal(38, 2),
                    "first_purchase_date": pl.Date, "last_purchase_date": pl.Date}


def _members(feats: FeatureResult, model: Segmenter, ids: list[int]) -> pl.DataFrame:
    """Every fitted customer's ``customer_id`` and ``segment_id``."""
    return pl.DataFrame({"customer_id": feats.frame["customer_id"],
                         "segment_id": np.asarray(ids, dtype=np.int32)[model.labels_]})


def _run_frames(sql: str, frames: dict[str, pl.DataFrame], *,
                threads: int | None = 1) -> pl.DataFrame:
    """``sql`` over ``frames`` in a short in-memory DuckDB (by default one thread: a
    float sum can differ in its last bits between parallel runs; ``None``: DuckDB's
    default, for a query whose result does not depend on it)."""
    con = warehouse.connect_memory(threads=threads)
    try:
        for name, frame in frames.items():
            con.register(name, frame)
        return con.sql(sql).pl()
    finally:
        con.close()

def profile_frames(feats: FeatureResult, model: Segmenter,
                   query: ProfileQuery) -> dict[str, pl.DataFrame]:
    """The five frames the profile query reads (see its header), members from the frame."""
    # No copy of the features: the segment index is one more column, cut into
    # the frame's chunks (the frame arrives from DuckDB in batches). With
    # uneven chunks, Polars copies every column into one chunk on a select and
    # on the export to Arrow that registering does: 1 GB at 10M customers.
    labels = np.asarray(model.labels_, dtype=np.int32)
    cuts = np.cumsum(feats.frame.get_column(query.profiled[0]).chunk_lengths())[:-1]
    index = pl.concat([pl.Series("segment_index", part) for part in np.split(labels, cuts)],
                      rechunk=False)
    members = feats.frame.select(query.profiled).with_columns(index)
    return {"segment_members": members,
            "segment_numeric_members": members.select("segment_index", *query.numeric),
            **query.frames}
