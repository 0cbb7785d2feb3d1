"""The Spark engine against the DuckDB engine on the same files, with stage times.

    python bench/spark.py                      # 1M transactions, one build per engine
    python bench/spark.py --sizes 1000000 10000000 --runs 2
    python bench/spark.py --data bench/data/t10m   # a folder with a segkit.toml

For each size it generates data once with `python -m segkit generate` (Parquet,
under bench/data/, reused when present), then builds with each engine as a
child process (`python -m segkit build --engine ...`, map, MLflow, the backtest and
the random baseline off, Spark on `local[2]` writing Parquet), alternating engines run by run so that
load on the machine hits both alike. It reads the seconds per stage each build
recorded in meta.run_stages and checks that both engines gave every customer
the same segment. Each run also times Spark's floor (bench/spark_floor.py: the
same segmentation written by hand in PySpark, JVM start included) and DuckDB's
(bench/floor.py: the bare RFM aggregate), so every ratio comes from one run.
Prints a Markdown table (paste it into docs/SPARK.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import json

import duckdb

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"


def _data(size: int) -> Path:
    folder = DATA / f"synth_{size}"
    if not (folder / "segkit.toml").exists():
        subprocess.run([sys.executable, "-m", "segkit", "generate", "--transactions", str(size),
                        "--out", str(folder)], check=True, cwd=ROOT)
    return folder


# The builds' configs, warehouses and Parquet outputs: beside the data, never in it.
WORK = Path(tempfile.mkdtemp(prefix="segkit-bench-spark-"))


def _config(folder: Path, engine: str) -> Path:
    # the data's own config, its relative paths made absolute
    text = (folder / "segkit.toml").read_text().replace('path = "', f'path = "{folder}/')
    path = WORK / folder.name / f"bench_{engine}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = ("\n[model]\nmap = false\nbaseline_resamples = 0\n[backtest]\nenabled = false\n"
             "[mlflow]\nenabled = false\n")
    if engine == "spark":
        extra += f'[engine]\nkind = "spark"\nmaster = "local[2]"\noutput_path = "lake"\n'
    path.write_text(text + extra)
    return path


def _build(folder: Path, engine: str, run: int) -> dict:
    warehouse = WORK / folder.name / f"wh_{engine}_{run}" / "segkit.duckdb"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "segkit", "build", "--config",
                    str(_config(folder, engine)), "--warehouse", str(warehouse)],
                   check=True, env=env, cwd=ROOT, capture_output=True)
    wall = time.perf_counter() - started
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        stages = dict(con.execute("select stage, seconds from meta.run_stages").fetchall())
        customers = con.execute("select customers from meta.runs where status = 'success'"
                                ).fetchall()[0][0]
    finally:
        con.close()
    return {"wall": wall, "stages": stages, "customers": customers, "warehouse": warehouse}


def _floor(folder: Path, engine: str) -> float:
    """Seconds of the engine's floor on the same files (see the module docstring)."""
    script = "spark_floor.py" if engine == "spark" else "floor.py"
    pattern = str(next(folder.glob("transactions*")))
    if Path(pattern).is_dir():
        pattern += "/*.parquet"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), pattern], check=True,
                          cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    # The Spark floor counts from before its session starts, like a build; DuckDB's
    # floor is the query alone (its import and connection are not the job).
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"] if engine == "duckdb" \
        else wall


def _same_segments(folder: Path, duck: Path) -> bool:
    con = duckdb.connect(str(duck), read_only=True)
    try:
        different = con.execute(f"""
            select count(*) from segments.customer_segments d
            full join read_parquet('{WORK / folder.name / "lake" / "customer_segments"}/*.parquet') s
                using (customer_id)
            where d.segment_id is distinct from s.segment_id
               or d.segment_name is distinct from s.segment_name""").fetchall()[0][0]
    finally:
        con.close()
    return different == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--data", type=Path, nargs="+", default=[],
                        help="folders with a segkit.toml (and its data) instead of --sizes")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    stages = ["session", "load", "features", "discretize", "sweep", "stability", "assign",
              "spark-write", "write-back", "report"]
    print("| transactions | engine | customers | wall s | floor s | x floor | "
          + " | ".join(stages) + " |")
    print("|---" * (len(stages) + 6) + "|")
    for size, folder in ([(None, f.resolve()) for f in args.data] if args.data
                         else [(n, _data(n)) for n in args.sizes]):
        results: dict[str, list[dict]] = {"duckdb": [], "spark": []}
        floors: dict[str, list[float]] = {"duckdb": [], "spark": []}
        for run in range(args.runs):
            for engine in ("duckdb", "spark"):
                results[engine].append(_build(folder, engine, run))
                floors[engine].append(_floor(folder, engine))
        same = _same_segments(folder, results["duckdb"][-1]["warehouse"])
        for engine, runs in results.items():
            median = lambda key: statistics.median(r["stages"].get(key, 0.0)  # noqa: E731
                                                   for r in runs)
            wall = statistics.median(r["wall"] for r in runs)
            floor = statistics.median(floors[engine])
            row = [f"{size:,}" if size else folder.name, engine, f"{runs[0]['customers']:,}", f"{wall:.1f}",
                   f"{floor:.1f}", f"{wall / floor:.1f}x"]
            row += [f"{median(s):.2f}" if any(s in r["stages"] for r in runs) else "-"
                    for s in stages]
            print("| " + " | ".join(row) + " |")
        print(f"<!-- {size or folder.name}: same segment for every customer: {same} -->")


if __name__ == "__main__":
    main()
