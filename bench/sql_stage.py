"""Where the SQL stage's time goes, model by model, with any checkout's code.

    python bench/sql_stage.py bench/data/t10m/segkit.toml --runs 3
    PYTHONPATH=OTHER_CHECKOUT python bench/sql_stage.py bench/data/t10m/segkit.toml

Runs the DuckDB engine's SQL stage (``segkit.features.build_features``) on a
config's sources in a fresh work database, as a build does, then fetches
``features.customer_purchases`` (the KPIs' input, read before the work database
closes). Each model's ``create`` is timed (a ``materialized: table`` model is
computed there; a view costs nothing until a table or a fetch reads it), and
so is everything after the models (accounting, fetching the frames, the
quarantine, the warnings). Prints one JSON line per run: wall seconds per
model, the stage's wall and process CPU seconds (all threads).

Run it with the code to measure first on ``PYTHONPATH`` (before and after a
change, interleaved): timings on a shared machine are noisy, the shares less so.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from segkit import features, warehouse
from segkit.config import load_config


def one_run(config: Path) -> dict:
    cfg = load_config(config)
    seconds: dict[str, float] = {}
    create = features.DuckDBModels.create

    def timed(self, model, sql):
        started = time.perf_counter()
        create(self, model, sql)
        seconds[model.name] = round(time.perf_counter() - started, 3)

    features.DuckDBModels.create = timed
    try:
        with tempfile.TemporaryDirectory() as tmp:
            con = warehouse.connect_work(cfg.duckdb, Path(tmp))
            wall, cpu = time.perf_counter(), time.process_time()
            feats = features.build_features(con, cfg)
            models_done = sum(seconds.values())
            fetch = time.perf_counter()
            n_purchases = (con.sql("select * from features.customer_purchases").pl().height
                           if cfg.transactions else 0)
            seconds["fetch customer_purchases"] = round(time.perf_counter() - fetch, 3)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            con.close()
    finally:
        features.DuckDBModels.create = create
    return {"wall": round(wall, 2), "cpu": round(cpu, 2),
            "after_models": round(wall - models_done - seconds["fetch customer_purchases"], 2),
            "customers": feats.n_customers, "purchase_rows": n_purchases,
            "models": {k: v for k, v in seconds.items() if v >= 0.01}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.runs):
        print(json.dumps(one_run(args.config.resolve())), flush=True)


if __name__ == "__main__":
    main()
