"""t-SNE options for the build's map, side by side, on one build's binned vectors.

    python bench/tsne_options.py bench/data/t10m

Fits the Segmenter on the features of a generated data set (the SQL stage of a
build, in-process), then times each way of drawing the map. ``segkit.model``
owns tsne_map; the pipeline chooses the method and its parameters.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from segkit import warehouse
from segkit.config import load_config
from segkit.features import build_features
from segkit.model import Segmenter, tsne_map


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    args = parser.parse_args()
    cfg = load_config(Path(args.data_dir) / "segkit.toml")
    with tempfile.TemporaryDirectory() as tmp:
        con = warehouse.connect_work(cfg.duckdb, Path(tmp))
        feats = build_features(con, cfg)
        con.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Segmenter(seed=0).fit(feats.frame)
    X, labels = model.binned_, model.labels_
    print(f"{X.shape[0]:,} customers, {model.n_distinct_} distinct binned vectors")
    variants = [
        ("jitter, 5,000 sampled, max_iter 1000 (sklearn)", dict(method="jitter", sample_size=5000)),
        ("jitter, 5,000 sampled, max_iter 250", dict(method="jitter", sample_size=5000, max_iter=250)),
        ("jitter, 2,000 sampled, max_iter 1000", dict(method="jitter", sample_size=2000)),
        ("distinct, 5,000 sampled (t-SNE of the distinct vectors)", dict(method="distinct", sample_size=5000)),
        ("distinct, 20,000 sampled", dict(method="distinct", sample_size=20000)),
    ]
    for name, params in variants:
        started = time.perf_counter()
        result = tsne_map(X, labels, seed=0, **params)
        seconds = time.perf_counter() - started
        again = tsne_map(X, labels, seed=0, **params) if "distinct" in params["method"] else result
        same = np.array_equal(result.coords, again.coords)
        print(f"{seconds:8.2f} s  {name}  (points {len(result.indices):,}; same seed same map: {same})")
    try:
        import openTSNE  # noqa: F401
        print("openTSNE is installed: not measured here")
    except ImportError:
        print("openTSNE: not installed (not in the environment's package lists; see docs/BENCHMARKS.md)")
    # In a thread beside other Python work: the GIL-bound part does not overlap.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        started = time.perf_counter()
        future = pool.submit(tsne_map, X, labels, seed=0, method="jitter", sample_size=2000)
        busy = sum(i * i for i in range(3_000_000))  # stands in for MLflow's Python work
        future.result()
        print(f"{time.perf_counter() - started:8.2f} s  jitter 2,000 in a thread beside 3M-step "
              f"Python loop ({busy > 0})")


if __name__ == "__main__":
    main()
