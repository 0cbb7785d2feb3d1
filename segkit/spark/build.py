"""The Spark engine of a build: what differs when Spark holds the rows.

The build is :mod:`segkit.pipeline.sequence`'s, step for step; this engine
(:class:`SparkEngine`) answers its steps with Spark:

1. the ``sql/`` models run as Spark SQL (:mod:`segkit.spark.sql`);
2. bin edges, binning and the distinct binned vectors with counts in Spark;
   the model is fitted in Python on that weighted set
   (:meth:`segkit.model.Segmenter.fit_binned`, :mod:`segkit.spark.model`);
3. every customer assigned in Spark SQL by the one assignment rule; the
   t-SNE map drawn from the DuckDB build's sample, which Spark picks out;
   per-segment aggregates for the profiles;
4. per-customer tables written by Spark (catalog tables or Parquet), new
   ones first and swapped in just before the warehouse
   (:class:`segkit.spark.outputs.Outputs`);
   the small tables go to the local DuckDB warehouse as a DuckDB build
   publishes them, so ``segkit runs``, ``segkit report`` and the HTML report
   work unchanged.

Every Spark failure reaches the user as one paragraph
(:func:`segkit.spark.spark_errors`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time

import numpy as np
import polars as pl

from segkit.config import Config
from segkit.engines import Engine, ProfileQuery, sql_detail
from segkit.features.backtest_fit import backtest_day
from segkit.spark import backtest as sbacktest
from segkit.spark import model as smodel
from segkit.spark import _address, session, spark_errors
from segkit.spark import sql as ssql
from segkit.spark.outputs import Outputs

PURCHASES = "features__customer_purchases"  # the used lines per customer (segment KPIs)


class SparkEngine(Engine):
    """The build's engine when ``[engine] kind = "spark"``; see the module docstring."""

    kind = "spark"
    model_description = "Bin edges and distinct vectors in Spark; K-Means sweep"

    def __init__(self, cfg: Config):
        from segkit.spark import require_pyspark

        require_pyspark()  # before the build takes its lock: a missing extra is no run
        super().__init__(cfg)
        self.spark = None
        self.outputs: Outputs | None = None
        self.as_of, self.scores = None, None  # set by run_sql
        # the render context the backtest's fit starts from (None: no backtest to fit),
        # the source's label, and the global views it shares (segkit/spark/backtest.py)
        self.fit_context, self.source, self.shared_views = None, "", []

    def start(self, stages) -> None:
        """Stage ``session``: the Spark session of ``[engine]``."""
        engine = self.cfg.engine
        with stages("session", "Starting the Spark session") as info:
            self.spark = session(engine)
            info["detail"] = (f"remote {_address(engine.remote)}" if engine.remote
                              else f"master {engine.master or 'local[2]'}")

    def register_sources(self) -> dict[str, str]:
        """Each source read by Spark into a temporary view (:func:`ssql.read_source`)."""
        with spark_errors(self.cfg.engine, "reading the sources"):
            return ssql.read_sources(self.spark, self.cfg)

    def run_sql(self, run_id: str, stages) -> ssql.SparkFeatures:
        """Stage ``sql``: the SQL project as Spark SQL (:func:`segkit.spark.sql.build_features`)."""
        with stages("sql", "Loading and cleaning the source in Spark") as info:
            started = time.perf_counter()
            sources = self.register_sources()
            with spark_errors(self.cfg.engine, "running the SQL models"):
                feats = ssql.build_features(self.spark, self.cfg, sources, started=started)
                # The warehouse keeps the run tables' shape; their rows are in Spark.
                feats.run_tables = {
                    "features.customer_features": _empty(self.spark, smodel.FEATURES),
                    "cleaning.quarantine": _empty(self.spark, "cleaning__quarantine"),
                    "features.column_quality": feats.column_quality,
                    "features.numeric_bounds": feats.numeric_bounds,
                }
                if backtest_day(self.cfg, feats.as_of) is not None:
                    # the mapping checked again on the headers, levels not yet found
                    self.fit_context = ssql.spark_context(self.spark, self.cfg, sources)
                    self.source = feats.source
            info["detail"] = sql_detail(feats)
        # what the per-customer outputs need besides the views (Outputs.looking_back)
        self.as_of = feats.as_of
        self.scores = ("features__customer_scores"
                       if "features.customer_scores" in feats.rendered else None)
        return feats

    def fit(self, model, feats: ssql.SparkFeatures) -> str:
        """Edges and distinct vectors in Spark; :meth:`Segmenter.fit_binned` on that set."""
        m = self.cfg.model
        if m.strategy != "quantile":
            raise ValueError(f"[model] strategy = {m.strategy!r} runs on the DuckDB engine "
                             "only; the Spark engine bins by quantiles")
        with spark_errors(self.cfg.engine, "computing the bin edges and distinct vectors"):
            types = dict(self.spark.table(smodel.FEATURES).dtypes)
            binned, onehot = smodel.candidates(types, model.features)
            if feats.n_customers < 2:
                raise ValueError(f"need at least 2 customers to segment, got {feats.n_customers}")
            t0 = time.perf_counter()
            edges = smodel.bin_edges(self.spark, binned, m.n_bins)
            distinct, counts = smodel.distinct_vectors(self.spark, edges, onehot)
            spark_seconds = time.perf_counter() - t0
        model.fit_binned(distinct, counts, bin_edges=edges, onehot=onehot)
        # The edges and vectors came from Spark: count them as the discretize stage.
        model.timings_["discretize"] += spark_seconds
        return (f"k = {model.k_}, {model.n_distinct_} distinct vectors "
                f"(edges and vectors in Spark {spark_seconds:.2f} s)")

    def assign(self, model, ids: list[int], stages) -> None:
        """Stage ``assign``: every customer's segment in Spark SQL (``segments__assigned``)."""
        with stages("assign", "Assigning every customer in Spark SQL") as info:
            with spark_errors(self.cfg.engine, "assigning the customers"):
                smodel.assign(self.spark, model, ids)
            info["detail"] = smodel.ASSIGNED

    def map_sample(self, feats, model, ids: list[int], sample_size: int, seed: int):
        """The DuckDB build's map, its sample picked out by Spark (:func:`smodel.map_sample`)."""
        with spark_errors(self.cfg.engine, "sampling the customers of the map"):
            tsne, sample = smodel.map_sample(self.spark, model, ids, sample_size, seed)
        return tsne, sample[np.asarray(tsne.indices)]

    def segment_profiles(self, feats, model, ids: list[int],
                         query: ProfileQuery) -> pl.DataFrame:
        """The profile query fed per-segment aggregates that Spark computes (k rows)."""
        with spark_errors(self.cfg.engine, "profiling the segments"):
            return _profile_rows(self.spark, model, ids, query)

    def write_outputs(self, run_id: str, stages) -> None:
        """Stage ``spark-write``: the per-customer tables, written beside the current ones."""
        self.outputs = Outputs(self.spark, self.cfg, run_id, as_of=self.as_of,
                               scores=self.scores)
        with stages("spark-write", "Writing the per-customer tables with Spark") as info:
            with spark_errors(self.cfg.engine, "writing the per-customer tables"):
                self.outputs.write()
            info["detail"] = self.outputs.where()

    def example_rows(self, feats, features: list[str], n: int = 5) -> pl.DataFrame:
        """A few rows of ``features__customer_features`` (``limit n``)."""
        with spark_errors(self.cfg.engine, "reading MLflow's input example"):
            return smodel.example_rows(self.spark, features, n)

    def publish_outputs(self) -> None:
        """Spark's tables first, then the warehouse: a build that fails before this
        leaves both as they were."""
        if self.outputs is not None:
            with spark_errors(self.cfg.engine, "swapping in the per-customer tables"):
                self.outputs.swap()

    def discard_outputs(self) -> None:
        """Remove what this build wrote; the previous outputs stay as they were."""
        if self.outputs is not None:
            self.outputs.discard()


    # -- what each segment is worth, and the backtest -----------------------------
    sql_dialect = "spark"

    def money_scale(self) -> int | None:
        """The scale of ``features__customer_purchases.revenue``; ``None`` without transactions."""
        if not self.cfg.transactions:
            return None
        kind = dict(self.spark.table(PURCHASES).dtypes)["revenue"]  # decimal(38,2)
        return int(re.search(r",\s*(\d+)\)", kind).group(1))

    def first_purchase_day(self):
        """``min(first_purchase_date)`` of the purchases, in Spark."""
        with spark_errors(self.cfg.engine, "reading the first purchase day"):
            return self.spark.sql(f"select min(first_purchase_date) from {PURCHASES}"
                                  ).collect()[0][0]

    def segment_kpis(self, feats, model, ids: list[int], sql: str) -> pl.DataFrame:
        """The KPI query as Spark SQL over the assigned customers and their purchases."""
        from pyspark.sql.types import IntegerType, StringType, StructField, StructType

        with spark_errors(self.cfg.engine, "computing the segment KPIs"):
            self.spark.sql(f"select customer_id, segment_id from {smodel.ASSIGNED}"
                           ).createOrReplaceTempView("segment_members")
            self._purchases().createOrReplaceTempView("customer_purchases")
            self.spark.createDataFrame(
                [(i, int(ids[i]), model.segment_names_[i]) for i in range(model.k_)],
                StructType([StructField("segment_index", IntegerType()),
                            StructField("segment_id", IntegerType()),
                            StructField("segment_name", StringType())])
            ).createOrReplaceTempView("fitted_segments")
            return pl.from_arrow(self.spark.sql(sql).toArrow())

    def _purchases(self):
        """``features__customer_purchases``, or its columns without rows (customers only)."""
        if self.cfg.transactions:
            return self.spark.table(PURCHASES)
        return self.spark.sql(
            "select cast(null as string) as customer_id, cast(null as bigint) as n_purchase_days, "
            "cast(null as bigint) as n_orders, cast(null as decimal(38, 2)) as revenue, "
            "cast(null as date) as first_purchase_date, cast(null as date) as last_purchase_date "
            "where false")

    def backtest_engine(self, cfg: Config) -> SparkEngine:
        """A Spark engine on a new session of this one's context: its own temporary
        views (the backtest's models), the same Spark SQL settings."""
        fit = SparkEngine(cfg)
        fit.spark = self.spark.newSession()
        with contextlib.suppress(Exception):  # settings a running session cannot change
            for key, value in self.spark.conf.getAll.items():
                if key.startswith("spark.sql."):
                    with contextlib.suppress(Exception):
                        fit.spark.conf.set(key, value)
        return fit

    def backtest_sql(self, fit: SparkEngine, run_id: str, stages) -> ssql.SparkFeatures:
        """The fit's features from this session's purchases cut at its date, in its
        session (:mod:`segkit.spark.backtest`): the source is not read again."""
        if self.fit_context is None:
            return fit.run_sql(run_id, stages)
        day = dt.date.fromisoformat(fit.cfg.as_of)
        with spark_errors(self.cfg.engine, "fitting the backtest"):
            self.shared_views = sbacktest.share_line_work(
                self.spark, fit.spark, self.cfg, day, f"segkit_backtest_{id(fit)}")
            feats = sbacktest.fit_features(fit.spark, fit.cfg, self.fit_context, day,
                                           self.source)
        fit.as_of = day
        return feats

    def backtest_outcomes(self, fit: SparkEngine, fit_feats, model, ids: list[int],
                          sql: str) -> pl.DataFrame:
        """The outcome query as Spark SQL in this session; the fit's members and purchases
        come from its session through global temporary views."""
        tag = f"segkit_backtest_{id(fit)}"
        shared = {"backtest_members": f"{tag}_members", "backtest_purchases": f"{tag}_purchases"}
        with spark_errors(self.cfg.engine, "measuring the backtest's outcomes"):
            try:
                fit.spark.sql(f"select customer_id, segment_id from {smodel.ASSIGNED}"
                              ).createOrReplaceGlobalTempView(shared["backtest_members"])
                fit.spark.table(PURCHASES).createOrReplaceGlobalTempView(
                    shared["backtest_purchases"])
                for view, name in shared.items():
                    self.spark.table(f"global_temp.{name}").createOrReplaceTempView(view)
                self._purchases().createOrReplaceTempView("build_purchases")
                return pl.from_arrow(self.spark.sql(sql).toArrow())
            finally:
                for name in shared.values():
                    with contextlib.suppress(Exception):
                        self.spark.catalog.dropGlobalTempView(name)

    def release_backtest(self, fit: SparkEngine) -> None:
        """Drop the fit session's temporary views (their checkpointed rows go with them)
        and the views this session shared with it."""
        sbacktest.drop_shared(self.spark, self.shared_views)
        self.shared_views = []
        with contextlib.suppress(Exception):
            for table in fit.spark.catalog.listTables():
                if table.isTemporary:
                    fit.spark.catalog.dropTempView(table.name)

