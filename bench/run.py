"""segkit's benchmark: `segkit build` against DuckDB's floor and a pandas notebook.

    python bench/run.py                  # demo, wide, 1M and 10M transactions, 3 runs each
    python bench/run.py --with-100m      # and 100M (memory_limit = "4GB")
    python bench/run.py --runs 5 --pandas-runs 1 --sizes 10000000
    python bench/run.py --regimes demo wide --runs 3   # the two small regimes only

Regimes: "demo" is the bundled CDNOW demo (69,659 lines, the config `segkit build` uses with no
config: the fixed cost of a build); "wide" is a customers-only table of 2,240
customers and 13 numeric attributes (segkit.synthetic.generate_wide_customers:
nearly every customer is a distinct vector); the others are transaction counts.
The two small regimes have no floor and no pandas run.

For each size it generates data once with `python -m segkit generate` (under
bench/data/, git-ignored, reused when present), then, run by run and
interleaved so that load on the machine hits all three alike, measures as child
processes (wall time, and peak RSS from os.wait4):

* floor:  bench/floor.py, the bare RFM aggregate in DuckDB (query seconds);
* build:  `python -m segkit build --config ...` twice: on a new warehouse (which
          also creates the MLflow store), then again on it (the everyday
          rebuild); each with the seconds per stage it recorded in
          meta.run_stages (load, features, discretize, sweep, stability, tsne,
          mlflow, write-back, report);
* pandas: bench/pandas_reference.py, the notebook way.

Builds run with the backtest and the random stability baseline off (each adds
its own cost, measured by bench/option_cost.py); --with-options keeps them on.

Prints a Markdown table of medians (and writes the raw numbers as JSON under
bench/results/raw/); paste it into docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
import tomllib
from importlib.metadata import version
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
# Builds import segkit from this checkout, not from wherever the environment installed it
# (an editable install of another checkout would be timed instead).
BUILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}


# -- child processes -------------------------------------------------------------

def measure(cmd: list[str], *, cwd: Path, env: dict | None = None) -> dict:
    """Run a child; its wall seconds, peak RSS (MB), exit code and output."""
    started = time.perf_counter()
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    readers = [threading.Thread(target=lambda s=s, b=b: b.append(s.read()))
               for s, b in ((proc.stdout, out_chunks), (proc.stderr, err_chunks))]
    for r in readers:
        r.start()
    # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix all children).
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    for r in readers:
        r.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": round(seconds, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
            "returncode": proc.returncode, "stdout": b"".join(out_chunks).decode(errors="replace"),
            "stderr": b"".join(err_chunks).decode(errors="replace")}


def last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON line in output:\n{text[-2000:]}")


# -- data --------------------------------------------------------------------------

SMALL = ("demo", "wide")  # regimes without a transaction count


def label(n) -> str:
    if n in SMALL:
        return n
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def ensure_wide() -> Path:
    folder = BENCH / "data" / "wide"
    if not (folder / "segkit.toml").exists():
        code = ("import sys; from segkit.synthetic import generate_wide_customers as g; "
                "g(sys.argv[1], customers=2240, seed=0)")
        subprocess.run([PY, "-c", code, str(folder)], cwd=ROOT, check=True)
    return folder


def ensure_data(n: int) -> Path:
    folder = BENCH / "data" / f"t{label(n).lower()}"
    marker = folder / "bench-generated.json"
    if marker.exists() and json.loads(marker.read_text()).get("transactions") == n:
        return folder
    print(f"generating {n:,} transactions into {folder} ...", flush=True)
    started = time.perf_counter()
    cmd = [PY, "-m", "segkit", "generate", "--transactions", str(n), "--out", str(folder)]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        # The CLI front door failed (see stderr); the library call writes the same files.
        print(f"  `segkit generate` failed ({result.stderr.strip().splitlines()[-1:]}); "
              "calling segkit.generate directly", flush=True)
        code = ("import importlib, sys; importlib.import_module('segkit.generate')"
                ".generate(sys.argv[1], transactions=int(sys.argv[2]))")
        subprocess.run([PY, "-c", code, str(folder), str(n)], cwd=ROOT, check=True)
    marker.write_text(json.dumps({"transactions": n,
                                  "seconds": round(time.perf_counter() - started, 1)}))
    return folder


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def write_config(data: Path, run_dir: Path, memory_limit: str | None) -> Path:
    """The generated segkit.toml with absolute paths and a fresh warehouse."""
    cfg = tomllib.loads((data / "segkit.toml").read_text())
    cfg["warehouse"] = str(run_dir / "warehouse" / "segkit.duckdb")
    cfg["reports_dir"] = str(run_dir / "reports")
    for section in ("transactions", "customers"):
        if section in cfg and "path" in cfg[section]:
            cfg[section]["path"] = str((data / cfg[section]["path"]).resolve())
    if memory_limit:
        cfg.setdefault("duckdb", {})["memory_limit"] = memory_limit
    lines = [f"{k} = {_toml_value(v)}" for k, v in cfg.items() if not isinstance(v, dict)]
    for name, table in cfg.items():
        if isinstance(table, dict):
            lines += ["", f"[{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    path = run_dir / "segkit.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def transactions_glob(data: Path) -> str:
    cfg = tomllib.loads((data / "segkit.toml").read_text())
    return str((data / cfg["transactions"]["path"]).resolve())


KINDS = {"build": "first (new warehouse)", "rebuild": "rebuild"}
STAGES = ["load", "features", "discretize", "sweep", "stability", "tsne", "mlflow",
          "write-back", "report"]


def run_stages(warehouse: Path) -> dict[str, float]:
    """The stage seconds of the warehouse's latest successful build."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute("select stage, seconds from meta.run_stages where run_id = "
                           "(select run_id from meta.runs where status = 'success' "
                           "order by finished_at desc, run_id desc limit 1)").fetchall()
    finally:
        con.close()
    return {stage: seconds for stage, seconds in rows}


