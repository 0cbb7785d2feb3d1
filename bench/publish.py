"""What publishing by copy-then-swap costs: seconds and disk per build.

    python bench/publish.py                       # 1M and 10M transactions, 4 builds each
    python bench/publish.py --sizes 1000000 --builds 3
    python bench/publish.py --code OTHER_CHECKOUT  # the same builds with another segkit

Generates data like bench/run.py (bench/data/, reused when present), then runs
``--builds`` builds (map and MLflow off: they do not touch publishing) into one
fresh warehouse, and after each reads from ``meta.run_stages`` the write-back
seconds (copying the live file, writing the build into the copy, checkpoint),
the warehouse's size, and the time of a bare copy of that file (the part of
write-back the swap adds). Disk at the peak of a publish is the live file plus
the next one. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ensure_data, label, write_config  # noqa: E402

PY = sys.executable


def one_size(n: int, builds: int, code: Path | None) -> list[dict]:
    data = ensure_data(n)
    rows = []
    with tempfile.TemporaryDirectory(prefix="segkit-publish-") as tmp:
        run_dir = Path(tmp)
        config = write_config(data, run_dir, None)
        text = config.read_text()
        assert "[mlflow]" not in text, "the generated config changed: update this script"
        config.write_text(text + "\n[mlflow]\nenabled = false\n")
        env = {**os.environ}
        if code is not None:
            env["PYTHONPATH"] = str(code)
        warehouse = run_dir / "warehouse" / "segkit.duckdb"
        for i in range(builds):
            started = time.perf_counter()
            done = subprocess.run([PY, "-m", "segkit", "build", "--config", str(config),
                                   "--no-map"], capture_output=True, text=True, env=env)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(done.stderr)
            con = duckdb.connect(str(warehouse), read_only=True)
            try:
                seconds = dict(con.execute(
                    "select stage, seconds from meta.run_stages where run_id = (select run_id "
                    "from meta.runs where status = 'success' order by finished_at desc, "
                    "run_id desc limit 1)").fetchall())
                customers = con.execute("select count(*) from segments.customer_segments"
                                        ).fetchall()[0][0]
            finally:
                con.close()
            size = warehouse.stat().st_size
            scratch = run_dir / "copy.duckdb"
            copy_started = time.perf_counter()
            shutil.copyfile(warehouse, scratch)
            copy_seconds = time.perf_counter() - copy_started
            scratch.unlink()
            rows.append({"size": label(n), "build": i + 1, "customers": customers,
                         "wall": wall, "write_back": seconds.get("write-back"),
                         "copy": copy_seconds, "mb": size / 2**20})
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--builds", type=int, default=4)
    parser.add_argument("--code", type=Path, help="a segkit checkout to run instead")
    args = parser.parse_args()
    rows = [r for n in args.sizes for r in one_size(n, args.builds, args.code)]
    print("\n| size | build | customers | build s | write-back s | bare copy s | "
          "warehouse MB | peak disk MB (live + next) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['build']} | {r['customers']:,} | {r['wall']:.1f} | "
              f"{r['write_back']:.2f} | {r['copy']:.2f} | {r['mb']:.0f} | "
              f"{2 * r['mb']:.0f} |")


if __name__ == "__main__":
    main()
