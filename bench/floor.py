"""DuckDB's floor: the bare RFM aggregate over the same transaction files.

    python bench/floor.py "bench/data/t10m/transactions/part-*.parquet"

One real scan (not ``count(*)``, which Parquet answers from metadata): group by
customer with the last purchase, the distinct purchase days and the spend.
Prints one JSON line: the query's seconds and the customers found.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import duckdb

QUERY = """
select count(*) as customers, sum(spend) as spend
from (
    select
        CustomerID as customer_id,
        max(InvoiceDate) as last_purchase_at,
        count(distinct cast(InvoiceDate as date)) as purchase_days,
        sum(Quantity * UnitPrice) as spend
    from {source}
    where CustomerID is not null
    group by CustomerID
)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="Parquet file or glob of the transactions")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--memory-limit", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="segkit-floor-") as tmp:
        config = {"temp_directory": tmp}
        if args.threads:
            config["threads"] = args.threads
        if args.memory_limit:
            config["memory_limit"] = args.memory_limit
        con = duckdb.connect(":memory:", config=config)
        con.execute("set enable_progress_bar = false")
        source = f"read_parquet('{args.path}')"
        started = time.perf_counter()
        customers, _ = con.execute(QUERY.format(source=source)).fetchall()[0]
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": round(seconds, 3), "customers": customers}))


if __name__ == "__main__":
    main()
