"""Where a Spark build's time goes: per place in segkit's code, its Spark jobs and their work.

    python bench/spark_jobs.py bench/data/t1m/segkit.toml         # a build, then the table
    python bench/spark_jobs.py CONFIG --top 40
    python bench/spark_jobs.py CONFIG --plan cleaning.transactions_set_aside

Builds once in this process with the config given, on Spark (`local[2]` unless its
[engine] names a master), writing Parquet to a temporary folder (the map,
MLflow, the backtest and the random baseline are turned off here, as bench/spark.py
measures), with Spark's event log on. Every Spark action segkit calls (collect, toArrow,
localCheckpoint, a write...) is labelled with the line of segkit that called it, so each
Spark job in the log names its caller. Prints the build's stages (meta.run_stages), then
per caller: calls, wall seconds on the driver, Spark jobs, rows read from files (a pass
over the source shows as its row count), rows read back from checkpoints and rows
written to shuffles. With ``--plan MODEL`` (repeatable), prints the physical plan
Spark ran for that materialized model (the final adaptive plan: its joins, how
many times it scans the source). Timings on a shared machine are noisy; the job
and row counts are not.
"""

from __future__ import annotations

import argparse
import collections
import functools
import io
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACTIONS = {"DataFrame": ("collect", "toArrow", "localCheckpoint", "checkpoint", "count",
                         "first", "take", "head", "toPandas"),
           "DataFrameWriter": ("parquet", "saveAsTable", "save")}


def caller() -> str:
    """The innermost segkit frame outside this script: ``module.function:line``, with the
    view, table or feature it works on when its locals name one."""
    frame = sys._getframe(2)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if "segkit" in path.parts and path.name != Path(__file__).name:
            module = ".".join(path.with_suffix("").parts[path.parts.index("segkit"):])
            subject = [str(frame.f_locals[k]) for k in ("view", "name", "feature", "relation")
                       if isinstance(frame.f_locals.get(k), str)]
            return (f"{module}.{frame.f_code.co_name}:{frame.f_lineno}"
                    + (f" [{', '.join(subject)}]" if subject else ""))
        frame = frame.f_back
    return "?"


def instrument(timings: dict, plans: dict[str, str]) -> None:
    """Label each Spark action with its caller (the job description) and time it; keep
    the executed plan of each checkpoint of a view named in ``plans``."""
    from pyspark.sql.classic.dataframe import DataFrame
    from pyspark.sql.readwriter import DataFrameWriter

    classes = {"DataFrame": DataFrame, "DataFrameWriter": DataFrameWriter}
    for name, methods in ACTIONS.items():
        cls = classes[name]
        for method in methods:
            original = getattr(cls, method)

            def wrapped(self, *args, __original=original, __method=method, **kwargs):
                site = f"{caller()} {__method}"
                session = self.sparkSession if hasattr(self, "sparkSession") else self._spark
                context = session.sparkContext
                before = context.getLocalProperty("spark.job.description")
                context.setJobDescription(site)
                started = time.perf_counter()
                try:
                    result = __original(self, *args, **kwargs)
                    view = site.partition(" [")[2].partition("]")[0]
                    if __method == "localCheckpoint" and view in plans:
                        plans[view] = self._jdf.queryExecution().executedPlan().toString()
                    return result
                finally:
                    timings[site][0] += 1
                    timings[site][1] += time.perf_counter() - started
                    context.setJobDescription(before)

            setattr(cls, method, functools.wraps(original)(wrapped))


def read_events(folder: Path) -> list[dict]:
    import zstandard

    events = []
    for path in sorted(folder.rglob("events_*")):
        raw = path.read_bytes()
        if path.suffix == ".zstd":
            raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
        events += [json.loads(line) for line in raw.decode().splitlines() if line]
    return events


