"""The report's charts: one Vega-Lite spec per chart, from pre-aggregated rows.

This module alone imports altair.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from typing import Any

import altair as alt
import polars as pl

from segkit.reporting.data import ReportData
from segkit.reporting.style import _label, feature_label, FONT, segment_color


# -- charts --------------------------------------------------------------------

def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame: pl.DataFrame) -> list[dict]:
    return [{k: _finite(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]


def _base_config(chart: alt.Chart) -> alt.Chart:
    return (chart.configure(font=FONT)
            .configure_view(stroke=None)
            .configure_axis(labelFontSize=12, titleFontSize=12, titleFontWeight="normal",
                            titleColor="#333", labelColor="#333", gridColor="#eee")
            .configure_title(fontSize=14, anchor="start", fontWeight="bold")
            .configure_legend(labelFontSize=12, titleFontSize=12, orient="bottom",
                              titleFontWeight="normal"))


@functools.lru_cache(maxsize=1)
def _config_json() -> str:
    """The ``config`` block that :func:`_base_config` gives every chart, built once."""
    return json.dumps(_base_config(alt.Chart().mark_point()).to_dict(validate=False)["config"])


def _spec(rows: list[dict], chart) -> dict:
    """The Vega-Lite spec, with the rows as a top-level dataset named "rows".

    Rows go in after Altair: it walks every value of inline data, which takes
    seconds for the map's thousands of points. Specs are validated in tests.
    The shared config is set on the dict: each ``configure_*`` call deep-copies
    the whole chart (0.25 s for the report's 14 charts), and the resulting spec
    is the same, key order included (tests/reporting/test_charts.py).
    """
    spec = chart.to_dict(validate=False)
    spec["config"] = json.loads(_config_json())
    spec["datasets"] = {**spec.get("datasets", {}), "rows": rows}
    return spec


@dataclass
class _Segments:
    """Labels and colours of one run's segments, shared by every chart."""

    labels: dict[int, str]
    order: list[str]
    colors: list[str]

    def scale(self) -> alt.Scale:
        return alt.Scale(domain=self.order, range=self.colors)


def _segments(data: ReportData) -> _Segments:
    seg = (data.profiles.select("segment_id", "segment_index", "segment_name").unique()
           .sort("segment_index"))
    names = seg["segment_name"].to_list()
    labels = {}
    for sid, name in zip(seg["segment_id"].to_list(), names):
        # Names are unique in practice; the id keeps two equal names apart anyway.
        labels[sid] = name if names.count(name) == 1 else f"{name} (#{sid})"
    order = [labels[s] for s in seg["segment_id"].to_list()]
    return _Segments(labels=labels, order=order,
                     colors=[segment_color(s) for s in seg["segment_id"].to_list()])


def _quarantine_chart(data: ReportData) -> dict | None:
    q = data.accounting.filter(pl.col("reason").is_not_null())
    if not q.height:
        return None
    rows = _records(q.with_columns(
        (pl.col("source") + ": " + pl.col("reason")).alias("label")))
    chart = alt.Chart(alt.Data(name="rows")).mark_bar(color="#e15759").encode(
        y=alt.Y("label:N", sort="-x", title=None, axis=alt.Axis(labelLimit=360)),
        x=alt.X("n_rows:Q", title="Rows quarantined", axis=alt.Axis(format=",d")),
        tooltip=[alt.Tooltip("source:N", title="Source"),
                 alt.Tooltip("reason:N", title="Reason"),
                 alt.Tooltip("n_rows:Q", title="Rows", format=",d")],
    ).properties(width="container", height=alt.Step(26),
                 title="Rows set aside, by reason")
    text = chart.mark_text(align="left", dx=4, color="#333").encode(
        text=alt.Text("n_rows:Q", format=",d"))
    return _spec(rows, chart + text)


def _trim_empty_ends(h: pl.DataFrame) -> pl.DataFrame:
    """Drop empty bins at either end, so a capped range is not drawn at raw width."""
    counts = h["n_customers"].fill_null(0).to_list()
    filled = [i for i, n in enumerate(counts) if n > 0]
    return h[filled[0]:filled[-1] + 1] if filled else h


def _histogram_chart(data: ReportData, feature: str) -> dict:
    h = data.histograms.filter(pl.col("feature") == feature)
    h = pl.concat([_trim_empty_ends(h.filter(pl.col("stage") == stage).sort("bin_lower"))
                   for stage in h["stage"].unique(maintain_order=True)], how="vertical")
    h = h.with_columns(
        pl.col("stage").replace({"raw": "Before capping", "capped": "After capping"})
        .alias("stage_label"))
    rows = _records(h)
    panels = []
    for stage, color in (("Before capping", "#9aa7b6"), ("After capping", "#4e79a7")):
        panels.append(alt.Chart(alt.Data(name="rows")).transform_filter(
            alt.datum.stage_label == stage).mark_rect(color=color, stroke="white",
                                                      strokeWidth=0.5).encode(
            x=alt.X("bin_lower:Q", title=feature_label(feature),
                    scale=alt.Scale(zero=False, nice=False), axis=alt.Axis(tickCount=5)),
            x2="bin_upper:Q",
            y=alt.Y("n_customers:Q", title="Customers", axis=alt.Axis(format=",d")),
            y2=alt.datum(0),
            tooltip=[alt.Tooltip("bin_lower:Q", title="From", format=",.4~f"),
                     alt.Tooltip("bin_upper:Q", title="To", format=",.4~f"),
                     alt.Tooltip("n_customers:Q", title="Customers", format=",d")],
        ).properties(width=200, height=140, title=stage))
    return _spec(rows, alt.hconcat(*panels).resolve_scale(x="independent", y="independent"))


def _metric_chart(data: ReportData, metric: str, title: str, axis_title: str,
                  fmt: str) -> dict:
    # The elbow is a property of the inertia curve: name it only there.
    elbow = pl.col("is_elbow") if metric == "inertia" else pl.lit(False)
    sel = data.selection.select("k", metric, "is_elbow", "is_chosen").with_columns(
        pl.when(pl.col("is_chosen") & elbow).then(pl.lit("chosen k, elbow"))
        .when(pl.col("is_chosen")).then(pl.lit("chosen k"))
        .when(elbow).then(pl.lit("elbow")).otherwise(pl.lit(""))
        .alias("mark"))
    rows = _records(sel)
    base = alt.Chart(alt.Data(name="rows")).encode(
        x=alt.X("k:O", title="Number of segments (k)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y(f"{metric}:Q", title=axis_title, scale=alt.Scale(zero=False),
                axis=alt.Axis(format=fmt)),
        tooltip=[alt.Tooltip("k:O", title="k"),
                 alt.Tooltip(f"{metric}:Q", title=axis_title, format=fmt)])
    chosen_k = data.run.get("k")
    layers = [
        alt.Chart(alt.Data(values=[{"k": chosen_k}])).mark_rule(
            color="#f28e2b", strokeWidth=14, opacity=0.18).encode(x="k:O"),
        base.mark_line(color="#4e79a7"),
        base.mark_point(filled=True, size=45, color="#4e79a7"),
        base.transform_filter(alt.datum.is_chosen).mark_point(
            filled=True, size=150, color="#f28e2b"),
        base.transform_filter(alt.datum.mark != "").mark_text(
            dy=-12, fontSize=11, color="#333").encode(text="mark:N"),
    ]
    return _spec(rows, alt.layer(*layers).properties(width="container", height=170,
                                                     title=title))


def _map_chart(data: ReportData, segs: _Segments) -> dict | None:
    if not data.tsne.height:
        return None
    t = data.tsne.with_columns(
        pl.col("segment_id").replace_strict(segs.labels, default="?", return_dtype=pl.String)
        .alias("segment"),
        pl.col("x").round(2), pl.col("y").round(2))
    rows = _records(t.select("customer_id", "segment", "x", "y"))
    chart = alt.Chart(alt.Data(name="rows")).mark_circle(size=14, opacity=0.7).encode(
        x=alt.X("x:Q", axis=None), y=alt.Y("y:Q", axis=None),
        color=alt.Color("segment:N", scale=segs.scale(), title="Segment"),
        tooltip=[alt.Tooltip("customer_id:N", title="Customer"),
                 alt.Tooltip("segment:N", title="Segment")],
    ).properties(width="container", height=460,
                 title="Customers placed by similarity (one dot per sampled customer)")
    return _spec(rows, chart)


def _size_chart(data: ReportData, segs: _Segments) -> dict:
    sizes = (data.profiles.select("segment_id", "segment_index", "n_customers", "share")
             .unique().sort("segment_index").with_columns(
                 pl.col("segment_id").replace_strict(segs.labels, return_dtype=pl.String)
                 .alias("segment")))
    rows = _records(sizes)
    base = alt.Chart(alt.Data(name="rows")).encode(
        y=alt.Y("segment:N", sort=segs.order, title=None, axis=alt.Axis(labelLimit=360)),
        x=alt.X("n_customers:Q", title="Customers", axis=alt.Axis(format=",d", tickCount=6)),
        tooltip=[alt.Tooltip("segment:N", title="Segment"),
                 alt.Tooltip("n_customers:Q", title="Customers", format=",d"),
                 alt.Tooltip("share:Q", title="Share", format=".1%")])
    bars = base.mark_bar().encode(
        color=alt.Color("segment:N", scale=segs.scale(), legend=None))
    text = base.mark_text(align="left", dx=4, color="#333").encode(
        text=alt.Text("share:Q", format=".1%"))
    return _spec(rows, (bars + text).properties(width="container", height=alt.Step(30),
                                          title="Customers per segment"))


def _centroid_chart(data: ReportData, segs: _Segments) -> dict:
    # The source spelling (or configured label) of each feature, from the profiles.
    labels = {r["feature"]: _label(r) for r in data.profiles.select(
        "feature", *(["label"] if "label" in data.profiles.columns else [])).unique()
        .iter_rows(named=True)}
    c = data.centroids.with_columns(
        pl.col("segment_id").replace_strict(segs.labels, return_dtype=pl.String)
        .alias("segment"),
        pl.col("feature").map_elements(lambda f: labels.get(f) or feature_label(f),
                                       return_dtype=pl.String)
        .alias("feature_label"),
        pl.col("centroid").round(2))
    features = (c.select("feature_index", "feature_label").unique().sort("feature_index")
                ["feature_label"].to_list())
    rows = _records(c.select("segment", "feature_label", "centroid", "is_binned"))
    top = (data.n_bins or 4) - 1
    # Wide cells with level labels for a few features; narrower, slanted for many.
    step = max(44, min(170, 900 // max(len(features), 1)))
    angle = 0 if step >= 120 else -35
    base = alt.Chart(alt.Data(name="rows")).encode(
        x=alt.X("feature_label:N", sort=features, title=None,
                axis=alt.Axis(labelAngle=angle, orient="top", labelLimit=step - 6 if angle == 0
                              else 180, labelAlign="center" if angle == 0 else "left")),
        y=alt.Y("segment:N", sort=segs.order, title=None, axis=alt.Axis(labelLimit=360)))
    heat = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("centroid:Q", title=f"Quantile group (0 = lowest, {top} = highest)",
                        scale=alt.Scale(scheme="blues", domain=[0, top]),
                        legend=alt.Legend(titleLimit=400, gradientLength=220)),
        tooltip=[alt.Tooltip("segment:N", title="Segment"),
                 alt.Tooltip("feature_label:N", title="Feature"),
                 alt.Tooltip("centroid:Q", title="Centroid", format=".2f")])
    text = base.mark_text(fontSize=12).encode(
        text=alt.Text("centroid:Q", format=".1f"),
        color=alt.condition(alt.datum.centroid > top * 0.6, alt.value("white"),
                            alt.value("#222")))
    return _spec(rows, (heat + text).properties(width=alt.Step(step), height=alt.Step(34),
                                          title="Where each segment sits on each feature"))


def _migration_chart(data: ReportData, segs: _Segments) -> dict | None:
    m = data.migration
    if not m.height:
        return None

    def label(sid, name, missing):
        if sid is None:
            return missing
        return name if name else f"#{sid}"

    rows = []
    for r in m.iter_rows(named=True):
        rows.append({"from": label(r["from_segment_id"], r["from_segment_name"],
                                   "(new customer)"),
                     "to": label(r["to_segment_id"], r["to_segment_name"], "(gone)"),
                     "n_customers": r["n_customers"],
                     "same": r["from_segment_id"] is not None
                     and r["from_segment_id"] == r["to_segment_id"]})
    from_order = list(dict.fromkeys(r["from"] for r in rows))
    to_order = list(dict.fromkeys(r["to"] for r in rows))
    base = alt.Chart(alt.Data(name="rows")).encode(
        x=alt.X("to:N", sort=to_order, title="Segment in this build",
                axis=alt.Axis(labelAngle=0, orient="top", labelLimit=160)),
        y=alt.Y("from:N", sort=from_order, title="Segment in the previous build",
                axis=alt.Axis(labelLimit=220)))
    heat = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("n_customers:Q", title="Customers",
                        scale=alt.Scale(scheme="oranges", type="sqrt", zero=True),
                        legend=alt.Legend(format=",d")),
        tooltip=[alt.Tooltip("from:N", title="Before"), alt.Tooltip("to:N", title="Now"),
                 alt.Tooltip("n_customers:Q", title="Customers", format=",d")])
    # White on dark cells; customers who stayed in their segment (the diagonal) in bold.
    dark = max(r["n_customers"] for r in rows) * 0.35
    ink = alt.condition(alt.datum.n_customers > dark, alt.value("white"), alt.value("#222"))
    moved = base.transform_filter(~alt.datum.same).mark_text(fontSize=12).encode(
        text=alt.Text("n_customers:Q", format=",d"), color=ink)
    stayed = base.transform_filter(alt.datum.same).mark_text(
        fontSize=12, fontWeight="bold").encode(text=alt.Text("n_customers:Q", format=",d"),
                                               color=ink)
    chart = (heat + moved + stayed).properties(
        width=alt.Step(120), height=alt.Step(34), title="Customers moving between segments")
    return _spec(rows, chart)
