"""What the random stability baseline costs a build: its share of the build's time.

    python bench/baseline_cost.py              # demo and wide, 3 runs each
    python bench/baseline_cost.py --runs 5 --regimes wide

For each regime ("demo": the bundled CDNOW copy, as `segkit build` builds it;
"wide": bench/run.py's customers-only table of 2,240 customers and 13 numeric
attributes), builds run in child processes, interleaved, with
``[model] baseline_resamples = 0`` and with the default (5). The baseline's
cost is the difference of the medians of the two builds' total seconds
(meta.runs.seconds_total), and its share is that difference over the default
build's median. The target: under 15% of a build.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from run import PY, ensure_wide, write_config  # noqa: E402

DEMO = """
[transactions]
path = "{path}"
customer_id = "customer_id"
timestamp = "purchase_date"
amount = "dollar_value"
"""


def config_for(regime: str, run_dir: Path, resamples: int) -> Path:
    """The regime's segkit.toml in ``run_dir``, with ``baseline_resamples`` set."""
    run_dir.mkdir(parents=True)
    if regime == "wide":
        path = write_config(ensure_wide(), run_dir, None)
    else:
        from segkit.config import DEMO_DATA

        path = run_dir / "segkit.toml"
        path.write_text(f'warehouse = "{run_dir}/warehouse/segkit.duckdb"\n'
                        f'reports_dir = "{run_dir}/reports"\n' + DEMO.format(path=DEMO_DATA))
    text = path.read_text()
    model = f"baseline_resamples = {resamples}\n"
    text = (text.replace("[model]\n", "[model]\n" + model) if "[model]" in text
            else text + "\n[model]\n" + model)
    path.write_text(text)
    return path


def build_seconds(config: Path) -> float:
    """One `segkit build` in a child process; the seconds it recorded."""
    subprocess.run([PY, "-m", "segkit", "build", "--config", str(config)], cwd=ROOT,
                   check=True, capture_output=True)
    import duckdb

    warehouse = tomllib.loads(config.read_text())["warehouse"]
    con = duckdb.connect(warehouse, read_only=True)
    try:
        return con.execute("select seconds_total from meta.runs where status = 'success' "
                           "order by finished_at desc limit 1").fetchall()[0][0]
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--regimes", nargs="+", default=["demo", "wide"])
    args = parser.parse_args()
    print("| regime | build, baseline off (s) | build, 5 resamples (s) | baseline | share |")
    print("|---|---|---|---|---|")
    for regime in args.regimes:
        seconds: dict[int, list[float]] = {0: [], 5: []}
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.runs):
                for resamples in seconds:  # interleaved: load hits both alike
                    config = config_for(regime, Path(tmp) / f"{resamples}-{i}", resamples)
                    seconds[resamples].append(build_seconds(config))
        off, on = (statistics.median(seconds[r]) for r in (0, 5))
        print(f"| {regime} | {off:.2f} | {on:.2f} | {on - off:+.2f} s | "
              f"{(on - off) / on:.1%} |", flush=True)


if __name__ == "__main__":
    main()
