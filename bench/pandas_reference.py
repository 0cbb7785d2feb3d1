"""The pipeline as a typical notebook writes it: pandas + scikit-learn.

    python bench/pandas_reference.py bench/data/t10m

Read every Parquet file, clean with boolean masks, RFM with ``groupby().agg``
(a lambda for recency, as the tutorials do), ``KBinsDiscretizer`` (4 quantile
bins), ``KMeans(n_init=10)`` for k = 2..10 on every customer, silhouette on a
10,000 sample, and scikit-learn t-SNE on 5,000 customers. It is the baseline
``bench/run.py`` compares ``segkit build`` against, not a recommendation.
Prints one JSON line with seconds per step.
"""

from __future__ import annotations

import argparse
import glob
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import KBinsDiscretizer, StandardScaler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", help="output folder of `python -m segkit generate`")
    parser.add_argument("--tsne-sample", type=int, default=5000)
    args = parser.parse_args()
    steps: dict[str, float] = {}
    t = time.perf_counter()

    def step(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        steps[name] = round(now - t, 3)
        t = now

    folder = Path(args.data_dir)
    files = sorted(glob.glob(str(folder / "transactions" / "part-*.parquet"))) or [
        str(folder / "transactions.parquet")]
    df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    step("read")

    df = df.dropna(subset=["CustomerID"])
    df = df[~df["InvoiceNo"].astype(str).str.startswith("C")]
    df = df[(df["Quantity"] > 0) & (df["UnitPrice"] > 0)]
    df = df.drop_duplicates()
    df["TotalPrice"] = df["Quantity"] * df["UnitPrice"]
    df["InvoiceDay"] = df["InvoiceDate"].dt.normalize()
    snapshot = df["InvoiceDate"].max() + pd.Timedelta(days=1)
    step("clean")

    rfm = df.groupby("CustomerID").agg(
        Recency=("InvoiceDate", lambda x: (snapshot - x.max()).days),
        Frequency=("InvoiceDay", "nunique"),
        Monetary=("TotalPrice", "sum"),
    )
    step("rfm groupby")

    X = KBinsDiscretizer(n_bins=4, encode="ordinal", strategy="quantile").fit_transform(
        rfm[["Recency", "Frequency", "Monetary"]])
    step("discretize")

    results = []
    for k in range(2, 11):
        km = KMeans(n_clusters=k, n_init=10, random_state=0).fit(X)
        sil = silhouette_score(X, km.labels_, sample_size=10_000, random_state=0)
        results.append((k, km.inertia_, sil))
    best = max(results, key=lambda r: r[2])
    step("kmeans sweep + silhouette")

    sample = rfm.sample(n=min(args.tsne_sample, len(rfm)), random_state=0)
    scaled = StandardScaler().fit_transform(np.log1p(sample.clip(lower=0)))
    TSNE(n_components=2, random_state=0).fit_transform(scaled)
    step("t-SNE")

    print(json.dumps({"customers": int(len(rfm)), "k": int(best[0]), "steps": steps,
                      "seconds": round(sum(steps.values()), 3)}))


if __name__ == "__main__":
    main()
