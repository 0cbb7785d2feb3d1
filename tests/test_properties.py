"""Property: whatever dirt a source holds, rows in = rows used + rows quarantined.

Hypothesis writes small CSVs of messy ids, dates and amounts (and exact
repeats), the SQL stage runs on them in a work database, and every row must
land in exactly one place: used, or quarantined with a reason.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segkit import warehouse
from segkit.config import load_config
from segkit.errors import InputError
from segkit.features import build_features

CUSTOMER_IDS = ["c1", "c2", "c3", "17850.0", "17850", " c1 ", "", "  ", "NULL", "ü-ß", "x,y",
                'a"b']
TIMESTAMPS = ["2023-01-05", "2023-03-01 10:00:00", "2023-12-31T23:59:59", "05/01/2023", "",
              "not a date", "2099-01-01", "1900-01-01", "2023-02-30", "2023-1-5", "0000-00-00"]
AMOUNTS = ["12.50", "1", "0", "-3", "12,50", "abc", "", "NaN", "inf", "-inf", "1e300", "1e-9",
           " 7.25 ", "99999999999999999999", "0.004", "3.999"]
ORDER_IDS = ["o1", "o2", "C123", "", "o3"]

row = st.tuples(st.sampled_from(CUSTOMER_IDS), st.sampled_from(TIMESTAMPS),
                st.sampled_from(AMOUNTS), st.sampled_from(ORDER_IDS))


def config_for(folder: Path, with_order_id: bool):
    order = 'order_id = "order_id"\n' if with_order_id else ""
    (folder / "segkit.toml").write_text(
        'warehouse = "wh/segkit.duckdb"\n[transactions]\npath = "data.csv"\n'
        'customer_id = "customer_id"\ntimestamp = "ts"\namount = "amount"\ndelimiter = ","\n'
        f"{order}[duckdb]\nthreads = 1\n", encoding="utf-8")
    return load_config(folder / "segkit.toml")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=1, max_size=40), repeat=st.integers(0, 3),
       with_order_id=st.booleans())
def test_every_row_is_used_or_quarantined(rows, repeat, with_order_id):
    rows = rows + rows[:repeat]  # exact repeats: duplicates with an order id, kept without
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with open(folder / "data.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
            writer.writerow(["customer_id", "ts", "amount", "order_id"])
            writer.writerows(rows)
        cfg = config_for(folder, with_order_id)
        con = warehouse.connect_work(cfg.duckdb, folder / ".tmp")
        try:
            try:
                result = build_features(con, cfg)
            except InputError as exc:
                # No usable row: refused, but the accounting below must still hold.
                assert "can be used" in str(exc) or "no customer" in str(exc)
                result = None
            n_in, n_used, n_quarantined, n_reasonless_rejects = con.execute(
                "select count(*), count(*) filter (where quarantine_reason is null), "
                "(select count(*) from cleaning.quarantine), "
                "(select count(*) from cleaning.quarantine where reason is null) "
                "from cleaning.transactions_checked").fetchall()[0]
            assert n_in == len(rows)
            assert n_used + n_quarantined == n_in
            assert n_reasonless_rejects == 0
            assert con.execute("select count(*) from cleaning.transactions").fetchall()[0][0] \
                == n_used
            if result is not None:
                assert (result.rows_in, result.rows_used, result.rows_quarantined) == (
                    n_in, n_used, n_quarantined)
                assert int(result.accounting["n_rows"].sum()) == n_in
                assert result.quarantine.num_rows == n_quarantined
                # Every customer with a usable row is in the feature matrix, once.
                customers = con.execute("select count(distinct customer_id) "
                                        "from cleaning.transactions").fetchall()[0][0]
                assert result.frame.height == customers
                assert result.frame["customer_id"].is_unique().all()
        finally:
            con.close()
