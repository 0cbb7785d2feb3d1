"""What a whole build publishes: the segment tables, stage times, k, small and customers-only
sources, and a warehouse table as the source."""

from __future__ import annotations


import numpy as np
import polars as pl

import segkit
from tests.conftest import SAMPLE_CUSTOMERS, cdnow_config, cdnow_sample, query, write_config


def test_segment_tables_exist_and_describe_the_latest_build(cdnow_build):
    wh, result = cdnow_build["warehouse"], cdnow_build["result"]
    assert query(wh, "select count(*), count(distinct segment_id) from "
                     "segments.customer_segments") == [(result.customers, result.k)]
    assert query(wh, "select sum(share), sum(n_customers) from segments.segment_profiles "
                     "where feature = 'recency_days'")[0][1] == result.customers
    chosen = query(wh, "select k from segments.model_selection where is_chosen")
    assert chosen == [(result.k,)]
    columns = [r[0] for r in query(wh, "describe segments.customer_segments")]
    assert columns[:4] == ["customer_id", "segment_id", "segment_name", "run_id"]
    assert "recency_days_bin" in columns and "distance_to_centroid" in columns


def test_every_stage_time_is_stored_and_the_parts_add_up(cdnow_build):
    wh, result = cdnow_build["warehouse"], cdnow_build["result"]
    stored = dict(query(wh, "select stage, seconds from meta.run_stages where run_id = ?",
                        [result.run_id]))
    # map = false in this build, so no tsne stage; the demo has history for its backtest
    assert set(stored) == {"load", "features", "discretize", "sweep", "stability", "backtest",
                           "mlflow", "write-back", "report"}
    assert all(seconds >= 0 for seconds in stored.values())
    shown = result.seconds  # what the terminal showed, stage by stage
    assert abs(stored["load"] + stored["features"] - shown["sql"]) < 1e-3
    assert abs(stored["discretize"] + stored["sweep"] + stored["stability"]
               - shown["model"]) < 1e-3
    assert stored["report"] == shown["report"]
    assert stored["write-back"] <= shown["write-back"]  # stored just before the commit


def test_live_segments_agree_with_the_model_for_every_customer(cdnow_build):
    wh = cdnow_build["warehouse"]
    (total, agree), = query(wh, """
        select count(*), count(*) filter (where live.segment_id = built.segment_id)
        from segments.live_segments as live
        inner join segments.customer_segments as built using (customer_id)""")
    assert total == cdnow_build["result"].customers
    assert agree == total


def test_k_flag_gives_exactly_k_segments(tmp_path):
    config = cdnow_config(tmp_path, path=cdnow_sample(tmp_path))
    result = segkit.build(config, k=3)
    assert result.k == 3 and len(result.segment_names) == 3
    wh = tmp_path / "warehouse" / "segkit.duckdb"
    assert query(wh, "select count(distinct segment_id) from segments.customer_segments") == [(3,)]
    assert "k = 3" in query(wh, "select k_rule from meta.runs")[0][0]


def test_few_customers_adapt_the_k_range_and_say_so(tmp_path):
    lines = ["id,day,amount"]
    rng = np.random.default_rng(0)
    for i in range(6):
        for d in range(1 + i % 4):
            lines.append(f"c{i:02d},2024-0{1 + d}-{10 + i},{rng.integers(5, 200)}")
    (tmp_path / "orders.csv").write_text("\n".join(lines) + "\n")
    config = write_config(tmp_path, """
        [transactions]
        path = "orders.csv"
        customer_id = "id"
        timestamp = "day"
        amount = "amount"
        [model]
        map = false
        min_customers = 2
        [mlflow]
        enabled = false
    """)
    result = segkit.build(config)
    assert result.customers == 6
    assert any("k range" in w or "distinct" in w for w in result.warnings), result.warnings
    wh = tmp_path / "warehouse" / "segkit.duckdb"
    (k_max,), = query(wh, "select max(k) from segments.model_selection")
    assert k_max < 10


def test_a_customers_table_alone_is_segmentable(tmp_path):
    # Many marketing datasets arrive as one row per customer with behaviour columns.
    rng = np.random.default_rng(3)
    n = 1200
    group = rng.integers(0, 3, size=n)  # three real kinds of customer
    frame = pl.DataFrame({
        "ID": [f"k{i:05d}" for i in range(n)],
        "Year_Birth": (1990 - 20 * group + rng.integers(-3, 4, n)).tolist(),
        "Income": [None if i % 37 == 0 else float(v) for i, v in
                   enumerate(20_000 + 30_000 * group + rng.normal(0, 3_000, n))],
        "Recency": (90 - 40 * group + rng.integers(-5, 6, n)).tolist(),
        "MntTotal": (100 + 400 * group + rng.normal(0, 30, n)).round(2).tolist(),
        "Education": rng.choice(["Graduation", "PhD", "Master"], n).tolist(),
    })
    frame.write_csv(tmp_path / "customers.csv")
    config = write_config(tmp_path, """
        [customers]
        path = "customers.csv"
        customer_id = "ID"
        birth_year = "Year_Birth"
        numeric = ["Income", "Recency", "MntTotal"]
        categorical = ["Education"]
        [model]
        map = false
        [mlflow]
        enabled = false
    """)
    result = segkit.build(config)
    assert result.customers == n
    assert result.k == 3
    wh = tmp_path / "warehouse" / "segkit.duckdb"
    features = query(wh, "select features from meta.runs")[0][0]
    assert features == "age,income,recency,mnttotal"
    # Names describe demographics ("Older, high income"), not RFM.
    names = set(result.segment_names)
    assert len(names) == 3 and not {"Champions", "Loyal", "At Risk", "Lost"} & names
    # ...in the columns' source spelling.
    assert any("Income" in name or "MntTotal" in name for name in names), names
    (agree,), = query(wh, "select count(*) from segments.live_segments join "
                          "segments.customer_segments using (customer_id, segment_id)")
    assert agree == n


def test_source_can_be_a_table_in_the_warehouse(tmp_path):
    import duckdb

    wh = tmp_path / "warehouse" / "segkit.duckdb"
    wh.parent.mkdir()
    con = duckdb.connect(str(wh))
    con.execute("create schema raw")
    # A tenth of the demo's customers: the point is the table, not the size.
    con.execute(f"create table raw.orders as select * from read_csv('{cdnow_sample(tmp_path)}', "
                "all_varchar = true)")
    con.close()
    config = write_config(tmp_path, """
        [transactions]
        table = "raw.orders"
        customer_id = "customer_id"
        timestamp = "purchase_date"
        amount = "dollar_value"
        [model]
        map = false
        [mlflow]
        enabled = false
    """)
    result = segkit.build(config)
    assert (result.rows_in, result.customers) == (8_000, SAMPLE_CUSTOMERS)
    # The warehouse's views read the table itself, so they follow it.
    assert query(wh, "select count(*) from staging.transactions") == [(8_000,)]
    assert query(wh, "select count(*) from segments.live_segments") == [(SAMPLE_CUSTOMERS,)]
