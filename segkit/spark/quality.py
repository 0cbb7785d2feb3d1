"""The SQL stage's small results on Spark: row accounting, histograms, warnings.

The Spark counterpart of :mod:`segkit.features.quality`: aggregates over the
model views :mod:`segkit.spark.sql` leaves in the session, brought to the
driver as a few rows each, and the same warnings the DuckDB build gives.
"""

from __future__ import annotations


import numpy as np
import polars as pl

from segkit.config import Config
from segkit.errors import InputError
from segkit.sources import source_for
from segkit.features.quality import (AMOUNT_ROUNDING_SQL, HISTOGRAM_BINS, ROUNDING_COLUMNS,
                                     customer_warnings, quarantine_warnings,
                                     lost_customers_sql, quarantine_samples_sql,
                                     rounding_warnings, with_lost_customers,
                                     with_rounded_amounts)


def _histograms(spark, names: list[str], raw: dict[str, tuple], capped: dict[str, tuple]
                ) -> pl.DataFrame:
    """Equal-width histograms before and after capping, counted in Spark.

    The edges are numpy's (``np.histogram``'s) for the column's min and max; a
    value goes to the last bin whose lower edge it reaches, the maximum to the last.
    """
    rows, parts, stages = [], [], []
    for stage, relation, bounds in (("raw", "features__customer_features_raw", raw),
                                    ("capped", "features__customer_features", capped)):
        edges = {}
        for name in names:
            low, high = bounds[name]
            if low is not None:
                edges[name] = np.histogram_bin_edges(np.array([low, high], dtype=float),
                                                     bins=HISTOGRAM_BINS)
        if not edges:
            continue
        # Each customer's bin of every feature, a projection per feature, and one
        # grouped count over all of them (both relations): one Spark job and one
        # shuffle of a few hundred rows. A group by per feature and relation (their
        # union) was a job each, seven per relation; one aggregate of every bin
        # expression at once took 20 times a min/max of the same rows; the features
        # as rows of one projection (stack) ran uncompiled, ten times slower.
        for j, (name, e) in enumerate(edges.items()):
            column = f"cast(`{name}` as double)"
            finite = (f"case when not isnan({column}) and abs({column}) != double('inf') "
                      f"then {column} end")
            parts.append(f"select {len(stages)} as s, {j} as j, {_bin(finite, e)} as b "
                         f"from {relation}")
        stages.append((stage, edges))
    counted = {}
    if parts:
        counted = {(s, j, b): n for s, j, b, n in spark.sql(
            f"select s, j, b, count(*) as n from ({' union all '.join(parts)}) "
            "where b is not null group by s, j, b").collect()}
    for s, (stage, edges) in enumerate(stages):
        for j, (name, e) in enumerate(edges.items()):
            rows += [{"feature": name, "stage": stage, "bin_lower": float(e[i]),
                      "bin_upper": float(e[i + 1]),
                      "n_customers": int(counted.get((s, j, i), 0))}
                     for i in range(HISTOGRAM_BINS)]
    schema = {"feature": pl.String, "stage": pl.String, "bin_lower": pl.Float64,
              "bin_upper": pl.Float64, "n_customers": pl.Int64}
    order = {(name, stage): k for k, (name, stage)
             in enumerate((n, s) for n in names for s in ("raw", "capped"))}
    # the rows in the order they always came: per feature, raw then capped
    rows.sort(key=lambda r: order[(r["feature"], r["stage"])])
    return pl.DataFrame(rows, schema=schema)


def _double(value: float) -> str:
    """A finite double literal Spark reads back as exactly this double."""
    return f"cast('{float(value)!r}' as double)"


def _bin(x: str, edges: np.ndarray) -> str:
    """The bin of ``x`` as ``np.histogram`` finds it (null for null): a first guess
    from its place between the first and last edge, then one bin down when it is
    below that bin's lower edge, one up when it reaches the next bin's (the guess
    is off by at most one): three comparisons per value, where counting the edges
    at or below it took 29."""
    n = len(edges) - 1
    first, last = float(edges[0]), float(edges[-1])
    listed = f"array({', '.join(_double(e) for e in edges)})"
    guess = (f"least({n - 1}, greatest(0, cast(floor(({x} - {_double(first)}) * "
             f"{_double(n / (last - first))}) as int)))")
    # (greatest() skips a null: the guess of a null would be 0)
    return (f"case when {x} is not null then {guess} "
            f"- case when {x} < element_at({listed}, {guess} + 1) then 1 else 0 end "
            f"+ case when {guess} < {n - 1} and {x} >= element_at({listed}, {guess} + 2) "
            "then 1 else 0 end end")


