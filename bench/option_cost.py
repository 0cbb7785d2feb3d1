"""What the backtest and the random stability baseline cost a build.

    python bench/option_cost.py                          # demo and wide, 3 runs each
    python bench/option_cost.py --regimes 1000000 10000000 --runs 3

Both are on by default; each reports its own cost here. Regimes: "demo" (the
bundled CDNOW copy, as `segkit build` builds it), "wide" (bench/run.py's
customers-only table of 2,240 customers and 13 numeric attributes: it has no
transactions, so no backtest) and transaction counts (bench/run.py's generated
data under bench/data/, reused when present).

Per regime and run, interleaved so that machine load hits all variants alike,
each variant builds twice in a new folder and the second build (the everyday
rebuild) is timed: "default" (both on), "no backtest" (``[backtest] enabled =
false``), "no baseline" (``[model] baseline_resamples = 0``) and "neither". The
seconds are the build's own (meta.runs.seconds_total). An option's cost is the
median of the default build less the median of the build without it; its share
is that cost over the default build's median. Targets: the backtest at most 25%
of a build at 10M; the baseline under 15% on the demo and the wide table.

The last column, the backtest stage's seconds over the same build's (median
over the default builds), is steadier on a busy machine than the difference
of two medians: both come from one build. It leaves out what the SQL stage
does for the backtest (on DuckDB, keeping the purchases cut at d: about 0.3 s
at 1M), which the difference counts.

``--variants default "no backtest"`` times only those (the backtest's cost in
half the time); ``--code DIR`` builds with the segkit of another checkout (its
root folder), to compare two versions with the same script and data.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from run import BUILD_ENV, PY, ensure_data, ensure_wide, run_config  # noqa: E402

VARIANTS = {
    "default": "",
    "no backtest": "[backtest]\nenabled = false\n",
    "no baseline": "[model]\nbaseline_resamples = 0\n",
    "neither": "[backtest]\nenabled = false\n\n[model]\nbaseline_resamples = 0\n",
}


def config_for(regime: str, run_dir: Path, variant: str) -> Path:
    """The regime's segkit.toml in ``run_dir`` with the variant's sections added."""
    run_dir.mkdir(parents=True)
    data = (None if regime == "demo" else ensure_wide() if regime == "wide"
            else ensure_data(int(regime)))
    path = run_config(data, run_dir, None, with_options=True)
    text = path.read_text()
    for section, body in _sections(VARIANTS[variant]).items():
        header = f"[{section}]\n"
        text = text.replace(header, header + body) if header in text else text + "\n" + header + body
    path.write_text(text)
    return path


def _sections(text: str) -> dict[str, str]:
    """``[name]\\nkey = value`` blocks as {name: "key = value\\n"}."""
    sections: dict[str, str] = {}
    for block in filter(None, text.split("[")):
        name, body = block.split("]\n", 1)
        sections[name] = body.strip() + "\n"
    return sections


def rebuild_seconds(config: Path, code: Path = ROOT) -> tuple[float, float | None]:
    """Two `segkit build`s in child processes (with the segkit of ``code``); the seconds
    the second one recorded, and its backtest stage's (None when it had none)."""
    # Another checkout: run in the config's folder (`python -m` imports from the
    # folder it runs in first), with that checkout on the path.
    env, cwd = ((BUILD_ENV, ROOT) if code == ROOT
                else ({**os.environ, "PYTHONPATH": str(code)}, config.parent))
    for _ in range(2):
        done = subprocess.run([PY, "-m", "segkit", "build", "--config", str(config)],
                              cwd=cwd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"build failed ({config}):\n{done.stderr[-2000:]}")
    import duckdb

    warehouse = tomllib.loads(config.read_text())["warehouse"]
    con = duckdb.connect(warehouse, read_only=True)
    try:
        return con.execute(
            "select r.seconds_total, s.seconds from meta.runs r left join meta.run_stages s "
            "on s.run_id = r.run_id and s.stage = 'backtest' where r.status = 'success' "
            "order by r.finished_at desc limit 1").fetchall()[0]
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--regimes", nargs="+", default=["demo", "wide"])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="root of the segkit checkout to build with (default: this one)")
    args = parser.parse_args()
    print("| regime | default (s) | no backtest (s) | no baseline (s) | neither (s) "
          "| backtest | baseline | backtest stage |")
    print("|---|---|---|---|---|---|---|---|")
    for regime in args.regimes:
        variants = [v for v in args.variants
                    if regime != "wide" or "backtest" not in VARIANTS[v]]
        seconds: dict[str, list[float]] = {v: [] for v in variants}
        stage_shares: list[float] = []  # the default builds' backtest stage / their seconds
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.runs):
                for variant in variants:
                    run_dir = Path(tmp) / f"{variant.replace(' ', '-')}-{i}"
                    total, stage = rebuild_seconds(config_for(regime, run_dir, variant),
                                                   args.code.resolve())
                    seconds[variant].append(total)
                    if variant == "default" and stage is not None:
                        stage_shares.append(stage / total)
        med = {v: statistics.median(s) for v, s in seconds.items()}
        on = med["default"]

        def cost(off: str) -> str:
            if off not in med:
                return "n/a"
            return f"{on - med[off]:+.2f} s ({(on - med[off]) / on:.1%})"

        cells = [f"{med[v]:.2f}" if v in med else "n/a" for v in VARIANTS]
        stage = f"{statistics.median(stage_shares):.1%}" if stage_shares else "n/a"
        print(f"| {regime} | " + " | ".join(cells)
              + f" | {cost('no backtest')} | {cost('no baseline')} | {stage} |", flush=True)


if __name__ == "__main__":
    main()
