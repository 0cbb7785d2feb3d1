"""The report's sections: one function per section, together the template's context."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import polars as pl

from segkit import __version__
from segkit.reporting.charts import (
    _centroid_chart,
    _finite,
    _histogram_chart,
    _map_chart,
    _metric_chart,
    _migration_chart,
    _quarantine_chart,
    _records,
    _Segments,
    _segments,
    _size_chart,
)
from segkit.reporting.customers import customers_sections
from segkit.reporting.data import ReportData
from segkit.reporting.style import _label, segment_color, STAGE_LABELS
from segkit.reporting.worth import backtest_section, worth_section


def _number(value: float | None) -> str:
    """A typical value as a card shows it: 66,951 / 47.0 / 4 / 0.25."""
    if value is None or not math.isfinite(value):
        return "–"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"


# What a median of the RFM features means, in words: "median 176 days ago".
_UNITS = {"recency_days": "{} days ago", "frequency": "{} purchases", "tenure_days": "{} days"}


def _typical(row: dict) -> str:
    """The stored typical value behind a phrase: "median 176 days ago", "82% (all: 41%)"."""
    if row.get("kind") == "onehot":
        return (f"{_pct(row['level_share'])} of the segment "
                f"(all customers: {_pct(row['overall_share'])})")
    median = row["median"]
    if row["feature"] in _UNITS and median is not None and math.isfinite(median):
        median = round(median)  # whole days and purchases read better
    return "median " + _UNITS.get(row["feature"], "{}").format(_number(median))


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _card(group: pl.DataFrame, segs: _Segments, clustered: list[str]) -> dict:
    """One segment's card: what sets it apart with the values behind the words."""
    rows = list(group.iter_rows(named=True))
    first = rows[0]
    # Rows of builds before profiles had kinds: one-hot columns start with is_.
    for r in rows:
        r["kind"] = r.get("kind") or ("onehot" if r["feature"].startswith("is_") else "numeric")
    key = sorted((r for r in rows if r.get("description_rank") is not None),
                 key=lambda r: r["description_rank"])
    numeric = sorted((r for r in rows if r["kind"] == "numeric"),
                     key=lambda r: (clustered.index(r["feature"]) if r["feature"] in clustered
                                    else 99, r["feature"]))
    categorical = sorted((r for r in rows if r["kind"] == "categorical"),
                         key=lambda r: _label(r))
    return {
        "segment_id": first["segment_id"], "label": segs.labels[first["segment_id"]],
        "color": segment_color(first["segment_id"]), "n_customers": first["n_customers"],
        "share": first["share"], "description": first["description"] or "",
        "stability": _finite(first["stability"]),
        # "bought recently: median 44 days ago"; a one-hot phrase holds a colon
        # already ("mostly Country: DE"), so a dash reads better there.
        "apart": [{"phrase": r["phrase"], "value": _typical(r),
                   "sep": " — " if r["kind"] == "onehot" else ": "} for r in key],
        # Whole numbers from 100 up: "66,951" fits a card, "66,951.0" overflows it.
        "features": [{"feature": r["feature"], "label": _label(r),
                      "mean": _number(r["mean"]), "median": _number(r["median"])}
                     for r in numeric],
        "categorical": [{"label": _label(r), "top_level": r["top_level"],
                         "share": r["level_share"], "overall": r["overall_share"]}
                        for r in categorical],
    }


def _fmt_seconds(s: float) -> str:
    return f"{s:,.1f} s" if s < 120 else f"{s / 60:,.1f} min"


