"""Each view on a few literal input rows, against the exact expected rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from segkit import features, warehouse
from segkit.config import load_config
from tests.conftest import write_config

ORDERS = """\
InvoiceNo,CustomerID,InvoiceDate,Quantity,UnitPrice,Country
1,A,2024-01-01 10:00:00,2,5.00,UK
1,A,2024-01-01 10:00:00,2,5.00,UK
2,A,2024-01-03 09:00:00,1,7.50,FR
2,A,2024-01-03 09:00:00,1,2.50,FR
3,B,2024-01-02 12:00:00,1,12,UK
C4,B,2024-01-02 13:00:00,-1,12,UK
5,,2024-01-02 14:00:00,1,3,UK
6,C,not a date,1,3,UK
7,C,2024-01-03 08:00:00,1,"12,50",UK
8,C,2024-01-03 08:30:00,1,0,UK
9,C,2099-01-01 00:00:00,1,4,UK
10,17850.0,2024-01-03 11:00:00,3,1.10,UK
"""


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    folder: Path = tmp_path_factory.mktemp("views")
    (folder / "orders.csv").write_text(ORDERS)
    cfg = load_config(write_config(folder, """
        [transactions]
        path = "orders.csv"
        customer_id = "CustomerID"
        timestamp = "InvoiceDate"
        quantity = "Quantity"
        unit_price = "UnitPrice"
        order_id = "InvoiceNo"
        categorical = ["Country"]
    """))
    con = warehouse.connect_work(cfg.duckdb, folder / "tmp")
    result = features.build_features(con, cfg)
    yield con, result
    con.close()


def rows(con, sql):
    return con.execute(sql).fetchall()


def test_cleaning_transactions_checked_gives_each_line_its_first_failing_reason(stage):
    con, result = stage
    assert result.as_of == dt.date(2024, 1, 3)  # the 2099 line is not "today"
    got = rows(con, "select order_id, quarantine_reason from cleaning.transactions_checked "
                    "order by order_id, quarantine_reason nulls first")
    assert got == [
        ("1", None), ("1", "exact duplicate of an earlier row"),
        ("10", None),
        ("2", None), ("2", None),
        ("3", None),
        ("5", "missing customer id"),
        ("6", "missing or unparseable timestamp"),
        ("7", "amount missing or not a number"),
        ("8", "amount zero or negative"),
        ("9", "timestamp after the as-of date"),
        ("C4", "cancellation or return"),
    ]


def test_cleaning_quarantine_keeps_the_rejected_rows_content(stage):
    con, _ = stage
    got = rows(con, "select reason, customer_id, order_id, ordered_at_text, amount_text "
                    "from cleaning.quarantine where order_id in ('6', '7')order by order_id")
    assert got == [
        ("missing or unparseable timestamp", "C", "6", "not a date", "1 x 3"),
        ("amount missing or not a number", "C", "7", "2024-01-03 08:00:00", "1 x 12,50"),
    ]


def test_features_customer_rfm_per_customer(stage):
    con, _ = stage
    got = rows(con, "select customer_id, recency_days, frequency, monetary, tenure_days, "
                    "country, total_spend from features.customer_rfm order by customer_id")
    assert got == [
        # A: 10.00 on Jan 1 (the repeated line is a duplicate), 10.00 on Jan 3; two days.
        # Country: UK once and FR twice (lines) -> FR.
        ("17850", 0, 1, Decimal("3.30"), 0, "UK", Decimal("3.3000")),
        ("A", 0, 2, Decimal("10.00"), 2, "FR", Decimal("20.0000")),
        ("B", 1, 1, Decimal("12.00"), 1, "UK", Decimal("12.0000")),
    ]


def test_features_customer_features_one_hot_and_order(stage):
    _, result = stage
    frame = result.frame
    assert frame["customer_id"].to_list() == ["17850", "A", "B"]
    assert frame.columns == ["customer_id", "recency_days", "frequency", "monetary",
                             "tenure_days", "is_country_uk", "is_country_fr",
                             "is_country_other", "is_country_unknown"]
    assert frame["is_country_fr"].to_list() == [0, 1, 0]


def test_row_accounting_adds_up(stage):
    _, result = stage
    assert result.rows_in == 12
    assert result.rows_used == 5
    assert result.rows_quarantined == 7