def jobs_by_caller(events: list[dict]) -> dict[str, dict]:
    """Per job description: jobs, seconds inside jobs, file rows read, shuffle rows written."""
    stage_job, job_site, started, scans = {}, {}, {}, {}
    out: dict[str, dict] = collections.defaultdict(lambda: collections.Counter())
    for e in events:
        kind = e["Event"]
        if kind == "SparkListenerJobStart":
            site = (e.get("Properties") or {}).get("spark.job.description") or "(unlabelled)"
            job_site[e["Job ID"]] = site
            started[e["Job ID"]] = e["Submission Time"]
            for stage in e["Stage IDs"]:
                stage_job.setdefault(stage, e["Job ID"])
            out[site]["jobs"] += 1
        elif kind == "SparkListenerJobEnd":
            out[job_site[e["Job ID"]]]["job_ms"] += e["Completion Time"] - started[e["Job ID"]]
        elif kind == "SparkListenerStageSubmitted":
            # a stage that scans files (a FileScanRDD) reads the source; any other input
            # is rows a checkpoint stored
            rdds = e["Stage Info"].get("RDD Info", [])
            scans[e["Stage Info"]["Stage ID"]] = any(r["Name"] == "FileScanRDD" for r in rdds)
        elif kind == "SparkListenerTaskEnd":
            metrics = e.get("Task Metrics") or {}
            site = job_site.get(stage_job.get(e["Stage ID"]), "(unlabelled)")
            rows = metrics.get("Input Metrics", {}).get("Records Read", 0)
            out[site]["file_rows" if scans.get(e["Stage ID"]) else "stored_rows"] += rows
            out[site]["shuffle_rows"] += metrics.get("Shuffle Write Metrics", {}).get(
                "Shuffle Records Written", 0)
            out[site]["tasks"] += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument("--plan", action="append", default=[], metavar="MODEL",
                        help="print the physical plan of this materialized model")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import duckdb

    from segkit.api import build
    from segkit.config import load_config

    work = Path(tempfile.mkdtemp(prefix="segkit-spark-jobs-"))
    events = work / "events"
    events.mkdir()
    cfg = load_config(args.config)
    cfg = cfg.replace(
        model=replace(cfg.model, map=False, baseline_resamples=0),
        backtest=replace(cfg.backtest, enabled=False),
        mlflow=replace(cfg.mlflow, enabled=False),
        engine=replace(cfg.engine, kind="spark", master=cfg.engine.master or "local[2]",
                       output_path=str(work / "lake"), conf=(
            *cfg.engine.conf, ("spark.eventLog.enabled", "true"),
            ("spark.eventLog.dir", events.as_uri()))))
    timings: dict[str, list] = collections.defaultdict(lambda: [0, 0.0])
    plans = {model.replace(".", "__"): "" for model in args.plan}
    instrument(timings, plans)
    started = time.perf_counter()
    run_id = build(cfg, warehouse=work / "segkit.duckdb").run_id
    wall = time.perf_counter() - started
    from pyspark.sql import SparkSession

    SparkSession.getActiveSession().stop()  # flushes the event log
    con = duckdb.connect(str(work / "segkit.duckdb"), read_only=True)
    stages = con.execute("select stage, seconds from meta.run_stages where run_id = ?",
                         [str(run_id)]).fetchall()
    con.close()
    print(f"build {wall:.1f} s wall; stages: "
          + ", ".join(f"{s} {t:.1f}" for s, t in stages))
    jobs = jobs_by_caller(read_events(events))
    total = collections.Counter()
    for counts in jobs.values():
        total.update(counts)
    print(f"{total['jobs']} Spark jobs, {total['tasks']} tasks, {total['job_ms'] / 1000:.1f} s "
          f"in jobs, {total['file_rows']:,} rows read from files, "
          f"{total['stored_rows']:,} from checkpoints, "
          f"{total['shuffle_rows']:,} rows written to shuffles")
    print("| caller | calls | wall s | jobs | job s | file rows | stored rows | shuffle rows |")
    print("|---|---|---|---|---|---|---|---|")
    sites = sorted(set(timings) | set(jobs), key=lambda s: -timings.get(s, [0, 0.0])[1])
    for site in sites[:args.top]:
        calls, seconds = timings.get(site, [0, 0.0])
        j = jobs.get(site, collections.Counter())
        print(f"| {site} | {calls} | {seconds:.2f} | {j['jobs']} | {j['job_ms'] / 1000:.2f} | "
              f"{j['file_rows']:,} | {j['stored_rows']:,} | {j['shuffle_rows']:,} |")
    for view, plan in plans.items():
        print(f"\nplan of {view}:\n{plan or '(not materialized in this build)'}")


if __name__ == "__main__":
    main()
