"""Data gates: what the build checks of the data before (and right after) the model runs.

Too few customers is an error (exit 3): segments of a handful of customers
say nothing, and the previous build's results stay as they were. Too short a
history, too few distinct binned vectors for the smallest k, or an as-of date
earlier than the previous build's are warnings: the build goes on, and the
warning is shown on the terminal, stored in ``meta.runs.warnings`` and shown
in the report.
"""

from __future__ import annotations

import polars as pl

from segkit.config import Config
from segkit.errors import InputError


def _setting(cfg: Config, key: str) -> str:
    where = f" in {cfg.source_file}" if cfg.source_file else " in segkit.toml"
    return f"[model] {key}{where}"


def check_data(cfg: Config, feats, previous: dict) -> None:
    """Before the model: too few customers raises; short history and a backwards as-of
    date are added to ``feats.warnings``.

    Raises
    ------
    InputError
        Fewer customers to segment than ``[model] min_customers`` (a
        customers-only build counts its rows).
    """
    m = cfg.model
    found = feats.n_customers
    if found < m.min_customers:
        raise InputError(
            f"{feats.source} has {found:,} customer{'s' if found != 1 else ''} to segment, "
            "fewer than "
            f"[model] min_customers = {m.min_customers:,}: segments of so few customers "
            f"would not mean much, so nothing was built (the previous build's results are "
            f"unchanged). Add data, or lower {_setting(cfg, 'min_customers')} (at least 2) "
            "to segment them anyway.")
    days = history_days(feats)
    if days is not None and days < m.min_history_days:
        feats.warnings.append(
            f"only {days} days of history (first purchase to the as-of date {feats.as_of}), "
            f"less than [model] min_history_days = {m.min_history_days}: recency, frequency "
            "and tenure cannot separate customers well over so short a time. Treat these "
            f"segments as provisional, or lower {_setting(cfg, 'min_history_days')}.")
    before = previous.get("as_of")
    if before is not None and feats.as_of < before:
        feats.warnings.append(
            f"this build's as-of date {feats.as_of} is earlier than the previous build's "
            f"({before}); builds are compared in the order they ran, so segment_since and "
            "segments.segment_changes carry on from that build.")


def history_days(feats) -> int | None:
    """Days from the earliest first purchase to the as-of date: the largest tenure
    (None without transactions). Read from the raw histograms both engines keep,
    whose last edge is the largest value."""
    raw = feats.histograms.filter((pl.col("feature") == "tenure_days")
                                  & (pl.col("stage") == "raw"))
    if raw.is_empty():
        return None
    return int(round(raw["bin_upper"].max()))


def check_model(cfg: Config, model) -> list[str]:
    """Right after the fit: fewer distinct binned vectors than the smallest k."""
    k_min = cfg.model.k if cfg.model.k is not None else cfg.model.k_min
    if model.n_distinct_ >= k_min:
        return []
    return [f"only {model.n_distinct_} distinct binned vectors, fewer than the smallest k "
            f"({k_min}): customers with the same binned features always share a segment, "
            f"so at most {model.n_distinct_} segments can differ. More customers, more "
            "[model] n_bins or more features give the model more to separate."]