def _min_max(spark, relation: str, names: list[str]) -> dict[str, tuple]:
    if not names:
        return {}
    parts = []
    for n in names:
        column = f"cast(`{n}` as double)"
        finite = f"case when not isnan({column}) and abs({column}) != double('inf') then {column} end"
        parts += [f"min({finite})", f"max({finite})"]
    row = spark.sql(f"select {', '.join(parts)} from {relation}").collect()[0]
    return {n: (row[2 * i], row[2 * i + 1]) for i, n in enumerate(names)}


def _small(spark, sql: str) -> pl.DataFrame:
    """A small Spark result as Polars, through Arrow (no pandas)."""
    return pl.from_arrow(spark.sql(sql).toArrow())


def _accounting(spark, cfg: Config) -> pl.DataFrame:
    """Rows per (source, quarantine reason); stops when no transaction line is usable."""
    parts = []
    if cfg.transactions:
        # As the DuckDB build counts them (segkit.features.run._accounting): the reasons
        # from the quarantine, the used lines as the line groups' lines less the
        # duplicates and the lines after the as-of date (all among the lines set aside).
        # Counting cleaning__transactions_checked instead read every source line again,
        # with a join per line: a whole pass over the source for one row per reason.
        parts.append("""
            select 'transactions' as source, reason, count(*) as n_rows
            from cleaning__quarantine where source = 'transactions' group by reason
            union all
            select * from (
                select 'transactions' as source, cast(null as string) as reason, cast(
                    (select coalesce(sum(n_lines), 0) from cleaning__line_groups)
                    - (select count(*) from cleaning__transactions_set_aside
                       where quarantine_reason in ('exact duplicate of an earlier row',
                                                   'timestamp after the as-of date'))
                    as bigint) as n_rows
            ) where n_rows > 0""")
    if cfg.customers:
        parts.append("select 'customers' as source, quarantine_reason as reason, "
                     "count(*) as n_rows from cleaning__customers_checked "
                     "group by quarantine_reason")
    accounting = _small(spark, " union all ".join(parts)).with_columns(
        pl.col("n_rows").cast(pl.Int64)).sort(["source", "reason"], nulls_last=False)
    if cfg.transactions:
        label = source_for(cfg.transactions, "transactions").short_label
        tx = accounting.filter(pl.col("source") == "transactions")
        if tx.filter(pl.col("reason").is_null()).is_empty():
            rows_in = int(tx["n_rows"].sum())
            if rows_in == 0:
                raise InputError(f"{label} has no data rows (only a header, or nothing). "
                                 "Point [transactions] at a file with transactions.")
            top = tx.sort("n_rows", descending=True).row(0, named=True)
            raise InputError(f"none of the {rows_in:,} rows in {label} can be used: "
                             f"{top['n_rows']:,} have '{top['reason']}'.")
    return accounting


def _warnings(spark, cfg: Config, context: dict, accounting: pl.DataFrame,
              removed: int) -> tuple[pl.DataFrame, list[str]]:
    """The accounting with the lost customers, and the build's warnings about the data."""
    if cfg.transactions:
        lost = _small(spark, lost_customers_sql("cleaning__quarantine",
                                                "features__customer_features_raw"))
    else:
        lost = pl.DataFrame(schema={"reason": pl.String, "n_customers": pl.Int64,
                                    "example": pl.String})
    lost = lost.with_columns(pl.col("n_customers").cast(pl.Int64))
    rounding = None
    if cfg.transactions:
        row = spark.sql(AMOUNT_ROUNDING_SQL.format(relation="cleaning__amount_rounding")
                        ).collect()[0]
        rounding = dict(zip(("amount_scale", *ROUNDING_COLUMNS, "rounded_example"), row))
    accounting = with_rounded_amounts(with_lost_customers(accounting, lost), rounding)
    hints: dict[str, dict[str, str]] = {}
    for source, reason, hint in spark.sql(
            "select source, reason, hint from cleaning__quarantine_reasons").collect():
        hints.setdefault(source, {})[reason] = hint
    samples = {(s, r): v for s, r, v
               in spark.sql(quarantine_samples_sql("cleaning__quarantine")).collect()
               if v is not None}
    warnings = quarantine_warnings(accounting, hints, samples, lost)
    warnings += rounding_warnings(accounting, rounding)
    n_absurd = 0
    if context["customers"] and context["customers"]["has_age"]:
        n_absurd = spark.sql("select count(*) from cleaning__customers "
                             "where is_age_impossible").collect()[0][0]
    return accounting, warnings + customer_warnings(cfg, n_absurd, removed)
