"""The floor of a small build's job: the same steps hand-written, with nothing else.

`segkit build` on a small table is mostly fixed cost. This script measures the
least that the same job costs in one Python process on this machine, so a
target for the small regimes can be compared with what any build must spend:

1. DuckDB reads the table and computes each customer's features into a
   database file (RFM and tenure from the demo's or the bench's transactions,
   or a customers-only table's numeric columns as they are);
2. scikit-learn bins them into four quantile groups, fits K-Means with the
   build's 100 restarts for k = 2..10 on the weighted distinct vectors (side
   by side on the cores when they are many, as segkit does), scores
   each k with the silhouette, and draws a t-SNE map of (at most 500) distinct vectors;
3. the labels go back to DuckDB;
4. MLflow logs a run (parameters, metrics, one artifact) to a SQLite store and
   registers the model with an alias;
5. Altair renders two charts into one HTML page with the Vega JavaScript inlined
   (the bundle cached on disk after the first run, as segkit caches it).

It leaves out what makes segkit a tool: line checks and quarantine, the
bootstrap stability of every k, versioned views, the publish-by-swap, history
tables and the report's other sections. So it is a lower bound: a build cannot
do the same job faster than this. Run from the repository root:

    python bench/same_job.py                    # the bundled demo, 3 runs in a new folder
    python bench/same_job.py --wide bench/data/wide/customers.parquet   # python bench/run.py writes it
    python bench/same_job.py --transactions "bench/data/t10m/transactions/part-*.parquet"

Each run is a child process (imports included); the first run also creates
the MLflow store, like a first build. Prints wall and CPU seconds per run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "segkit" / "data" / "cdnow_transactions.csv"

# RFM and tenure of each customer from its usable lines (customer, day, amount).
RFM_FEATURES = """
create or replace table features as
with lines as ({lines}),
as_of as (select max(day) as as_of from lines)
select
    customer_id,
    min(as_of) - max(day) as recency,
    count(distinct day) as frequency,
    sum(amount) / count(distinct day) as monetary,
    min(as_of) - min(day) as tenure
from lines, as_of
group by customer_id
order by customer_id
"""

DEMO_LINES = """
    select customer_id, cast(purchase_date as date) as day, dollar_value as amount
    from read_csv('{path}')
    where customer_id is not null and dollar_value > 0
"""

# The bench's generated transactions (python bench/run.py writes them).
TRANSACTION_LINES = """
    select CustomerID as customer_id, cast(InvoiceDate as date) as day,
           Quantity * UnitPrice as amount
    from read_parquet('{path}')
    where CustomerID is not null and Quantity > 0 and UnitPrice > 0
"""

WIDE_FEATURES = """
create or replace table features as
select
    CustomerID as customer_id,
    year(current_date) - Year_Birth as age,
    * exclude (CustomerID, Year_Birth)
