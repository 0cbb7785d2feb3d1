"""The remote tracking path: a real `mlflow server` on 127.0.0.1, stopped by its pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import segkit
from tests.conftest import cdnow_config, query


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    port = _free_port()
    mlflow = Path(sys.executable).parent / "mlflow"
    store = tmp_path / "server"
    store.mkdir()
    process = subprocess.Popen(
        [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
         "--artifacts-destination", str(store / "artifacts")],
        cwd=store, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"mlflow server did not start on {url}")
            time.sleep(0.5)
    yield url
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def test_build_tracks_to_a_real_mlflow_server(mlflow_server, tmp_path):
    import mlflow
    from mlflow.tracking import MlflowClient

    from segkit import tracking

    config = cdnow_config(tmp_path, mlflow=f'tracking_uri = "{mlflow_server}"\n'
                                           '        registered_model = "segkit-remote"')
    result = segkit.build(config)
    assert result.mlflow_run_id and result.model_version == "1"
    client = MlflowClient(mlflow_server)
    run = client.get_run(result.mlflow_run_id)
    assert run.data.metrics["k"] == result.k
    assert run.data.params["n_bins"] == "4"
    assert client.get_model_version_by_alias("segkit-remote", "champion").version == "1"
    history = client.get_metric_history(result.mlflow_run_id, "sweep.silhouette")
    assert sorted(m.step for m in history) == list(range(2, 11))
    with tracking.using_store(mlflow_server):
        model = mlflow.pyfunc.load_model("models:/segkit-remote@champion")
    wh = tmp_path / "warehouse" / "segkit.duckdb"
    row = query(wh, "select recency_days, frequency, monetary, segment_id from "
                    "features.customer_features join segments.customer_segments "
                    "using (customer_id) limit 1")[0]
    import pandas as pd

    predicted = model.predict(pd.DataFrame([row[:3]], columns=["recency_days", "frequency",
                                                              "monetary"]))
    assert predicted["segment_id"].tolist() == [row[3]]
    assert query(wh, "select mlflow_run_id, model_version from meta.runs where run_id = ?",
                 [result.run_id]) == [(result.mlflow_run_id, "1")]
    # Nothing of MLflow's landed beside the warehouse when tracking is remote.
    assert not (tmp_path / "warehouse" / "mlflow.db").exists()
