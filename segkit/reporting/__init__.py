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

The entry point is :func:`render_report`; one module per job:

- ``data``: the one place the report reads the warehouse (:class:`ReportData`);
- ``style``: colours, fonts and the words for stages and features;
- ``charts``: every chart's Vega-Lite spec (the only module importing altair);
- ``sections``: one function per report section, the template's context;
- ``page``: escaping, the Vega bundle, Jinja and writing the file.
"""

from __future__ import annotations

from pathlib import Path

from segkit.config import Config
from segkit.errors import InputError
from segkit.reporting.data import ReportData, load_report_data
from segkit.reporting.page import (
    LATEST_NAME,
    RUN_ID_PATTERN,
    _write,
    render_html,
    vega_javascript,
    write_report,
)
from segkit.reporting.style import feature_label, segment_color

__all__ = [
    "render_report", "load_report_data", "render_html", "write_report", "ReportData",
    "vega_javascript", "segment_color", "feature_label", "LATEST_NAME", "RUN_ID_PATTERN",
]


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
