"""The Spark build's histograms on a real Spark (``local[2]``): numpy's counts, in one query.

``segkit.spark.quality._histograms`` counts every feature's 30 bins before and
after capping in one grouped query (a read of each relation), placing each
value as ``np.histogram`` does: values exactly on an edge, the maximum, nulls,
NaN and infinities (left out) are where numpy puts them.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17 (apt-get install openjdk-17-jre-headless)",
                allow_module_level=True)

from pyspark.sql import functions as F  # noqa: E402

from segkit.config import EngineConfig  # noqa: E402
from segkit.features import HISTOGRAM_BINS  # noqa: E402
from segkit.spark import session  # noqa: E402
from segkit.spark.quality import _histograms, _min_max  # noqa: E402

pytestmark = pytest.mark.slow

SHORT_LIVED_JVM = ("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
RAW, CAPPED = "features__customer_features_raw", "features__customer_features"


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spark-warehouse")
    return session(EngineConfig(kind="spark", master="local[2]",
                                conf=(("spark.sql.warehouse.dir", str(folder)), SHORT_LIVED_JVM)))


def _columns(rng) -> dict[str, np.ndarray]:
    n = 5_000
    skewed = np.round(rng.lognormal(3, 1.2, n), 2)
    edges = np.histogram_bin_edges(skewed, bins=HISTOGRAM_BINS)
    skewed[:HISTOGRAM_BINS + 1] = edges  # every edge itself, the maximum included
    return {
        "monetary": skewed,
        "recency_days": rng.integers(0, 400, n).astype(float),  # many values on edges
        "tiny": rng.normal(0, 1e-6, n),
        "same": np.full(n, 7.0),  # one value: numpy widens the range by 0.5 each way
    }


def test_histograms_count_every_bin_as_numpy(spark):
    rng = np.random.default_rng(7)
    raw = _columns(rng)
    raw_with_gaps = {k: v.copy() for k, v in raw.items()}
    raw_with_gaps["monetary"][-3:] = [np.nan, np.inf, -np.inf]  # left out, as numpy's caller
    capped = {k: np.clip(v, np.quantile(v, 0.05), np.quantile(v, 0.95)) for k, v in raw.items()}
    names = list(raw)
    for view, columns in ((RAW, raw_with_gaps), (CAPPED, capped)):
        rows = [tuple(float(columns[c][i]) for c in names) for i in range(len(raw["same"]))]
        spark.createDataFrame(rows, ", ".join(f"{c} double" for c in names)) \
            .withColumn("age", F.lit(None).cast("double")).createOrReplaceTempView(view)
    histograms = _histograms(spark, [*names, "age"], _min_max(spark, RAW, [*names, "age"]),
                             _min_max(spark, CAPPED, [*names, "age"]))
    assert "age" not in histograms["feature"].to_list()  # no value: no histogram
    for stage, columns in (("raw", raw_with_gaps), ("capped", capped)):
        for name in names:
            values = columns[name][np.isfinite(columns[name])]
            counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
            got = histograms.filter((histograms["feature"] == name)
                                    & (histograms["stage"] == stage))
            assert got["n_customers"].to_list() == counts.tolist(), (name, stage)
            assert got["bin_lower"].to_list() == edges[:-1].tolist()
            assert got["bin_upper"].to_list() == edges[1:].tolist()
