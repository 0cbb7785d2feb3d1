"""The report's parts on what each segment is worth and whether the segments predict.

Read (by :mod:`segkit.reporting.data`) from ``segments.kpi_history``,
``segments.backtest_history`` and ``segments.backtest_run_history`` (queries
``report.kpis``, ``report.backtest``, ``report.backtest_run``); nothing is
recomputed here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import altair as alt
import polars as pl

from segkit.reporting.charts import _Segments, _spec


def money(value) -> str:
    """Money as a card shows it: 1,234.56 (exact, from the stored DECIMAL)."""
    if value is None:
        return "–"
    return f"{Decimal(value).quantize(Decimal('0.01')):,}"


def sentence(run: dict) -> str | None:
    """"Customers in Loyal were 9.2 times as likely to buy again within 90 days as those in
    Hibernating", from a ``segments.backtest_run_history`` row; ``None`` without a lift."""
    if run.get("status") != "ran" or run.get("lift") is None:
        return None
    return (f"Customers in {run['top_segment_name']} were {run['lift']:.1f} times as likely "
            f"to buy again within {run['horizon_days']} days as those in "
            f"{run['bottom_segment_name']}.")


def worth_section(kpis: pl.DataFrame, segs: _Segments, charts: dict[str, dict]) -> dict[str, Any]:
    """Per-segment KPIs for the cards, the "What each segment is worth" chart, and the
    summary's top segment by revenue."""
    if not kpis.height:
        return {"kpis": {}, "has_revenue": False, "top_revenue": None}
    has_revenue = bool(kpis["has_transactions"][0]) and kpis["revenue"].null_count() < kpis.height
    cards = {}
    for r in kpis.iter_rows(named=True):
        cards[r["segment_id"]] = {
            "revenue": money(r["revenue"]), "revenue_share": r["revenue_share"],
            "orders": r["n_orders"], "aov": money(r["average_order_value"]),
            "per_customer": money(r["revenue_per_customer"]),
            "gap": r["median_days_between_purchases"],
            "one_time": r["one_time_buyer_share"]}
    top = None
    if has_revenue:
        best = max(kpis.iter_rows(named=True), key=lambda r: (r["revenue"] or 0))
        top = {"name": segs.labels.get(best["segment_id"], best["segment_name"]),
               "share": best["revenue_share"]}
        charts["chart-worth"] = _worth_chart(kpis, segs)
    return {"kpis": cards, "has_revenue": has_revenue, "top_revenue": top}


def _worth_chart(kpis: pl.DataFrame, segs: _Segments) -> dict:
    """Revenue share beside customer share, per segment."""
    rows = []
    for r in kpis.sort("segment_index").iter_rows(named=True):
        label = segs.labels.get(r["segment_id"], r["segment_name"])
        rows.append({"segment": label, "measure": "Share of revenue", "share": r["revenue_share"],
                     "revenue": float(r["revenue"] or 0)})
        rows.append({"segment": label, "measure": "Share of customers",
                     "share": r["customer_share"], "revenue": float(r["revenue"] or 0)})
    base = alt.Chart(alt.Data(name="rows")).encode(
        y=alt.Y("segment:N", sort=segs.order, title=None, axis=alt.Axis(labelLimit=360)),
        yOffset=alt.YOffset("measure:N", sort=["Share of revenue", "Share of customers"]),
        x=alt.X("share:Q", title="Share", axis=alt.Axis(format=".0%")),
        tooltip=[alt.Tooltip("segment:N", title="Segment"),
                 alt.Tooltip("measure:N", title="Measure"),
                 alt.Tooltip("share:Q", title="Share", format=".1%"),
                 alt.Tooltip("revenue:Q", title="Revenue", format=",.2f")])
    bars = base.mark_bar().encode(
        color=alt.Color("measure:N", title=None, scale=alt.Scale(
            domain=["Share of revenue", "Share of customers"], range=["#1f77b4", "#c7c7c7"]),
            legend=alt.Legend(orient="top")))
    text = base.mark_text(align="left", dx=4, color="#333").encode(
        text=alt.Text("share:Q", format=".1%"))
    return _spec(rows, (bars + text).properties(width="container", height=alt.Step(18),
                                                title="What each segment is worth"))


def backtest_section(backtest: pl.DataFrame, run_rows: pl.DataFrame,
                     charts: dict[str, dict]) -> dict[str, Any]:
    """"Do the segments predict?": the sentence, the chart and what was done, or why not."""
    run = run_rows.row(0, named=True) if run_rows.height else None
    if run is None:
        return {"backtest": None}
    out = {"status": run["status"], "reason": run["reason"], "run": run,
           "sentence": sentence(run), "rows": []}
    if run["status"] == "ran" and backtest.height:
        rows = backtest.sort("segment_rank", "segment_id")
        out["rows"] = [{**r, "mean_spend_text": money(r["mean_spend"]),
                        "low_text": money(r["mean_spend_low"]),
                        "high_text": money(r["mean_spend_high"])}
                       for r in rows.iter_rows(named=True)]
        charts["chart-backtest"] = _backtest_chart(rows, run)
    return {"backtest": out}


def _backtest_chart(rows: pl.DataFrame, run: dict) -> dict:
    """Repurchase share and mean spend per segment of the fit, with their intervals."""
    order = rows["segment_name"].to_list()
    share = [{"segment": r["segment_name"], "value": r["repurchase_share"],
              "low": r["repurchase_share_low"], "high": r["repurchase_share_high"]}
             for r in rows.iter_rows(named=True)]
    spend = [{"segment": r["segment_name"], "value": float(r["mean_spend"]),
              "low": float(r["mean_spend_low"]) if r["mean_spend_low"] is not None else None,
              "high": float(r["mean_spend_high"]) if r["mean_spend_high"] is not None else None}
             for r in rows.iter_rows(named=True)]
    data = ([{**r, "measure": "share"} for r in share]
            + [{**r, "measure": "spend"} for r in spend])
    h = run["horizon_days"]

    def panel(measure: str, title: str, fmt: str) -> alt.LayerChart:
        base = alt.Chart(alt.Data(name="rows")).transform_filter(
            alt.datum.measure == measure).encode(
            y=alt.Y("segment:N", sort=order, title=None, axis=alt.Axis(labelLimit=240)))
        bars = base.mark_bar(color="#1f77b4", opacity=0.8).encode(
            x=alt.X("value:Q", title=title, axis=alt.Axis(format=fmt)),
            tooltip=[alt.Tooltip("segment:N", title="Segment"),
                     alt.Tooltip("value:Q", title=title, format=fmt),
                     alt.Tooltip("low:Q", title="95% interval from", format=fmt),
                     alt.Tooltip("high:Q", title="to", format=fmt)])
        rules = base.mark_rule(color="#222", strokeWidth=2).encode(x="low:Q", x2="high:Q")
        return (bars + rules).properties(width=300, height=alt.Step(28))

    chart = alt.hconcat(panel("share", f"Bought again within {h} days", ".0%"),
                        panel("spend", f"Mean spend in the {h} days", ",.2f")).properties(
        title=f"What each segment of the fit as of {run['backtest_as_of_date']} did next "
              "(black lines: 95% intervals)")
    return _spec(data, chart)
