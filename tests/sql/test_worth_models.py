"""Unit tests of the SQL behind what a segment is worth and the backtest: the model
features.customer_purchases, the build queries sql/build/segment_kpis.sql and
sql/build/backtest_outcomes.sql, and the views over their history tables."""

from __future__ import annotations

from decimal import Decimal

from segkit import project, warehouse
from tests.sql.test_models import D, T, context, create, db, given, run, usable_lines  # noqa: F401


def build_query(name: str, **values) -> str:
    text = (warehouse.sql_dir() / "build" / f"{name}.sql").read_text(encoding="utf-8")
    return project.render_string(text, values)


def test_features_customer_purchases_counts_days_orders_and_exact_revenue(db, context):
    # purchases are days, split by order (mapped) and country: each counted once
    given(db, "cleaning.purchases", "customer_id varchar, purchase_date date, "
          "order_id varchar, country varchar, n_lines bigint, amount decimal(38,4)", [
              ("A", D(2024, 1, 1), "1", "UK", 1, Decimal("4.00")),
              ("A", D(2024, 1, 1), "2", "FR", 1, Decimal("6.00")),  # same day, another order
              ("A", D(2024, 1, 8), "3", "FR", 1, Decimal("7.00")),
              ("A", D(2024, 1, 8), "3", "UK", 1, Decimal("3.00")),  # same order, another country
              ("B", D(2024, 1, 10), "4", None, 1, Decimal("1.25")),
          ])
    model = next(m for m in project.load_models() if m.name == "features.customer_purchases")
    assert project.dependencies(project.render(model, context)) == {"cleaning.purchases"}
    got = run(db, "features.customer_purchases", context)
    assert got == [
        # days, orders (distinct order ids), revenue, first, last
        ("A", 2, 3, Decimal("20.00"), D(2024, 1, 1), D(2024, 1, 8)),
        ("B", 1, 1, Decimal("1.25"), D(2024, 1, 10), D(2024, 1, 10)),
    ]


def test_features_customer_purchases_counts_the_orders_of_its_purchases(db, context):
    # purchases are orders: counted from the purchases, no line read
    orders = {**context, "features": {**context["features"], "frequency": "orders"},
              "transactions": {**context["transactions"], "categorical": []}}
    given(db, "cleaning.purchases", "customer_id varchar, purchase_date date, "
          "order_id varchar, n_lines bigint, amount decimal(38,4)", [
              ("A", D(2024, 1, 1), "1", 1, Decimal("4.00")),
              ("A", D(2024, 1, 1), "2", 2, Decimal("6.00")),
              ("A", D(2024, 1, 2), "2", 1, Decimal("1.00")),  # order 2 the next day
              ("B", D(2024, 1, 10), None, 1, Decimal("1.25")),  # no order id
          ])
    model = next(m for m in project.load_models() if m.name == "features.customer_purchases")
    assert project.dependencies(project.render(model, orders)) == {"cleaning.purchases"}
    assert run(db, "features.customer_purchases", orders) == [
        ("A", 2, 2, Decimal("11.00"), D(2024, 1, 1), D(2024, 1, 2)),
        ("B", 1, 0, Decimal("1.25"), D(2024, 1, 10), D(2024, 1, 10)),
    ]


PURCHASES = ("customer_id varchar, n_purchase_days bigint, n_orders bigint, "
             "revenue decimal(38, 2), first_purchase_date date, last_purchase_date date")


def test_segment_kpis_per_segment(db):
    given(db, "segment_members", "customer_id varchar, segment_id integer",
          [("a", 1), ("b", 1), ("c", 2), ("d", 2)])
    given(db, "customer_purchases", PURCHASES, [
        ("a", 3, 4, Decimal("10.00"), D(2024, 1, 1), D(2024, 1, 21)),  # 10 days apart
        ("b", 2, 2, Decimal("0.01"), D(2024, 1, 1), D(2024, 1, 31)),   # 30 days apart
        ("c", 1, 1, Decimal("5.00"), D(2024, 1, 5), D(2024, 1, 5)),
        ("d", 1, 2, Decimal("5.00"), D(2024, 1, 6), D(2024, 1, 6)),
    ])
    given(db, "fitted_segments", "segment_index integer, segment_id integer, segment_name varchar",
          [(0, 2, "Two"), (1, 1, "One")])
    got = db.sql(build_query("segment_kpis", scale=2, money_decimals=2)).fetchall()
    assert got == [
        # id, index, name, customers, share, orders, days, revenue, revenue share,
        # average order value (10.01 / 6, half-up), per customer, median gap, one-time share
        (2, 0, "Two", 2, 0.5, 3, 2, Decimal("10.00"), 10 / 20.01, Decimal("3.33"),
         Decimal("5.00"), None, 1.0),
        (1, 1, "One", 2, 0.5, 6, 5, Decimal("10.01"), 10.01 / 20.01, Decimal("1.67"),
         Decimal("5.01"), 20.0, 0.0),
    ]


def test_segment_kpis_without_transactions_has_null_money(db):
    given(db, "segment_members", "customer_id varchar, segment_id integer", [("a", 1), ("b", 1)])
    given(db, "customer_purchases", PURCHASES, [])
    given(db, "fitted_segments", "segment_index integer, segment_id integer, segment_name varchar",
          [(0, 1, "One")])
    got = db.sql(build_query("segment_kpis", scale=2, money_decimals=2)).fetchall()
    assert got == [(1, 0, "One", 2, 1.0, None, None, None, None, None, None, None, None)]


def test_backtest_outcomes_are_the_later_figures_less_the_earlier(db):
    given(db, "backtest_members", "customer_id varchar, segment_id integer",
          [("a", 1), ("b", 2)])
    given(db, "backtest_purchases", PURCHASES, [
        ("a", 2, 2, Decimal("10.00"), D(2024, 1, 1), D(2024, 1, 5)),
        ("b", 1, 1, Decimal("3.00"), D(2024, 1, 2), D(2024, 1, 2)),
        ("x", 1, 1, Decimal("1.00"), D(2024, 1, 2), D(2024, 1, 2)),  # not segmented: left out
    ])
    given(db, "build_purchases", PURCHASES, [
        ("a", 4, 4, Decimal("17.50"), D(2024, 1, 1), D(2024, 3, 1)),  # 2 days, 7.50 after d
        ("b", 1, 1, Decimal("3.00"), D(2024, 1, 2), D(2024, 1, 2)),   # did not come back
        ("n", 1, 1, Decimal("2.25"), D(2024, 2, 2), D(2024, 2, 2)),   # new in the horizon
        ("x", 1, 1, Decimal("1.00"), D(2024, 1, 2), D(2024, 1, 2)),
    ])
    got = db.sql(build_query("backtest_outcomes", scale=2)).fetchall()
    assert got == [("a", 1, True, 2, Decimal("7.50")), ("b", 2, False, 0, Decimal("0.00")),
                   ("n", None, True, 1, Decimal("2.25"))]


def test_worth_views_show_only_the_latest_run(db, context):
    given(db, "segments.latest_run", "run_id varchar", [("r2",)])
    given(db, "segments.kpi_history", "run_id varchar, segment_id integer",
          [("r1", 1), ("r2", 1), ("r2", 2)])
    given(db, "segments.backtest_history", "run_id varchar, segment_id integer",
          [("r1", 1), ("r2", 3)])
    assert run(db, "segments.segment_kpis", context) == [("r2", 1), ("r2", 2)]
    assert run(db, "segments.backtest", context) == [("r2", 3)]
