"""Spark's floor: the segmentation job written by hand in PySpark, nothing else.

    python bench/spark_floor.py "bench/data/synth_10000000/transactions/*.parquet"

What a data engineer would write in a notebook to get the same segments on Spark
`local[2]`, including the JVM start: read the Parquet, keep lines with a customer and
a positive quantity and price, aggregate per customer and day, then per customer
(recency, distinct days, average spend per day), `percentile_approx` edges for 4 bins
per feature, count the distinct binned vectors (a few dozen rows, collected),
scikit-learn K-Means on them weighted, a broadcast join to label every customer, and
the labels written as Parquet. No line checks beyond that filter, no repeats, no
accounting, no stability, no map, no tracking, no report: what segkit's Spark build
costs above this is its own work (bench/spark.py prints the ratio).

Prints one JSON line: wall seconds (from before the session starts), the seconds
of the session start, and the customers labelled.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

FEATURES = ("recency_days", "frequency", "monetary")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="Parquet file or glob of the transactions")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--k", type=int, default=4)
    args = parser.parse_args()
    started = time.perf_counter()
    os.environ.setdefault("PYSPARK_PYTHON", "python3")
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master(args.master).appName("segkit-spark-floor")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "8").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    session_seconds = time.perf_counter() - started
    spark.read.parquet(args.path).createOrReplaceTempView("lines")
    spark.sql("""
        select CustomerID as customer_id, cast(InvoiceDate as date) as day,
               sum(cast(Quantity as decimal(18, 3)) * cast(UnitPrice as decimal(18, 4))) as spend
        from lines
        where CustomerID is not null and Quantity > 0 and UnitPrice > 0
        group by 1, 2""").createOrReplaceTempView("daily")
    spark.sql("""
        with per_customer as (
            select customer_id, max(day) as last_day, count(*) as frequency,
                   sum(spend) / count(*) as monetary
            from daily group by customer_id)
        select customer_id, frequency, cast(monetary as double) as monetary,
               datediff((select max(last_day) from per_customer), last_day) as recency_days
        from per_customer""").cache().createOrReplaceTempView("rfm")
    quantiles = ", ".join(
        f"percentile_approx({f}, array(0.25, 0.5, 0.75)) as {f}" for f in FEATURES)
    edges = spark.sql(f"select {quantiles} from rfm").collect()[0].asDict()
    bins = ", ".join(
        f"({' + '.join(f'case when {f} >= {e} then 1 else 0 end' for e in sorted(set(edges[f])))})"
        f" as {f}_bin" for f in FEATURES)
    spark.sql(f"select customer_id, {bins} from rfm").createOrReplaceTempView("binned")
    columns = ", ".join(f"{f}_bin" for f in FEATURES)
    vectors = spark.sql(f"select {columns}, count(*) as n from binned group by {columns}"
                        ).collect()

    import numpy as np
    from sklearn.cluster import KMeans

    x = np.array([row[:len(FEATURES)] for row in vectors], dtype=float)
    k = min(args.k, len(x))
    kmeans = KMeans(n_clusters=k, n_init=10, random_state=0).fit(
        x, sample_weight=np.array([row["n"] for row in vectors], dtype=float))
    labels = spark.createDataFrame(
        [(*map(int, row[:len(FEATURES)]), int(label))
         for row, label in zip(vectors, kmeans.labels_)],
        [*(f"{f}_bin" for f in FEATURES), "segment_id"])
    labels.createOrReplaceTempView("labels")
    assigned = spark.sql(f"""
        select /*+ broadcast(l) */ b.customer_id, l.segment_id
        from binned b join labels l using ({columns})""")
    with tempfile.TemporaryDirectory(prefix="segkit-spark-floor-") as out:
        assigned.write.mode("overwrite").parquet(out + "/segments")
        customers = spark.read.parquet(out + "/segments").count()
    spark.stop()
    print(json.dumps({"seconds": round(time.perf_counter() - started, 3),
                      "session_seconds": round(session_seconds, 3), "customers": customers}))


if __name__ == "__main__":
    main()
