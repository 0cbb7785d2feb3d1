"""The page: escaping for <script>, the inlined Vega bundle, Jinja, and writing the file."""

from __future__ import annotations

import functools
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import jinja2

from segkit.errors import InputError, WarehouseError
from segkit.reporting.data import ReportData
from segkit.reporting.sections import _context
from segkit.reporting.style import feature_label


RUN_ID_PATTERN = re.compile(r"^[0-9A-Za-z_-]+$")
LATEST_NAME = "latest.html"


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


def render_html(data: ReportData) -> str:
    """The whole report page as one string (charts, data and JavaScript inlined)."""
    template = _environment().get_template("report.html.j2")
    context = _context(data)
    # Markup: the bundle and the JSON are made safe for a <script> element above.
    context["vega_js"] = jinja2.utils.markupsafe.Markup(vega_javascript())
    context["charts_json"] = jinja2.utils.markupsafe.Markup(_json_for_script(context.pop("charts")))
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
