"""Staging, cleaning and features: the SQL half of a build, with row accounting.

Runs the views under ``sql/`` in the build's work database, reads each source
(:mod:`segkit.sources` makes them readable)
exactly once (the screened transaction lines are materialized as a table, as
dbt's table materialization does), and hands one feature row per customer to
Python as a Polars frame.

One module per job:

- ``run``: the SQL run of a build: the models made in one order by either
  engine (:func:`run_models`), DuckDB's SQL stage (:func:`build_features`,
  :class:`FeatureResult`), and ``segkit sql render`` (:func:`compile_project`);
- ``context``: the values the SQL models render with (columns, levels, labels);
- ``quality``: histograms and the quarantine warnings and samples;
- ``backtest_fit``: the backtest's fit over the build's purchases cut at its date.
"""

from __future__ import annotations

from segkit.features.context import (
    AS_OF,
    LINE_TABLE,
    RAW_FEATURES,
    for_dialect,
    project_models,
    render_context,
    segment_context,
)
from segkit.features.quality import HISTOGRAM_BINS, reason_hints
from segkit.features.run import (
    DuckDBModels,
    FeatureResult,
    ModelRunner,
    SqlRun,
    build_features,
    compile_project,
    run_models,
)
from segkit.sources import slug  # kept here for callers that used it here

__all__ = [
    "AS_OF", "LINE_TABLE", "RAW_FEATURES", "HISTOGRAM_BINS", "DuckDBModels", "FeatureResult",
    "ModelRunner", "SqlRun", "build_features", "compile_project", "for_dialect",
    "project_models", "reason_hints", "render_context", "run_models", "segment_context",
    "slug",
]
