"""Progress of a build: stage events, stage timing, the stored stage seconds, the result."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, TYPE_CHECKING

from segkit.features import FeatureResult

if TYPE_CHECKING:  # importing scikit-learn takes seconds: the warm-up thread does it
    from segkit.model import Segmenter


class Progress:
    """Receives stage events; the CLI shows them, the library stays quiet."""

    def start(self, stage: str, description: str) -> None:
        """A stage begins."""

    def done(self, stage: str, seconds: float, detail: str = "") -> None:
        """A stage ended after ``seconds``."""

    def warn(self, message: str) -> None:
        """A degraded but valid result worth telling the user."""


@dataclass
class BuildResult:
    """What a build produced; the same facts are in ``meta.runs``."""

    run_id: str
    warehouse: Path
    report_path: Path | None
    k: int
    silhouette: float
    segment_names: list[str]
    customers: int
    rows_in: int
    rows_used: int
    rows_quarantined: int
    seconds: dict[str, float]
    mlflow_run_id: str | None = None
    model_version: str | None = None
    warnings: list[str] = field(default_factory=list)


class _Stages:
    """Times each stage and forwards it to the progress display."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str, description: str) -> Iterator[dict]:
        info: dict = {}
        self.progress.start(stage, description)
        started = time.perf_counter()
        yield info
        self.seconds[stage] = round(time.perf_counter() - started, 4)
        self.progress.done(stage, self.seconds[stage], info.get("detail", ""))


def _stage_seconds(seconds: dict[str, float], feats: FeatureResult,
                   model: Segmenter) -> dict[str, float]:
    """The stored stages: the SQL and model stages split into their parts.

    They add up to the build's time before publishing: load + features = sql,
    discretize + sweep + stability = model.
    """
    rows = {"load": feats.load_seconds,
            "features": round(seconds["sql"] - feats.load_seconds, 4)}
    t = model.timings_
    rows["discretize"] = round(t["discretize"] + t["distinct"], 4)
    stability = round(t.get("stability", 0.0), 4)
    rows["sweep"] = round(seconds["model"] - rows["discretize"] - stability, 4)
    rows["stability"] = stability
    rows.update((stage, s) for stage, s in seconds.items() if stage not in ("sql", "model"))
    return rows