def _profile_rows(spark, model, ids: list[int], query: ProfileQuery) -> pl.DataFrame:
    """``segments.profile_history`` rows: the DuckDB build's profile SQL, fed per-segment
    aggregates that Spark computes (means, medians, counts per segment: k rows)."""
    import duckdb
    import sqlglot
    from sqlglot import exp

    profiled, numeric = query.profiled, query.numeric
    # Spark: one row per segment with count, the avg of every profiled column and
    # the median of every numeric one (the profile has no median for one-hot columns).
    aggregates = ", ".join(
        [f"avg(cast(f.`{f}` as double)) as `mean__{f}`" for f in profiled]
        + [f"median(cast(f.`{f}` as double)) as `median__{f}`" for f in numeric])
    index = {int(ids[i]): i for i in range(model.k_)}
    case = " ".join(f"when {sid} then {i}" for sid, i in index.items())
    wide = pl.from_arrow(spark.sql(
        f"select case a.segment_id {case} end as segment_index, count(*) as n_customers, "
        f"{aggregates} from {smodel.ASSIGNED} a join {smodel.FEATURES} f "
        "on f.customer_id = a.customer_id group by a.segment_id").toArrow())
    tree = sqlglot.parse_one(query.sql, read="duckdb")
    means = " union all ".join(
        f"select segment_index, '{f}' as feature, `mean__{f}` as mean from wide" for f in profiled)
    medians = " union all ".join(
        f"select segment_index, '{f}' as feature, `median__{f}` as median from wide"
        for f in numeric)
    replace = {
        "segment_means_wide": "select segment_index, n_customers from wide",
        "segment_means": means.replace("`", '"'),
        "segment_medians": medians.replace("`", '"'),
    }
    for cte in tree.find_all(exp.CTE):
        if cte.alias in replace:
            cte.set("this", sqlglot.parse_one(replace[cte.alias], read="duckdb"))
    members = pl.DataFrame({"segment_index": pl.Series([], dtype=pl.Int32)})
    con = duckdb.connect(":memory:", config={"threads": 1})
    try:
        for name, frame in {"segment_members": members, "segment_numeric_members": members,
                            **query.frames, "wide": wide}.items():
            con.register(name, frame)
        return con.sql(tree.sql(dialect="duckdb")).pl().drop("position")
    finally:
        con.close()


def _empty(spark, view: str) -> pl.DataFrame:
    """A view's columns with no rows: the warehouse keeps the shape, Spark the rows."""
    return pl.from_arrow(spark.sql(f"select * from {view} limit 0").toArrow())