from read_parquet('{path}')
order by customer_id
"""


def job(source: str, kind: str, folder: Path) -> dict:
    """The job itself, timed by step (in the child process)."""
    steps = {}
    t = time.perf_counter()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import altair as alt
    import duckdb
    import mlflow
    import mlflow.pyfunc
    import numpy as np
    import pandas as pd
    import vl_convert
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient
    from sklearn.cluster import KMeans
    from sklearn.manifold import TSNE
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import KBinsDiscretizer
    from threadpoolctl import threadpool_limits

    steps["imports"] = time.perf_counter() - t

    t = time.perf_counter()
    con = duckdb.connect(str(folder / "warehouse.duckdb"))
    sql = {"demo": RFM_FEATURES.format(lines=DEMO_LINES), "wide": WIDE_FEATURES,
           "transactions": RFM_FEATURES.format(lines=TRANSACTION_LINES)}
    con.execute(sql[kind].format(path=source))
    frame = con.sql("select * from features").df()
    X = frame.drop(columns="customer_id").fillna(frame.median(numeric_only=True)).to_numpy(float)
    steps["sql"] = time.perf_counter() - t

    t = time.perf_counter()
    binner = KBinsDiscretizer(n_bins=4, encode="ordinal", strategy="quantile",
                              quantile_method="averaged_inverted_cdf")
    B = binner.fit_transform(X)
    # Each binned row as one integer (base 4), so the distinct vectors are a 1-D unique,
    # or a count per code when there are no more possible codes than rows (as segkit).
    codes = B.astype(np.int64) @ (4 ** np.arange(B.shape[1], dtype=np.int64))
    space = 4 ** B.shape[1]
    if space <= max(len(codes), 2**16):
        per_code = np.bincount(codes, minlength=space)
        present = np.flatnonzero(per_code)
        inverse = np.empty(space, dtype=np.intp)
        inverse[present] = np.arange(present.size)
        inverse, counts = inverse[codes], per_code[present]
        first = np.empty(space, dtype=np.intp)
        first[codes] = np.arange(len(codes))
        first = first[present]
    else:
        _, first, inverse, counts = np.unique(codes, return_index=True, return_inverse=True,
                                              return_counts=True)
    distinct = B[first]
    def fit(k):
        return KMeans(n_clusters=k, n_init=100, random_state=0).fit(distinct, sample_weight=counts)

    # One OpenMP thread per fit, and the k values side by side on the cores
    # when the vectors are many (on a few dozen, threads only queue for the GIL).
    with threadpool_limits(limits=1), ThreadPoolExecutor(
            os.cpu_count() if len(distinct) >= 256 else 1) as pool:
        fits = dict(zip(range(2, 11), pool.map(fit, range(2, 11))))
        sweep = [{"k": k, "inertia": km.inertia_,
                  "silhouette": silhouette_score(distinct, km.labels_)}
                 for k, km in fits.items()]
        best = max(sweep, key=lambda row: row["silhouette"])
        km = fits[best["k"]]
        labels = km.labels_[inverse.ravel()]
        # The map embeds at most 500 distinct vectors (the most common), as segkit does.
        shown = np.argsort(-counts, kind="stable")[:500]
        points = TSNE(perplexity=min(30.0, (len(shown) - 1) / 3), init="pca",
                      random_state=0).fit_transform(distinct[shown])
    steps["model"] = time.perf_counter() - t

    t = time.perf_counter()
    segments = pd.DataFrame({"customer_id": frame["customer_id"], "segment": labels})
    con.execute("create or replace table segments as select * from segments")
    con.close()
    steps["write-back"] = time.perf_counter() - t

    t = time.perf_counter()

    class SegmentModel(mlflow.pyfunc.PythonModel):
        def __init__(self, binner, kmeans):
            self.binner, self.kmeans = binner, kmeans

        def predict(self, context, model_input, params=None):
            return pd.DataFrame({"segment": self.kmeans.predict(
                self.binner.transform(model_input.to_numpy(float)))})

    uri = "sqlite:///" + str((folder / "mlflow.db").resolve())
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("same-job")
    experiment_id = (experiment.experiment_id if experiment else client.create_experiment(
        "same-job", artifact_location=(folder / "mlartifacts").resolve().as_uri()))
    with mlflow.start_run(experiment_id=experiment_id):
        mlflow.log_params({"n_bins": 4, "k_min": 2, "k_max": 10, "n_init": 100, "k": best["k"]})
        mlflow.log_metrics({f"silhouette_k{row['k']}": row["silhouette"] for row in sweep})
        (folder / "sweep.json").write_text(json.dumps(sweep))
        mlflow.log_artifact(str(folder / "sweep.json"))
        model = SegmentModel(binner, km)
        example = frame.drop(columns="customer_id").head(5)
        info = mlflow.pyfunc.log_model(
            name="model", python_model=model, input_example=example,
            signature=infer_signature(example, model.predict(None, example)),
            registered_model_name="same-job", pip_requirements=["scikit-learn"])
        client.set_registered_model_alias("same-job", "champion",
                                          str(info.registered_model_version))
    steps["mlflow"] = time.perf_counter() - t

    t = time.perf_counter()
    sizes = alt.Chart(segments.groupby("segment", as_index=False).size()).mark_bar().encode(
        x="segment:N", y="size:Q")
    map_ = alt.Chart(pd.DataFrame({"x": points[:, 0], "y": points[:, 1],
                                   "segment": km.labels_[shown]})).mark_circle().encode(
        x="x", y="y", color="segment:N")
    specs = [json.dumps(chart.to_dict()) for chart in (sizes, map_)]
    # Cached on disk after the first run, as segkit caches it.
    bundle = folder / "vega-bundle.js"
    if not bundle.exists():
        bundle.write_text(vl_convert.javascript_bundle(), encoding="utf-8")
    script = bundle.read_text(encoding="utf-8")
    body = "".join(f'<div id="c{i}"></div><script>vegaEmbed("#c{i}", {spec});</script>'
                   for i, spec in enumerate(specs))
    (folder / "report.html").write_text(f"<html><head><script>{script}</script></head>"
                                        f"<body>{body}</body></html>", encoding="utf-8")
    steps["report"] = time.perf_counter() - t
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wide", metavar="CSV", help="a customers-only Parquet table (the bench's wide regime) instead of the demo")
    parser.add_argument("--transactions", metavar="GLOB",
                        help="the bench's generated transactions (Parquet) instead of the demo")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        source, kind, folder = args.child
        print(json.dumps(job(source, kind, Path(folder))), flush=True)
        # As `segkit build` does: skip the interpreter's teardown of MLflow,
        # scikit-learn and the rest (0.7-0.8 s), which nobody waits for.
        os._exit(0)
    source, kind = str(DEMO), "demo"
    if args.wide:
        source, kind = str(Path(args.wide).resolve()), "wide"
    elif args.transactions:
        source, kind = str(Path(args.transactions).resolve()), "transactions"
    walls = []
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile("w+") as errors:
        for i in range(args.runs):
            start = time.perf_counter()
            child = subprocess.Popen([sys.executable, __file__, "--child", source, kind, tmp],
                                     stdout=subprocess.PIPE, stderr=errors, text=True)
            out = child.stdout.read()
            _, status, usage = os.wait4(child.pid, 0)  # wait4: the child's own CPU and RSS
            wall = time.perf_counter() - start
            if status:
                errors.seek(0)
                raise SystemExit(f"run {i + 1} failed:\n{errors.read()[-3000:]}")
            steps = json.loads(out.strip().splitlines()[-1])
            cpu = usage.ru_utime + usage.ru_stime
            walls.append(wall)
            print(f"run {i + 1} ({'first' if i == 0 else 'again'}): wall {wall:.2f} s, "
                  f"CPU {cpu:.2f} s, peak RSS {usage.ru_maxrss / 1024:.0f} MB; "
                  + ", ".join(f"{name} {sec:.2f}" for name, sec in steps.items()))
    if len(walls) > 1:
        print(f"median of the runs after the first: {statistics.median(walls[1:]):.2f} s")


if __name__ == "__main__":
    main()
