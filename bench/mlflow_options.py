"""Where MLflow logging time goes, option by option (fresh SQLite store per variant).

    python bench/mlflow_options.py

Each variant runs in its own process (MLflow caches stores and imports), so the
numbers include what a `segkit build` pays: import, store init, logging.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

CHILD = r'''
import json, sys, time, tempfile
from pathlib import Path
t0 = time.perf_counter(); marks = {}
def mark(name):
    global t0
    now = time.perf_counter(); marks[name] = round(now - t0, 3); t0 = now
import numpy as np, polars as pl
from segkit.model import Segmenter
rng = np.random.default_rng(0)
n = 20000
frame = pl.DataFrame({"customer_id": [f"C{i:07d}" for i in range(n)],
    "recency_days": rng.integers(0, 700, n).astype(float),
    "frequency": rng.geometric(0.4, n).astype(float),
    "monetary": rng.lognormal(3, 1, n), "tenure_days": rng.integers(0, 730, n).astype(float)})
model = Segmenter(seed=0).fit(frame)
mark("fit (not MLflow)")
import mlflow
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from mlflow.entities import Metric
mark("import mlflow")
opts = json.loads(sys.argv[1]); folder = Path(sys.argv[2])
uri = "sqlite:///" + str(folder / "mlflow.db")
if opts.get("warm"):
    MlflowClient(uri).search_experiments()  # a store that already exists
    import importlib; import mlflow.tracking._tracking_service.utils as u
    u._tracking_store_registry._get_store_with_resolved_uri.cache_clear()
    mark("(pre-create store)")
mlflow.set_tracking_uri(uri)
client = MlflowClient(uri)
exp = client.get_experiment_by_name("bench") or client.create_experiment(
    "bench", artifact_location=(folder / "art").as_uri())
exp = exp if isinstance(exp, str) else exp.experiment_id
mark("store init + experiment")
with mlflow.start_run(experiment_id=exp) as run:
    mlflow.log_params({f"p{i}": i for i in range(40)})
    mark("start run + params")
    rows = model.selection_.to_dicts()
    names = ("inertia", "silhouette", "davies_bouldin", "calinski_harabasz", "stability_ari_mean", "stability_ari_p10")
    if opts.get("batch"):
        ts = int(time.time() * 1000)
        metrics = [Metric(f"sweep.{m}", float(r[m]), ts, r["k"]) for r in rows for m in names
                   if r.get(m) is not None and np.isfinite(r[m])]
        client.log_batch(run.info.run_id, metrics=metrics)
    else:
        for r in rows:
            for m in names:
                if r.get(m) is not None and np.isfinite(r[m]):
                    mlflow.log_metric(f"sweep.{m}", r[m], step=r["k"])
    mark("sweep metrics")
    example = frame.select(model.features_).head(5).to_pandas()
    pipe = model.to_pipeline()
    sig = infer_signature(example, pipe.predict(example))
    mark("signature")
    info = mlflow.sklearn.log_model(pipe, name="model", signature=sig,
        input_example=example if opts.get("example", True) else None,
        serialization_format=opts.get("format", "skops"),
        registered_model_name="bench" if opts.get("register", True) else None,
        pip_requirements=["scikit-learn", "numpy"])
    mark("log_model" + (" + register" if opts.get("register", True) else ""))
    if opts.get("register", True):
        client.set_registered_model_alias("bench", "champion", str(info.registered_model_version))
        mark("alias")
print(json.dumps(marks))
'''

VARIANTS = {
    "as built (skops, input example, per-step metrics)": {},
    "batched metrics": {"batch": True},
    "batched + no input example": {"batch": True, "example": False},
    "batched + no example + cloudpickle": {"batch": True, "example": False, "format": "cloudpickle"},
    "same, store already exists (2nd build)": {"batch": True, "example": False,
                                               "format": "cloudpickle", "warm": True},
}


def main() -> None:
    for label, opts in VARIANTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(opts), tmp],
                                 capture_output=True, text=True, cwd=tmp)
        if out.returncode:
            print(label, "FAILED", out.stderr[-2000:])
            continue
        marks = json.loads(out.stdout.strip().splitlines()[-1])
        mlflow_total = sum(v for k, v in marks.items() if not k.startswith(("fit", "(")))
        print(f"{label:50s} total {mlflow_total:6.2f} s  " + "  ".join(f"{k} {v:.2f}" for k, v in marks.items()))


if __name__ == "__main__":
    main()
