"""Where a DuckDB build's memory goes: RSS around each step of the build, with the peak.

    python bench/memory_steps.py bench/data/t10m/segkit.toml
    python bench/memory_steps.py bench/data/runs/100m-0/segkit.toml   # any config

Runs ``segkit build --config CONFIG`` in this process with the build's steps
wrapped (the SQL models one by one, the fetches and checks after them, the model,
the per-customer tables, the look back, the KPIs, MLflow, the publish, the
report). Prints, for each step on stderr: when it ended (seconds since start),
its wall seconds, the process's RSS before and after, and the highest RSS seen
while it ran (sampled every 50 ms). A peak beside a step includes what other
threads hold meanwhile (the warm-up imports, the early write of the next
warehouse). Steps nest (``engine.run_sql`` holds the models): the peak printed
is the highest since the latest step began. Models that take under 0.05 s are
not printed.
"""

from __future__ import annotations

import functools
import sys
import threading
import time

import segkit.engines.duckdb as duckdb_engine
import segkit.features.run as features_run
import segkit.pipeline.sequence as sequence
import segkit.pipeline.tables as tables
from segkit.cli import run

STARTED = time.perf_counter()
peak = [0]


def rss_mb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return 0


def sample() -> None:
    while True:
        peak[0] = max(peak[0], rss_mb())
        time.sleep(0.05)


def report(label: str, seconds: float, before: int, *, quiet_below: float = 0.0) -> None:
    if seconds >= quiet_below:
        print(f"[{time.perf_counter() - STARTED:7.1f} s] {label:40s} {seconds:7.2f} s  "
              f"RSS {before:,} -> {rss_mb():,} MB, peak {peak[0]:,} MB", file=sys.stderr,
              flush=True)


def wrap(owner, name: str, label: str) -> None:
    function = getattr(owner, name)

    @functools.wraps(function)
    def timed(*args, **kwargs):
        before = peak[0] = rss_mb()
        started = time.perf_counter()
        result = function(*args, **kwargs)
        report(label, time.perf_counter() - started, before)
        return result

    setattr(owner, name, timed)


def wrap_models() -> None:
    create = features_run.DuckDBModels.create

    def timed(self, model, sql):
        before = peak[0] = rss_mb()
        started = time.perf_counter()
        create(self, model, sql)
        report("  " + model.name, time.perf_counter() - started, before, quiet_below=0.05)

    features_run.DuckDBModels.create = timed


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    threading.Thread(target=sample, daemon=True).start()
    wrap_models()
    for name in ("_accounting", "_fetch_results", "_histograms", "_lost_customers",
                 "build_warnings"):
        wrap(features_run, name, "  " + name)
    for name in ("run_sql", "fit", "customer_tables", "segment_profiles"):
        wrap(duckdb_engine.DuckDBEngine, name, "engine." + name)
    wrap(tables, "customer_history", "customer_history (the look back)")
    for name in ("_draw_map", "build_tables", "segment_kpis", "run_backtest", "_track",
                 "_publish", "_render_report", "_go_live"):
        wrap(sequence, name, name)
    sys.argv = ["segkit", "build", "--config", sys.argv[1]]
    run()


if __name__ == "__main__":
    main()
