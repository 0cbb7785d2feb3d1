"""The shareable HTML report: one self-contained file per build, offline.

The report is rendered from the warehouse ALONE (the per-run ``*_history`` and
``meta.*`` tables), so any past build can be rendered again. It reads finished
tables and never recomputes the model. Every chart gets pre-aggregated or
sampled rows (the t-SNE sample is at most a few thousand points), so the file
stays small at a million customers.

Safety: the page is rendered by Jinja with autoescape on; chart data goes into
one ``<script type="application/json">`` block with ``<``, ``>`` and ``&``
written as ``\\u003c`` etc., so no value from the data can close the block or
start markup. The Vega, Vega-Lite and Vega-Embed JavaScript is inlined once
(vl-convert's bundle), so the page makes no network request.

This module alone imports jinja2 and altair.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import altair as alt
import jinja2
import polars as pl

from segkit import __version__, warehouse
from segkit.config import Config
from segkit.errors import InputError, WarehouseError
from segkit.project import render_model

RUN_ID_PATTERN = re.compile(r"^[0-9A-Za-z_-]+$")
LATEST_NAME = "latest.html"

# Tableau 10: distinct, print-safe, and kind to the common colour-vision deficiencies.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
FONT = ("system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, "
        "sans-serif")

# Plain words for the stages and features the pipeline names in code.
STAGE_LABELS = {
    "load": "Reading and checking rows (DuckDB)",
    "features": "Customer features (DuckDB)",
    "discretize": "Binning the features",
    "sweep": "K-Means sweep over k",
    "stability": "Bootstrap stability",
    "tsne": "Drawing the map (t-SNE)",
    "mlflow": "Tracking (MLflow)",
    "write-back": "Publishing to the warehouse",
    "report": "Rendering the report",
}
FEATURE_LABELS = {
    "recency_days": "Days since last purchase",
    "frequency": "Number of purchases",
    "monetary": "Spend per purchase",
    "tenure_days": "Days since first purchase",
    "age": "Age (years)",
}


def segment_color(segment_id: int) -> str:
    """The colour of a segment id, the same in every chart and every build."""
    return PALETTE[(int(segment_id) - 1) % len(PALETTE)]


def feature_label(name: str) -> str:
    """A feature's name in words (the column name itself when we have none)."""
    if name in FEATURE_LABELS:
        return FEATURE_LABELS[name]
    words = (name[3:] if name.startswith("is_") else name).replace("_", " ")
    return words[:1].upper() + words[1:]


# -- public entry point --------------------------------------------------------

def render_report(cfg: Config, run_id: str | None = None) -> Path:
    """Render the HTML report of one build from the warehouse alone.

    Writes ``<reports_dir>/<run_id>.html`` and, when the build is the latest
    successful one, a copy as ``<reports_dir>/latest.html``.

    Parameters
    ----------
    cfg : Config
        From :func:`segkit.config.load_config`.
    run_id : str, default=None
        The build to render (see ``python -m segkit runs``); ``None`` means the
        latest successful build.

    Returns
    -------
    Path
        The report file ``<reports_dir>/<run_id>.html``.

    Raises
    ------
    InputError
        No warehouse yet, no successful build, an unknown or malformed run id,
        or a build that did not succeed.
    WarehouseError
        The reports folder cannot be created or written.

    Examples
    --------
    >>> from segkit.config import load_config
    >>> render_report(load_config())  # doctest: +SKIP
    PosixPath('.../reports/20261127T101500Z-ab12cd.html')
    """
    if run_id is not None and not RUN_ID_PATTERN.match(run_id):
        raise InputError(f"run id {run_id!r} is not valid: a run id has only letters, digits, "
                         "'_' and '-' (e.g. 20261127T101500Z-ab12cd). List the builds with "
                         "`python -m segkit runs`.")
    data = load_report_data(cfg, run_id)
    html = render_html(data)
    return _write(cfg.reports_dir, data.run_id, html, is_latest=data.is_latest)


# -- reading the warehouse -----------------------------------------------------

@dataclass
class ReportData:
    """Everything the report shows, read from the warehouse for one run."""

    run_id: str
    run: dict[str, Any]
    is_latest: bool
    warehouse_path: Path
    n_bins: int | None
    stages: pl.DataFrame
    views: pl.DataFrame
    accounting: pl.DataFrame
    column_quality: pl.DataFrame
    histograms: pl.DataFrame
    bin_edges: pl.DataFrame
    selection: pl.DataFrame
    profiles: pl.DataFrame
    centroids: pl.DataFrame
    tsne: pl.DataFrame
    previous_run_id: str | None = None
    migration: pl.DataFrame = field(default_factory=pl.DataFrame)