def _context(data: ReportData) -> dict[str, Any]:
    """The template's context: the run's facts, then each section's, in page order.

    Sections add their charts to one dict in page order; ``page`` escapes it
    into the page's one JSON block.
    """
    run = data.run
    segs = _segments(data)
    charts: dict[str, dict] = {}
    clustered = (run.get("features") or "").split(",")
    warnings_ = [w for w in (run.get("warnings") or "").splitlines() if w.strip()]
    context = {
        "run": run, "run_id": data.run_id, "is_latest": data.is_latest,
        "generated_at": data.read_at.strftime("%Y-%m-%d %H:%M UTC"),
        "segkit_version": __version__, "warehouse_path": str(data.warehouse_path),
        "n_bins": data.n_bins, "warnings": warnings_, "views": _records(data.views),
        "clustered": [f for f in clustered if f],
    }
    context.update(summary_section(data))
    context.update(quality_section(data, charts))
    context.update(features_section(data, charts, clustered, warnings_))
    context.update(choosing_k_section(data, charts))
    context.update(map_section(data, segs, charts))
    context.update(segments_section(data, segs, charts, clustered))
    context.update(worth_section(data.worth.get("kpis", pl.DataFrame()), segs, charts))
    context.update(backtest_section(data.worth.get("backtest", pl.DataFrame()),
                                    data.worth.get("backtest_run", pl.DataFrame()), charts))
    context.update(movement_section(data, segs, charts))
    context.update(sql_section(data, clustered, context["cards"]))
    context.update(customers_sections(data))
    context["charts"] = charts
    context["chart_ids"] = list(charts)
    context["segment_colors"] = [{"label": segs.labels[c["segment_id"]], "color": c["color"]}
                                 for c in context["cards"]]
    return context


def summary_section(data: ReportData) -> dict[str, Any]:
    """1. Summary: stage times and the first purchase in the data."""
    run = data.run
    stages = [{"stage": r["stage"], "label": STAGE_LABELS.get(r["stage"], r["stage"]),
               "seconds": r["seconds"], "text": _fmt_seconds(r["seconds"])}
              for r in data.stages.iter_rows(named=True)]
    slowest = max((s["seconds"] for s in stages), default=0) or 1
    for s in stages:
        s["width"] = round(100 * s["seconds"] / slowest, 1)
    first_purchase = None
    tenure = data.histograms.filter((pl.col("feature") == "tenure_days")
                                    & (pl.col("stage") == "raw"))
    if tenure.height and run.get("as_of_date") is not None:
        # The longest tenure (the raw histogram's top edge) reaches back to the
        # first purchase in the data: a stored fact, nothing recomputed.
        longest = tenure["bin_upper"].max()
        if longest is not None and math.isfinite(longest):
            first_purchase = run["as_of_date"] - dt.timedelta(days=int(round(longest)))
    return {"stages": stages, "first_purchase": first_purchase,
            "total_seconds": _fmt_seconds(sum(s["seconds"] for s in stages)) if stages else None}


def quality_section(data: ReportData, charts: dict[str, dict]) -> dict[str, Any]:
    """2. Data quality: quarantine reasons and per-column quality."""
    quarantine = [r for r in data.accounting.iter_rows(named=True) if r["reason"] is not None]
    q_chart = _quarantine_chart(data)
    if q_chart:
        charts["chart-quarantine"] = q_chart
    return {"quarantine": quarantine, "rows_in": data.run.get("rows_in") or 0,
            "quality": _records(data.column_quality)}


def features_section(data: ReportData, charts: dict[str, dict], clustered: list[str],
                     warnings_: list[str]) -> dict[str, Any]:
    """3. Features: a histogram per feature, and each feature's bins."""
    hist_features = data.histograms["feature"].unique(maintain_order=True).to_list()
    hist_features.sort(key=lambda f: (clustered.index(f) if f in clustered else 99, f))
    hist_ids = []
    for i, f in enumerate(hist_features):
        cid = f"chart-hist-{i}"
        charts[cid] = _histogram_chart(data, f)
        hist_ids.append({"id": cid, "feature": f})
    bins = []
    for f in data.bin_edges["feature"].unique(maintain_order=True).to_list():
        e = data.bin_edges.filter(pl.col("feature") == f)
        total = e["n_customers"].sum() or 1
        rows = [{**r, "share": r["n_customers"] / total} for r in _records(e)]
        mentions = [w for w in warnings_ if f"'{f}'" in w or f'"{f}"' in w]
        collapsed = data.n_bins is not None and e.height < data.n_bins
        bins.append({"feature": f, "rows": rows, "collapsed": collapsed,
                     "n": e.height, "warnings": mentions})
    return {"hist_ids": hist_ids, "bins": bins}