# -- the benchmark ---------------------------------------------------------------------

def run_config(data: Path | None, run_dir: Path, memory_limit: str | None,
               with_options: bool) -> Path:
    """The run's segkit.toml: the generated data's, or the bundled demo's (data None).

    The backtest and the random stability baseline are off unless ``with_options``:
    each is measured on its own by bench/option_cost.py.
    """
    if data is None:
        from segkit.config import DEMO_DATA

        path = run_dir / "segkit.toml"
        path.write_text(f'warehouse = "{run_dir / "warehouse" / "segkit.duckdb"}"\n'
                        f'reports_dir = "{run_dir / "reports"}"\n\n'
                        f'[transactions]\npath = "{DEMO_DATA}"\n'
                        'customer_id = "customer_id"\ntimestamp = "purchase_date"\n'
                        'amount = "dollar_value"\n')
    else:
        path = write_config(data, run_dir, memory_limit)
    if not with_options:
        text = path.read_text()
        model = "baseline_resamples = 0\n"
        text = (text.replace("[model]\n", "[model]\n" + model) if "[model]\n" in text
                else text + "\n[model]\n" + model)
        path.write_text(text + "\n[backtest]\nenabled = false\n")
    return path


def bench_size(n, runs: int, pandas_runs: int, memory_limit: str | None,
               with_options: bool = False) -> dict:
    small = n in SMALL
    data = None if n == "demo" else ensure_wide() if n == "wide" else ensure_data(n)
    glob = None if small else transactions_glob(data)
    result = {"transactions": n, "floor": [], "build": [], "rebuild": [], "pandas": []}
    for i in range(max(runs, pandas_runs)):
        if i < runs:
            floor = {"seconds": None}
            if not small:
                floor = measure([PY, str(BENCH / "floor.py"), glob]
                                + (["--memory-limit", memory_limit] if memory_limit else []),
                                cwd=ROOT)
                if floor["returncode"]:
                    raise SystemExit(f"floor query failed:\n{floor['stderr'][-3000:]}")
                floor.update(last_json(floor.pop("stdout")))
                floor.pop("stderr")
                result["floor"].append(floor)

            run_dir = BENCH / "data" / "runs" / f"{label(n).lower()}-{i}"
            shutil.rmtree(run_dir, ignore_errors=True)
            run_dir.mkdir(parents=True)
            args = ["--config", str(run_config(data, run_dir, memory_limit, with_options))]
            # The first build also creates the warehouse and the MLflow store (its
            # migrations take seconds); the rebuild is the everyday case.
            for kind in KINDS:
                build = measure([PY, "-m", "segkit", "build", *args], cwd=run_dir,
                                env=BUILD_ENV)
                if build["returncode"]:
                    raise SystemExit(f"segkit build failed:\n{build['stdout'][-3000:]}\n"
                                     f"{build['stderr'][-3000:]}")
                # meta.run_stages holds every stage, write-back and report included.
                build["stages"] = run_stages(run_dir / "warehouse" / "segkit.duckdb")
                build.pop("stdout"), build.pop("stderr")
                result[kind].append(build)
                print(f"  {label(n)} run {i + 1}: floor {floor['seconds'] or 0:.2f} s, {kind} "
                      f"{build['seconds']:.2f} s (CPU {build['cpu_seconds']:.2f} s, "
                      f"{build['peak_rss_mb']:.0f} MB) "
                      f"{ {k: round(v, 2) for k, v in build['stages'].items()} }", flush=True)
            shutil.rmtree(run_dir, ignore_errors=True)
        if i < pandas_runs:
            pandas = measure([PY, str(BENCH / "pandas_reference.py"), str(data)], cwd=ROOT)
            if pandas["returncode"]:
                raise SystemExit(f"pandas reference failed:\n{pandas['stderr'][-3000:]}")
            pandas.update({"steps": last_json(pandas.pop("stdout"))["steps"]})
            pandas.pop("stderr")
            result["pandas"].append(pandas)
            print(f"  {label(n)} run {i + 1}: pandas {pandas['seconds']:.1f} s "
                  f"({pandas['peak_rss_mb']:.0f} MB) {pandas['steps']}", flush=True)
    return result


