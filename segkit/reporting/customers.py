"""The report's per-customer parts: clusters against RFM groups, who changed segment
since the last build, since when customers have had their segment, and the segments'
stability next to the random baseline's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from segkit.warehouse import queries

if TYPE_CHECKING:
    from segkit.reporting.data import ReportData

# Each is the query of that name in sql/queries/report.sql, for one run id.
CUSTOMER_QUERIES = ("rfm_crosstab", "change_counts", "changed_customers", "segment_since")


def load_customer_data(con, run_id: str) -> dict[str, pl.DataFrame]:
    """The ReportData fields of this module, read from the warehouse."""
    return {name: queries.frame(con, f"report.{name}", [run_id]) for name in CUSTOMER_QUERIES}


def crosstab_section(data: ReportData) -> dict[str, Any]:
    """Segments (rows) against RFM groups (columns): customers in each cell."""
    cross = data.rfm_crosstab
    if cross.is_empty():
        return {"rfm_crosstab": None}
    groups = (cross.group_by("rfm_group").agg(pl.col("n_customers").sum())
              .sort(["n_customers", "rfm_group"], descending=[True, False])["rfm_group"]
              .to_list())
    rows = []
    for (segment_id, name), part in cross.group_by(["segment_id", "segment_name"],
                                                   maintain_order=True):
        cells = dict(zip(part["rfm_group"], part["n_customers"]))
        total = int(part["n_customers"].sum())
        top = max(cells, key=lambda g: (cells[g], g))
        rows.append({"segment_name": name, "total": total, "top": top,
                     "cells": [cells.get(g, 0) for g in groups]})
    totals = [int(cross.filter(pl.col("rfm_group") == g)["n_customers"].sum()) for g in groups]
    return {"rfm_crosstab": {"groups": groups, "rows": rows, "totals": totals,
                             "total": sum(totals)}}


def changes_section(data: ReportData) -> dict[str, Any]:
    """Who changed segment since the last build, and since when segments hold customers.

    A first build has no previous build: no one can have stayed, so the share
    that stayed is unknown ("–"), not 0%.
    """
    counts = data.change_counts
    by_type = {t: int(counts.filter(pl.col("change_type") == t)["n_customers"].sum())
               for t in ("moved", "new", "gone")}
    first = data.previous_run_id is None
    since = [{**row, "share_stayed": (row["n_stayed"] / row["n_customers"]
                                      if row["n_customers"] and not first else None)}
             for row in data.segment_since.iter_rows(named=True)]
    return {"changes": {
        "total": sum(by_type.values()), **by_type,
        "top": counts.head(8).to_dicts(),
        "examples": data.changed_customers.to_dicts(),
    } if not first else None, "segment_since": since, "is_first_build": first}


# Stability at most this far above the random baseline's tells nothing: data with
# no structure comes back as steadily (few distinct binned vectors, e.g. the demo's 32,
# are split the same way on every resample whatever they are).
BASELINE_MARGIN = 0.05
# ... and at least this far above, the structure is clearly the customers'.
BASELINE_CLEAR = 0.2


def baseline_section(data: ReportData) -> dict[str, Any]:
    """The chosen k's stability next to the random baseline's at the same k, and what
    the gap says: ``clear`` (far steadier than chance), ``some``, or ``none`` (the
    baseline is within :data:`BASELINE_MARGIN`: stability cannot tell structure
    from noise on this data)."""
    selection = data.selection
    if "stability_baseline" not in selection.columns:
        return {"baseline": None}
    chosen = selection.filter(pl.col("is_chosen"))
    if chosen.is_empty() or chosen["stability_baseline"][0] is None:
        return {"baseline": None}
    row = chosen.row(0, named=True)
    stability, baseline = row["stability_ari_mean"], row["stability_baseline"]
    if stability is None:
        return {"baseline": None}
    # as the page shows them: 1.00 against 0.95 is within the margin
    gap = round(round(stability, 2) - round(baseline, 2), 2)
    verdict = ("clear" if gap >= BASELINE_CLEAR
               else "some" if gap > BASELINE_MARGIN else "none")
    return {"baseline": {"k": row["k"], "stability": stability, "baseline": baseline,
                         "verdict": verdict,
                         "distinct_vectors": data.run.get("distinct_vectors")}}


def customers_sections(data: ReportData) -> dict[str, Any]:
    """The template context of this module's parts."""
    return {**crosstab_section(data), **changes_section(data), **baseline_section(data)}