def _q(con, sql: str, params: list | None = None) -> pl.DataFrame:
    return con.sql(sql, params=params or []).pl()


def load_report_data(cfg: Config, run_id: str | None) -> ReportData:
    """Read one run's tables; the connection is closed before anything renders."""
    if not cfg.warehouse.exists():
        raise InputError(f"no warehouse at {cfg.warehouse} yet; run `python -m segkit build` "
                         "first.")
    con = warehouse.connect(cfg.warehouse, cfg.duckdb, read_only=True)
    try:
        return _read(con, cfg, run_id)
    finally:
        con.close()


def _read(con, cfg: Config, run_id: str | None) -> ReportData:
    # "Latest" and "previous" have one definition: segments.successful_runs.
    latest = _q(con, "select run_id from segments.latest_run")
    latest_id = latest["run_id"][0] if latest.height else None
    if run_id is None:
        if latest_id is None:
            raise InputError(f"the warehouse {cfg.warehouse} has no successful build yet; run "
                             "`python -m segkit build`, or list the builds with "
                             "`python -m segkit runs`.")
        run_id = latest_id
    runs = _q(con, "select * from meta.runs where run_id = ?", [run_id])
    if not runs.height:
        raise InputError(f"no build with run id {run_id!r} in {cfg.warehouse}. List the "
                         "builds and their run ids with `python -m segkit runs`.")
    run = runs.row(0, named=True)
    if run["status"] != "success":
        why = f": {run['error']}" if run.get("error") else ""
        raise InputError(f"build {run_id} did not succeed (status {run['status']}{why}), so "
                         "it has no segments to report. Pick a successful build from "
                         "`python -m segkit runs`.")
    p = [run_id]
    previous = _q(con, "select previous_run_id from segments.successful_runs where run_id = ?",
                  [run_id])
    previous_id = previous["previous_run_id"][0] if previous.height else None
    migration = pl.DataFrame()
    if previous_id is not None:
        # The one migration query (sql/segments/migration.sql), for these two runs;
        # aggregated in DuckDB: one row per (before, after) pair, never per customer.
        migration = _q(con, render_model("segments.migration", {
            "from_run_id": warehouse.quote_literal(previous_id),
            "to_run_id": warehouse.quote_literal(run_id)}))
    n_bins = None
    try:
        n_bins = int(json.loads(run.get("config_json") or "{}").get("model", {})["n_bins"])
    except (ValueError, KeyError, TypeError):
        pass
    return ReportData(
        run_id=run_id, run=run, is_latest=run_id == latest_id, warehouse_path=cfg.warehouse,
        n_bins=n_bins,
        stages=_q(con, "select stage, seconds from meta.run_stages where run_id = ?", p),
        views=_q(con, "select view_name, version, sql_hash from meta.run_views "
                      "where run_id = ? order by view_name", p),
        accounting=_q(con, "select source, reason, n_rows from meta.row_accounting "
                           "where run_id = ? order by source, reason nulls first", p),
        column_quality=_q(con, "select * exclude (run_id) from meta.column_quality "
                               "where run_id = ? order by column_kind desc, column_name", p),
        histograms=_q(con, "select feature, stage, bin_lower, bin_upper, n_customers "
                           "from meta.feature_histograms where run_id = ? "
                           "order by feature, stage, bin_lower", p),
        bin_edges=_q(con, "select feature, feature_index, bin, lower, upper, n_customers "
                          "from segments.bin_edge_history where run_id = ? "
                          "order by feature_index, bin", p),
        selection=_q(con, "select * exclude (run_id) from segments.selection_history "
                          "where run_id = ? order by k", p),
        profiles=_q(con, "select * exclude (run_id) from segments.profile_history "
                         "where run_id = ? order by segment_index, feature", p),
        centroids=_q(con, "select segment_id, segment_index, segment_name, feature, "
                          "feature_index, is_binned, centroid from segments.centroid_history "
                          "where run_id = ? order by segment_index, feature_index", p),
        tsne=_q(con, "select customer_id, segment_id, x, y from segments.tsne_history "
                     "where run_id = ? order by customer_id", p),
        previous_run_id=previous_id, migration=migration)


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
    is the same, key order included (tests/test_report.py).
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


# -- the page ------------------------------------------------------------------

