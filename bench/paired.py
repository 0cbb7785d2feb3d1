"""This checkout's rebuilds against another commit's, interleaved on the same machine.

    python bench/paired.py 7d9b8e2                       # demo and wide, 5 pairs
    python bench/paired.py 7d9b8e2 --regimes demo 10000000 --pairs 3

Times across rounds compare only roughly: the same bare query has measured 1.0 s
and 1.9 s on this machine in different weeks. A target such as "no more than 10%
slower than the round's start" needs both commits measured side by side. For each
pair it rebuilds with the other commit (checked out with ``git worktree`` into a
temporary folder, removed at the end) and with this checkout, alternating which
goes first, in the same folders and on the same data as ``bench/run.py`` (its
configs: the backtest and the random baseline off; an option the other commit
does not know is left out of its config). A first build in each folder makes the
warehouse and the MLflow store; the rebuild is timed: wall seconds, CPU seconds
(user + system, all threads) and peak RSS of the process.

Prints a Markdown table of medians and the change.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

import run  # bench/run.py: data, configs and the measured child process

def checkout(rev: str, into: Path) -> Path:
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(into), rev],
                   cwd=run.ROOT, check=True)
    return into


def config_for(code: Path, data, run_dir: Path) -> Path:
    """bench/run.py's config, less what ``code``'s config reader does not know."""
    path = run.run_config(data, run_dir, None, with_options=False)
    known = "".join(f.read_text() for f in (code / "segkit" / "config").glob("*.py"))
    text = path.read_text()
    if "baseline_resamples" not in known:
        text = text.replace("baseline_resamples = 0\n", "")
    if "horizon_days" not in known:
        text = text.replace("\n[backtest]\nenabled = false\n", "\n")
    path.write_text(text)
    return path


def rebuild(code: Path, data, run_dir: Path) -> dict:
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(code)}
    args = [run.PY, "-m", "segkit", "build", "--config", str(config_for(code, data, run_dir))]
    for _ in range(2):  # the first build makes the warehouse and the store
        result = run.measure(args, cwd=run_dir, env=env)
        if result["returncode"]:
            raise SystemExit(f"segkit build failed with {code}:\n{result['stderr'][-3000:]}")
    shutil.rmtree(run_dir, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the commit to compare with (e.g. the round's start)")
    parser.add_argument("--regimes", nargs="+", default=["demo", "wide"],
                        help="demo, wide and/or transaction counts (default: demo wide)")
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="segkit-paired-") as tmp:
        other = checkout(args.rev, Path(tmp) / "other")
        codes = {args.rev: other, "this checkout": run.ROOT}
        lines = ["| regime | code | rebuild wall (s) | CPU (s) | peak RSS (MB) | runs |",
                 "|---|---|---|---|---|---|"]
        try:
            for regime in args.regimes:
                n = regime if regime in run.SMALL else int(regime)
                data = (None if n == "demo" else run.ensure_wide() if n == "wide"
                        else run.ensure_data(n))
                runs: dict[str, list[dict]] = {name: [] for name in codes}
                for i in range(args.pairs):
                    order = list(codes) if i % 2 == 0 else list(reversed(codes))
                    for name in order:
                        result = rebuild(codes[name], data, Path(tmp) / "run")
                        runs[name].append(result)
                        print(f"  {run.label(n)} pair {i + 1}, {name}: {result['seconds']:.2f} s "
                              f"(CPU {result['cpu_seconds']:.2f} s)", flush=True)
                medians = {name: {key: statistics.median(r[key] for r in rows)
                                  for key in ("seconds", "cpu_seconds", "peak_rss_mb")}
                           for name, rows in runs.items()}
                for name, m in medians.items():
                    walls = ", ".join(f"{r['seconds']:.2f}" for r in runs[name])
                    lines.append(f"| {run.label(n)} | {name} | {m['seconds']:.2f} | "
                                 f"{m['cpu_seconds']:.2f} | {m['peak_rss_mb']:,.0f} | {walls} |")
                before, after = medians[args.rev], medians["this checkout"]
                lines.append(f"| {run.label(n)} | change | "
                             f"{after['seconds'] / before['seconds'] - 1:+.1%} | "
                             f"{after['cpu_seconds'] / before['cpu_seconds'] - 1:+.1%} | | |")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=run.ROOT)
        print("\n".join(lines))


if __name__ == "__main__":
    main()