def median(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    versions = {}
    for name in ("duckdb", "polars", "scikit-learn", "numpy", "pandas", "mlflow", "pyarrow"):
        try:
            versions[name] = version(name)
        except Exception:  # noqa: BLE001 - a missing optional package is just not listed
            pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(mem_kb / 1024 ** 2, 1),
            "python": platform.python_version(), "os": platform.platform(), **versions}


def growth(results: list[dict]) -> list[str]:
    """The issue's growth target, when 1M and 10M ran: the first builds' growth vs the floor's."""
    by_size = {r["transactions"]: r for r in results}
    if not {1_000_000, 10_000_000} <= by_size.keys():
        return []
    small, big = by_size[1_000_000], by_size[10_000_000]
    build = median(big["build"], "seconds") - median(small["build"], "seconds")
    floor = median(big["floor"], "seconds") - median(small["floor"], "seconds")
    limit = floor + 1.5
    verdict = "met" if build <= limit else f"missed by {build - limit:.2f} s"
    return ["", f"1M -> 10M growth (first builds, medians): build +{build:.2f} s, floor "
                f"+{floor:.2f} s; target floor growth + 1.5 s = {limit:.2f} s: {verdict}"]


def table(results: list[dict]) -> str:
    head = ("| regime | build | DuckDB floor (s) | segkit build (s) | build CPU (s) "
            "| build peak RSS (MB) | pandas reference (s) | pandas peak RSS (MB) | build / floor "
            "| pandas / build |")
    lines = [head, "|" + "---|" * 10]
    for r in results:
        floor = median(r["floor"], "seconds")
        pandas = median(r["pandas"], "seconds") if r["pandas"] else None
        prss = median(r["pandas"], "peak_rss_mb") if r["pandas"] else None
        for kind in KINDS:
            build = median(r[kind], "seconds")
            cpu = median(r[kind], "cpu_seconds")
            rss = median(r[kind], "peak_rss_mb")
            lines.append(
                f"| {label(r['transactions'])} | {KINDS[kind]} | "
                + (f"{floor:.2f}" if floor else "n/a") + f" | {build:.2f} | {cpu:.2f} | "
                f"{rss:,.0f} | " + (f"{pandas:.1f} | {prss:,.0f} | " if pandas else "n/a | n/a | ")
                + (f"{build / floor:.1f}x | " if floor else "n/a | ")
                + (f"{pandas / build:.1f}x |" if pandas else "n/a |"))
    lines += growth(results)
    stages = sorted({s for r in results for kind in KINDS for b in r[kind] for s in b["stages"]},
                    key=lambda s: STAGES.index(s) if s in STAGES else len(STAGES))
    lines += ["", "Build stages (median seconds, from meta.run_stages; \"outside stages\" is "
              "interpreter start-up, imports and run registration):", "",
              "| regime | build | " + " | ".join(stages) + " | outside stages |",
              "|" + "---|" * (len(stages) + 3)]
    for r in results:
        for kind in KINDS:
            medians = [statistics.median(b["stages"].get(s, 0.0) for b in r[kind])
                       for s in stages]
            rest = median(r[kind], "seconds") - sum(medians)
            lines.append(f"| {label(r['transactions'])} | {KINDS[kind]} | "
                         + " | ".join(f"{m:.2f}" for m in medians) + f" | {rest:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per size (median reported)")
    parser.add_argument("--pandas-runs", type=int, default=None,
                        help="runs of the slow pandas reference (default: --runs; 0 skips it)")
    parser.add_argument("--with-100m", action="store_true",
                        help="also 100M transactions (~1.2 GB Parquet), memory_limit 4GB")
    parser.add_argument("--sizes", type=int, nargs="*", default=None,
                        help="transaction counts instead of 1M and 10M (no demo or wide)")
    parser.add_argument("--regimes", nargs="*", default=None,
                        help="regimes to run: demo, wide and/or transaction counts "
                             "(default: demo wide 1000000 10000000)")
    parser.add_argument("--memory-limit-100m", default="4GB")
    parser.add_argument("--with-options", action="store_true",
                        help="keep the backtest and the random baseline on (default: off; "
                             "bench/option_cost.py measures what each adds)")
    args = parser.parse_args()
    if args.regimes:
        sizes = [r if r in SMALL else int(r) for r in args.regimes]
    else:
        sizes = args.sizes or ["demo", "wide", 1_000_000, 10_000_000]
    if args.with_100m:
        sizes.append(100_000_000)
    pandas_runs = args.runs if args.pandas_runs is None else args.pandas_runs
    facts = machine()
    load_before = os.getloadavg()
    print(json.dumps(facts), flush=True)
    results = []
    for n in sizes:
        big = n not in SMALL and n >= 100_000_000
        limit = args.memory_limit_100m if big else None
        # pandas on 100M rows needs ~10+ GB and many minutes: the 100M row is segkit only.
        # The small regimes have no pandas counterpart.
        skip_pandas = big or n in SMALL
        results.append(bench_size(n, args.runs, 0 if skip_pandas else pandas_runs, limit,
                                  args.with_options))
    load_after = os.getloadavg()
    raw = BENCH / "results" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    (raw / f"{stamp}.json").write_text(json.dumps(
        {"machine": facts, "argv": sys.argv, "load_before": load_before,
         "load_after": load_after, "results": results}, indent=2))
    print()
    print(f"Machine: {facts['cpu']}, {facts['cores']} cores, {facts['ram_gb']} GB RAM; "
          f"load average before/after: {load_before[0]:.1f} / {load_after[0]:.1f}")
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in facts.items()
                                   if k not in ("cpu", "cores", "ram_gb", "os")))
    print(f"Command: python {' '.join(sys.argv)}  (medians of {args.runs} runs; "
          f"pandas {pandas_runs})")
    print()
    print(table(results))


if __name__ == "__main__":
    main()
