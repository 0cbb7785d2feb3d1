"""Data quality of a build: feature histograms, quarantine warnings and samples."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from segkit.config import MAX_AMOUNT_DECIMALS, Config
from segkit.errors import InputError
from segkit.warehouse import quote_ident


HISTOGRAM_BINS = 30


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
    # No line is usable, so every line is set aside with its reason; the
    # smallest value is the example, so the message is the same on every run.
    reason, n, example = con.execute(
        "select quarantine_reason, count(*), min(coalesce(ordered_at_text, amount_text)) "
        "from cleaning.transactions_set_aside group by all order by 2 desc, 1 limit 1"
    ).fetchall()[0]
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
    "amount too large": "amount_text",
    "amount zero or negative": "amount_text",
    "timestamp after the as-of date": "ordered_at_text",
}


def lost_customers_sql(quarantine: str, raw_features: str) -> str:
    """Customers whose every transaction line was quarantined, with the reason of most.

    They have lines (so an id) but no usable one: nobody segments them, and
    without this count they would vanish with nothing but a line count to show.
    One query for both engines, over the relations they name.
    """
    return f"""
        with lines as (
            select customer_id, reason, count(*) as n_lines
            from {quarantine}
            where source = 'transactions' and customer_id is not null
            group by customer_id, reason
        ),
        lost as (
            select * from lines
            where customer_id not in (select customer_id from {raw_features})
        ),
        ranked as (
            select *, row_number() over (partition by customer_id
                                         order by n_lines desc, reason) as rank
            from lost
        )
        select reason, count(*) as n_customers, min(customer_id) as example
        from ranked where rank = 1 group by reason order by reason
    """


def quarantine_samples_sql(quarantine: str) -> str:
    """One source value per (source, reason), the smallest, so builds repeat exactly."""
    cases = " ".join(f"when '{r}' then {c}" for r, c in _SAMPLE_COLUMN.items())
    return f"""
        select source, reason,
               min(coalesce(case reason {cases} end, order_id, customer_id,
                            ordered_at_text, amount_text))
        from {quarantine} group by source, reason
    """


def _lost_customers(con, quarantine) -> pl.DataFrame:
    """:func:`lost_customers_sql` over the fetched quarantine."""
    con.register("_segkit_quarantine", quarantine)
    try:
        return con.sql(lost_customers_sql("_segkit_quarantine",
                                          "features.customer_features_raw")).pl()
    finally:
        con.unregister("_segkit_quarantine")


def quarantine_warnings(accounting: pl.DataFrame, hints: dict[str, dict[str, str]],
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
    """:func:`quarantine_samples_sql` over the fetched quarantine, by (source, reason)."""
    con.register("_segkit_quarantine", quarantine)
    try:
        rows = con.execute(quarantine_samples_sql("_segkit_quarantine")).fetchall()
    finally:
        con.unregister("_segkit_quarantine")
    return {(source, reason): value for source, reason, value in rows if value is not None}


# The amounts rounded to the scale kept, counted by cleaning.amount_rounding.
ROUNDING_COLUMNS = ("n_amounts_rounded", "n_amounts_float_noise")
AMOUNT_ROUNDING_SQL = ("select amount_scale, n_amounts_rounded, n_amounts_float_noise, "
                       "rounded_example from {relation}")


def rounding_counts(con) -> dict[str, Any] | None:
    """The build's one row of cleaning.amount_rounding (None without transactions)."""
    exists = con.execute("select count(*) from duckdb_tables() where schema_name = 'cleaning' "
                         "and table_name = 'amount_rounding'").fetchall()[0][0]
    if not exists:  # a customers-only build
        return None
    rows = con.execute(AMOUNT_ROUNDING_SQL.format(relation="cleaning.amount_rounding")
                       ).fetchall()
    return dict(zip(("amount_scale", *ROUNDING_COLUMNS, "rounded_example"), rows[0]))


def with_rounded_amounts(accounting: pl.DataFrame,
                         rounding: dict[str, Any] | None) -> pl.DataFrame:
    """The row accounting with ``n_amounts_rounded`` and ``n_amounts_float_noise``:
    how many of the transactions used had their amount rounded to the scale kept,
    by more than float noise or by float noise alone (null on every other row)."""
    used = (pl.col("source") == "transactions") & pl.col("reason").is_null()
    return accounting.with_columns(
        pl.when(used).then(pl.lit(rounding[column] if rounding else None))
        .otherwise(pl.lit(None)).cast(pl.Int64).alias(column)
        for column in ROUNDING_COLUMNS)


def rounding_warnings(accounting: pl.DataFrame, rounding: dict[str, Any] | None) -> list[str]:
    """A warning when amounts lost digits beyond float noise to the scale kept.

    Float noise alone (15.299999999999999 read as 15.3) is counted, not news.
    """
    if not rounding or not rounding["n_amounts_rounded"]:
        return []
    used = int(accounting.filter((pl.col("source") == "transactions")
                                 & pl.col("reason").is_null())["n_rows"].sum())
    scale, n = rounding["amount_scale"], rounding["n_amounts_rounded"]
    fix = ("set [transactions] amount_decimals to keep more" if scale < MAX_AMOUNT_DECIMALS
           else f"segkit keeps at most {MAX_AMOUNT_DECIMALS}")
    return [f"{n:,} of {used:,} transactions rows used had an amount with more than {scale} "
            f"decimals, rounded half-up to {scale}, e.g. {rounding['rounded_example']!r}; "
            f"{fix} (see meta.row_accounting, n_amounts_rounded)."]


def build_warnings(con, cfg: Config, context: dict[str, Any], accounting: pl.DataFrame,
                   quarantine, lost: pl.DataFrame, removed: int) -> list[str]:
    """The SQL stage's warnings: notable quarantine reasons, amounts rounded, impossible
    ages, outliers removed."""
    hints = {source: reason_hints(con, source)
             for source in accounting["source"].unique().to_list()}
    warnings = quarantine_warnings(accounting, hints, _quarantine_samples(con, quarantine), lost)
    warnings += rounding_warnings(accounting, rounding_counts(con))
    n_absurd = 0
    if context["customers"] and context["customers"]["has_age"]:
        n_absurd = con.execute("select count(*) from cleaning.customers "
                               "where is_age_impossible").fetchall()[0][0]
    return warnings + customer_warnings(cfg, n_absurd, removed)


def customer_warnings(cfg: Config, n_absurd: int, removed: int) -> list[str]:
    """Warnings about customers of either engine: impossible ages, outliers removed."""
    warnings = []
    if n_absurd:
        low, high = cfg.features.age_range
        warnings.append(f"{n_absurd:,} customers have an age outside [features] age_range "
                        f"[{low}, {high}] (negative, or a typo like 1893); their age was "
                        "treated as missing and imputed (see meta.column_quality).")
    if removed:
        warnings.append(f"{removed:,} customers were removed as outliers "
                        f"(outside the {cfg.features.cap_quantiles} quantiles of a feature).")
    return warnings


def with_lost_customers(accounting: pl.DataFrame, lost: pl.DataFrame) -> pl.DataFrame:
    """The row accounting with ``n_customers_lost``: customers whose every line had a reason."""
    return (accounting.join(
        lost.select("reason", pl.col("n_customers").cast(pl.Int64).alias("n_customers_lost"))
        .with_columns(pl.lit("transactions").alias("source")),
        on=["source", "reason"], how="left")
        .with_columns(pl.col("n_customers_lost").fill_null(0).cast(pl.Int64)))