_K_METRICS = (
    ("inertia", "Elbow: spread inside segments", "Inertia (lower = tighter)", "~s"),
    ("silhouette", "Silhouette (higher = better separated)", "Silhouette", ".2f"),
    ("davies_bouldin", "Davies–Bouldin (lower = better)", "Davies–Bouldin", ".2f"),
    ("calinski_harabasz", "Calinski–Harabasz (higher = better)", "Calinski–Harabasz", "~s"),
    ("stability_ari_mean", "Stability (higher = steadier)", "Mean bootstrap ARI", ".2f"),
)


def choosing_k_section(data: ReportData, charts: dict[str, dict]) -> dict[str, Any]:
    """4. Choosing k: one chart per metric over k, the elbow and the chosen k."""
    for metric, title, axis, fmt in _K_METRICS:
        if metric in data.selection.columns and data.selection[metric].is_not_null().any():
            charts[f"chart-k-{metric}"] = _metric_chart(data, metric, title, axis, fmt)
    elbow = data.selection.filter(pl.col("is_elbow"))
    chosen = data.selection.filter(pl.col("is_chosen"))
    return {"k_ids": [c for c in charts if c.startswith("chart-k-")],
            "elbow_k": elbow["k"][0] if elbow.height else None,
            "chosen": chosen.row(0, named=True) if chosen.height else {},
            "selection": _records(data.selection)}


def map_section(data: ReportData, segs: _Segments, charts: dict[str, dict]) -> dict[str, Any]:
    """5. Map: the t-SNE sample and how it was drawn."""
    tsne_method = None
    if data.run.get("tsne_method"):
        try:
            tsne_method = json.loads(data.run["tsne_method"])
        except ValueError:
            tsne_method = {"method": str(data.run["tsne_method"])}
    map_chart = _map_chart(data, segs)
    if map_chart:
        charts["chart-map"] = map_chart
    return {"tsne_method": tsne_method, "has_map": map_chart is not None,
            "map_points": data.tsne.height}


def segments_section(data: ReportData, segs: _Segments, charts: dict[str, dict],
                     clustered: list[str]) -> dict[str, Any]:
    """6. Segments: one card per segment, sizes and centroids."""
    cards = [_card(group, segs, clustered)
             for _, group in data.profiles.group_by("segment_index", maintain_order=True)]
    profile_features = data.profiles["feature"].unique(maintain_order=True).to_list()
    profile_features.sort(key=lambda f: (clustered.index(f) if f in clustered else 99, f))
    charts["chart-sizes"] = _size_chart(data, segs)
    if data.centroids.height:
        charts["chart-centroids"] = _centroid_chart(data, segs)
    return {"cards": cards, "profile_features": profile_features}


def movement_section(data: ReportData, segs: _Segments,
                     charts: dict[str, dict]) -> dict[str, Any]:
    """7. Movement: customers who stayed, moved, arrived or left since the previous build."""
    mig_chart = _migration_chart(data, segs)
    if not mig_chart:
        return {"movement": None}
    charts["chart-migration"] = mig_chart
    m = data.migration
    both = m.filter(pl.col("from_segment_id").is_not_null()
                    & pl.col("to_segment_id").is_not_null())
    stayed = both.filter(pl.col("from_segment_id") == pl.col("to_segment_id"))
    return {"movement": {
        "previous_run_id": data.previous_run_id,
        "in_both": int(both["n_customers"].sum() or 0),
        "stayed": int(stayed["n_customers"].sum() or 0),
        "new": int(m.filter(pl.col("from_segment_id").is_null())["n_customers"].sum() or 0),
        "gone": int(m.filter(pl.col("to_segment_id").is_null())["n_customers"].sum() or 0),
    }}


def sql_section(data: ReportData, clustered: list[str], cards: list[dict]) -> dict[str, Any]:
    """8. SQL: the example queries' column and segment names."""
    example_segment = cards[0]["label"] if cards else "Champions"
    return {"bin_columns": [f"{f}_bin" for f in clustered if f],
            "example_segment": (data.profiles["segment_name"][0] if data.profiles.height
                                else example_segment)}