def _json_for_script(obj: Any) -> str:
    """JSON that cannot end its <script> block nor be read as markup."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "segkit"


@functools.lru_cache(maxsize=1)
def vega_javascript() -> str:
    """Vega, Vega-Lite and Vega-Embed as one script (vl-convert's offline bundle).

    Building the bundle takes seconds, so it is cached per process and on disk
    (``~/.cache/segkit``, keyed by the vl-convert version); without a writable
    cache it is simply built each time.
    """
    import vl_convert

    cache = _cache_dir() / f"vega-bundle-vl-convert-{vl_convert.__version__}.js"
    try:
        text = cache.read_text(encoding="utf-8")
        if "window.vegaEmbed=" in text:
            return text
    except OSError:
        pass
    text = vl_convert.javascript_bundle()
    # The bundle must not end its own <script> element early.
    text = text.replace("</script", "<\\/script").replace("<!--", "<\\!--")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=cache.parent,
                                         delete=False, suffix=".tmp") as handle:
            handle.write(text)
        os.replace(handle.name, cache)
    except OSError:
        pass
    return text


def _label(row: dict) -> str:
    """A profile row's feature as people call it: its source spelling or configured label."""
    label = row.get("label")
    return label if label and label != row["feature"] else feature_label(row["feature"])


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


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("segkit", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda v: "–" if v is None else f"{v:,}"
    env.filters["pct"] = lambda v, d=1: "–" if v is None else f"{v * 100:.{d}f}%"
    env.filters["fixed"] = lambda v, d=3: ("–" if v is None or not math.isfinite(v)
                                          else f"{v:,.{d}f}")
    env.filters["feature"] = feature_label
    env.filters["sql_literal"] = lambda v: "'" + str(v).replace("'", "''") + "'"
    env.filters["sql_ident"] = lambda v: (str(v) if re.match(r"^[a-z_][a-z0-9_]*$", str(v))
                                          else '"' + str(v).replace('"', '""') + '"')
    return env


def _fmt_seconds(s: float) -> str:
    return f"{s:,.1f} s" if s < 120 else f"{s / 60:,.1f} min"


def _context(data: ReportData) -> dict[str, Any]:
    run = data.run
    segs = _segments(data)
    charts: dict[str, dict] = {}

    # 1. Summary
    stages = [{"stage": r["stage"], "label": STAGE_LABELS.get(r["stage"], r["stage"]),
               "seconds": r["seconds"], "text": _fmt_seconds(r["seconds"])}
              for r in data.stages.iter_rows(named=True)]
    slowest = max((s["seconds"] for s in stages), default=0) or 1
    for s in stages:
        s["width"] = round(100 * s["seconds"] / slowest, 1)
    warnings_ = [w for w in (run.get("warnings") or "").splitlines() if w.strip()]
    first_purchase = None
    tenure = data.histograms.filter((pl.col("feature") == "tenure_days")
                                    & (pl.col("stage") == "raw"))
    if tenure.height and run.get("as_of_date") is not None:
        # The longest tenure (the raw histogram's top edge) reaches back to the
        # first purchase in the data: a stored fact, nothing recomputed.
        longest = tenure["bin_upper"].max()
        if longest is not None and math.isfinite(longest):
            first_purchase = run["as_of_date"] - dt.timedelta(days=int(round(longest)))

    # 2. Data quality
    acc = data.accounting
    quarantine = [r for r in acc.iter_rows(named=True) if r["reason"] is not None]
    rows_in = run.get("rows_in") or 0
    quality = _records(data.column_quality)
    q_chart = _quarantine_chart(data)
    if q_chart:
        charts["chart-quarantine"] = q_chart

    # 3. Features
    hist_features = data.histograms["feature"].unique(maintain_order=True).to_list()
    clustered = (run.get("features") or "").split(",")
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

    # 4. Choosing k
    for metric, title, axis, fmt in (
            ("inertia", "Elbow: spread inside segments", "Inertia (lower = tighter)", "~s"),
            ("silhouette", "Silhouette (higher = better separated)", "Silhouette", ".2f"),
            ("davies_bouldin", "Davies–Bouldin (lower = better)", "Davies–Bouldin", ".2f"),
            ("calinski_harabasz", "Calinski–Harabasz (higher = better)",
             "Calinski–Harabasz", "~s"),
            ("stability_ari_mean", "Stability (higher = steadier)",
             "Mean bootstrap ARI", ".2f")):
        if metric in data.selection.columns and data.selection[metric].is_not_null().any():
            charts[f"chart-k-{metric}"] = _metric_chart(data, metric, title, axis, fmt)
    k_ids = [c for c in charts if c.startswith("chart-k-")]
    elbow = data.selection.filter(pl.col("is_elbow"))
    elbow_k = elbow["k"][0] if elbow.height else None
    chosen = data.selection.filter(pl.col("is_chosen"))
    chosen_row = chosen.row(0, named=True) if chosen.height else {}

    # 5. Map
    tsne_method = None
    if run.get("tsne_method"):
        try:
            tsne_method = json.loads(run["tsne_method"])
        except ValueError:
            tsne_method = {"method": str(run["tsne_method"])}
    map_chart = _map_chart(data, segs)
    if map_chart:
        charts["chart-map"] = map_chart

    # 6. Segments
    cards = [_card(group, segs, clustered)
             for _, group in data.profiles.group_by("segment_index", maintain_order=True)]
    profile_features = data.profiles["feature"].unique(maintain_order=True).to_list()
    profile_features.sort(key=lambda f: (clustered.index(f) if f in clustered else 99, f))
    charts["chart-sizes"] = _size_chart(data, segs)
    if data.centroids.height:
        charts["chart-centroids"] = _centroid_chart(data, segs)

    # 7. Movement
    movement = None
    mig_chart = _migration_chart(data, segs)
    if mig_chart:
        charts["chart-migration"] = mig_chart
        m = data.migration
        both = m.filter(pl.col("from_segment_id").is_not_null()
                        & pl.col("to_segment_id").is_not_null())
        stayed = both.filter(pl.col("from_segment_id") == pl.col("to_segment_id"))
        movement = {
            "previous_run_id": data.previous_run_id,
            "in_both": int(both["n_customers"].sum() or 0),
            "stayed": int(stayed["n_customers"].sum() or 0),
            "new": int(m.filter(pl.col("from_segment_id").is_null())["n_customers"].sum() or 0),
            "gone": int(m.filter(pl.col("to_segment_id").is_null())["n_customers"].sum() or 0),
        }

    # 8. SQL
    bin_columns = [f"{f}_bin" for f in clustered if f]
    example_segment = cards[0]["label"] if cards else "Champions"
    example_segment_name = (data.profiles["segment_name"][0] if data.profiles.height
                            else example_segment)

    return {
        "run": run, "run_id": data.run_id, "is_latest": data.is_latest,
        "generated_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "segkit_version": __version__, "warehouse_path": str(data.warehouse_path),
        "n_bins": data.n_bins, "stages": stages, "warnings": warnings_,
        "total_seconds": _fmt_seconds(sum(s["seconds"] for s in stages)) if stages else None,
        "views": _records(data.views), "first_purchase": first_purchase,
        "quarantine": quarantine, "rows_in": rows_in, "quality": quality,
        "hist_ids": hist_ids, "bins": bins, "k_ids": k_ids, "elbow_k": elbow_k,
        "chosen": chosen_row, "selection": _records(data.selection),
        "tsne_method": tsne_method, "has_map": map_chart is not None,
        "map_points": data.tsne.height,
        "cards": cards, "profile_features": profile_features, "movement": movement,
        "bin_columns": bin_columns, "example_segment": example_segment_name,
        "clustered": [f for f in clustered if f],
        "charts_json": _json_for_script(charts), "chart_ids": list(charts),
        "segment_colors": [{"label": segs.labels[c["segment_id"]], "color": c["color"]}
                           for c in cards],
    }


def render_html(data: ReportData) -> str:
    """The whole report page as one string (charts, data and JavaScript inlined)."""
    template = _environment().get_template("report.html.j2")
    context = _context(data)
    # Markup: the bundle and the JSON are made safe for a <script> element above.
    context["vega_js"] = jinja2.utils.markupsafe.Markup(vega_javascript())
    context["charts_json"] = jinja2.utils.markupsafe.Markup(context["charts_json"])
    return template.render(**context)


# -- writing -------------------------------------------------------------------

def _write(folder: Path, run_id: str, html: str, *, is_latest: bool) -> Path:
    """Write atomically (a reader never sees half a report); copy to latest.html."""
    target = folder / f"{run_id}.html"
    # The name comes only from a validated run id; this guards the folder anyway.
    if target.resolve().parent != folder.resolve():
        raise InputError(f"run id {run_id!r} would write outside {folder}.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        names = [target.name] + ([LATEST_NAME] if is_latest else [])
        for name in names:
            handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder,
                                                 delete=False, prefix=".report-", suffix=".tmp")
            try:
                with handle:
                    handle.write(html)
                os.chmod(handle.name, 0o644)
                os.replace(handle.name, folder / name)
            except BaseException:
                Path(handle.name).unlink(missing_ok=True)
                raise
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise WarehouseError(f"cannot write the report to the reports folder {folder}: "
                             f"{reason}. Set reports_dir in segkit.toml to a folder you can "
                             "write, or fix its permissions.") from None
    return target


def write_report(folder: Path, run_id: str, html: str) -> Path:
    """Write the rendered report of the build just published, and ``latest.html``."""
    return _write(folder, run_id, html, is_latest=True)
