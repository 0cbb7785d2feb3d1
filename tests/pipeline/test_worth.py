"""What each segment is worth and whether the segments predict: the KPIs and the backtest
of real builds (DuckDB engine), checked against separate builds and hand-written queries."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import mlflow
import pytest

import segkit
from segkit.config import DEMO_DATA
from tests.conftest import query, write_config

# The demo's default as-of date is its last purchase day; its backtest date is 90 days before.
DEMO_AS_OF = dt.date(1998, 6, 30)
BACKTEST_DATE = dt.date(1998, 4, 1)


def test_kpis_one_row_per_segment_revenue_exact_and_shares_add_up(cdnow_build):
    wh = cdnow_build["warehouse"]
    kpis = query(wh, "select segment_name, n_customers, customer_share, revenue, revenue_share, "
                     "n_orders, n_purchase_days, average_order_value, revenue_per_customer, "
                     "median_days_between_purchases, one_time_buyer_share "
                     "from segments.segment_kpis order by segment_index")
    names = [r[0] for r in query(wh, "select distinct segment_name "
                                     "from segments.customer_segments")]
    assert sorted(r[0] for r in kpis) == sorted(names)
    # Revenue adds up, exactly, to the total of the lines the build used.
    used_total = query(wh, "select sum(amount) from cleaning.transactions")[0][0]
    assert sum(r[3] for r in kpis) == used_total
    assert abs(sum(r[2] for r in kpis) - 1) < 1e-9
    assert abs(sum(r[4] for r in kpis) - 1) < 1e-9
    assert sum(r[1] for r in kpis) == cdnow_build["result"].customers
    for name, n, _, revenue, _, orders, days, aov, per_customer, gap, one_time in kpis:
        assert isinstance(revenue, Decimal)
        assert orders == days  # no order_id mapped: orders are purchase days
        # rounded half-up once from the exact quotient
        assert aov == (revenue / orders).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        assert per_customer == (revenue / n).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        assert 0 <= one_time <= 1 and (gap is None or gap > 0)
    # The top segment by revenue is the one the report's summary names.
    top = max(kpis, key=lambda r: r[3])
    assert top[0] == "Loyal"


def test_report_shows_worth_and_the_backtest(cdnow_build):
    html = cdnow_build["result"].report_path.read_text(encoding="utf-8")
    top, share = query(cdnow_build["warehouse"], "select segment_name, revenue_share from "
                       "segments.segment_kpis order by revenue desc limit 1")[0]
    assert f"{top}: {share * 100:.1f}% of revenue" in html
    assert "What each segment is worth" in html and "chart-worth" in html
    lift = query(cdnow_build["warehouse"], "select lift from segments.backtest_run_history "
                 "join segments.latest_run using (run_id)")[0][0]
    assert "Do the segments predict?" in html and "chart-backtest" in html
    assert (f"Customers in Loyal were {lift:.1f} times as likely to buy again within 90 days "
            "as those in Hibernating.") in html
    assert "not the effect of acting on a segment" in html


def _hand_outcomes(d: dt.date, end: dt.date) -> dict[str, tuple[int, Decimal]]:
    """Customer -> (purchase days, spend) in (d, end], straight from the demo CSV: the
    used lines are those with a positive amount (the demo's only quarantine reason)."""
    import duckdb

    con = duckdb.connect()
    rows = con.execute("""
        select lpad(customer_id, 5, '0') as customer_id,
               count(distinct cast(purchase_date as date)),
               sum(cast(dollar_value as decimal(18, 2)))
        from read_csv(?, all_varchar = true)
        where cast(dollar_value as decimal(18, 2)) > 0
          and cast(purchase_date as date) > ? and cast(purchase_date as date) <= ?
        group by all""", [str(DEMO_DATA), d, end]).fetchall()
    return {c: (n, s) for c, n, s in rows}


def test_backtest_equals_a_separate_as_of_build_and_a_hand_written_query(cdnow_build, tmp_path):
    wh = cdnow_build["warehouse"]
    run = query(wh, "select status, backtest_as_of_date, horizon_days, lift, lift_low, lift_high, "
                    "top_segment_name, bottom_segment_name, new_customers from "
                    "segments.backtest_run_history h join segments.latest_run using (run_id)")[0]
    assert run[:3] == ("ran", BACKTEST_DATE, 90)
    assert run[3] >= 5 and run[4] <= run[3] <= run[5]
    assert run[8] == 0  # every CDNOW customer first bought in early 1997
    backtest = {r[0]: r[1:] for r in query(
        wh, "select segment_name, n_customers, repurchase_share, mean_spend, revenue_share, "
            "purchase_days, repurchase_share_low, repurchase_share_high from segments.backtest")}
    assert len(backtest) == len(query(wh, "select distinct segment_id from segments.backtest"))

    # A separate build as of the backtest date, in an empty warehouse.
    config = write_config(tmp_path, f"""
        warehouse = "wh.duckdb"
        reports_dir = "reports"
        [transactions]
        path = "{DEMO_DATA}"
        customer_id = "customer_id"
        timestamp = "purchase_date"
        amount = "dollar_value"
        [model]
        map = false
        [mlflow]
        enabled = false
        [backtest]
        enabled = false
    """)
    segkit.build(config, as_of=BACKTEST_DATE.isoformat())
    members = query(tmp_path / "wh.duckdb",
                    "select customer_id, segment_name from segments.customer_segments")
    outcome = _hand_outcomes(BACKTEST_DATE, DEMO_AS_OF)
    by_segment: dict[str, list] = {}
    for customer, name in members:
        by_segment.setdefault(name, []).append(outcome.get(customer, (0, Decimal(0))))
    assert set(by_segment) == set(backtest)
    total = sum(s for rows in by_segment.values() for _, s in rows)
    for name, rows in by_segment.items():
        n, share, mean_spend, revenue_share, days, low, high = backtest[name]
        assert n == len(rows)
        assert round(share * 1000) == round(sum(1 for d, _ in rows if d > 0) / n * 1000)
        assert low <= share <= high
        spend = sum(s for _, s in rows)
        # to the cent (stored at the amounts' scale, rounded once)
        assert abs(mean_spend - spend / n) < Decimal("0.005")
        assert round(revenue_share * 1000) == round(float(spend / total) * 1000)
        assert days == sum(d for d, _ in rows)


def test_backtest_metrics_reach_mlflow(cdnow_build):
    result = cdnow_build["result"]
    cfg = cdnow_build["cfg"]
    from segkit.tracking import tracking_uri

    mlflow.set_tracking_uri(tracking_uri(cfg))
    metrics = mlflow.get_run(result.mlflow_run_id).data.metrics
    lift = query(cdnow_build["warehouse"], "select lift from segments.backtest_run_history "
                                           "join segments.latest_run using (run_id)")[0][0]
    assert metrics["backtest_lift"] == pytest.approx(lift)
    assert 0.5 < metrics["backtest_auc"] <= 1
    ids = [r[0] for r in query(cdnow_build["warehouse"],
                               "select segment_id from segments.backtest")]
    assert {f"backtest_repurchase_{i}" for i in ids} <= set(metrics)


def _generated(folder, days_before: int, horizon: int, seed: int = 7, new_customers: int = 0):
    """Customers in three kinds whose purchases after the backtest date depend on their
    kind: frequent big spenders come back (90 %), occasional ones sometimes (40 %),
    one-time buyers almost never (3 %); ``new_customers`` first buy in the horizon.
    Returns the CSV path and the as-of date."""
    rng = random.Random(seed)
    as_of = dt.date(2024, 12, 31)
    d = as_of - dt.timedelta(days=horizon)
    start = d - dt.timedelta(days=days_before)
    lines = ["customer_id,ordered_at,amount"]
    kinds = [("loyal", 0.90, 8, (80, 200)), ("occasional", 0.40, 3, (30, 80)),
             ("once", 0.03, 1, (5, 30))]
    for i in range(900):
        kind, p_back, n_before, (low, high) = kinds[i % 3]
        customer = f"c{i:04d}"
        # the last purchase before d: recent for the loyal, older for the others
        recent = min({"loyal": 20, "occasional": 120, "once": 300}[kind], days_before - 1)
        days = sorted({rng.randint(max(0, days_before - recent - 200), days_before - recent)
                       for _ in range(n_before - 1)} | {days_before - recent})
        for day in days[-n_before:]:
            when = start + dt.timedelta(days=day)
            lines.append(f"{customer},{when},{rng.randint(low, high)}.{rng.randint(0, 99):02d}")
        if rng.random() < p_back:
            when = d + dt.timedelta(days=rng.randint(1, horizon))
            lines.append(f"{customer},{when},{rng.randint(low, high)}.50")
    for i in range(new_customers):  # first bought in the horizon
        lines.append(f"n{i:04d},{d + dt.timedelta(days=1 + i % horizon)},20.00")
    path = folder / "generated.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, as_of


def _generated_config(folder, path, horizon, extra=""):
    return write_config(folder, f"""
        warehouse = "wh.duckdb"
        reports_dir = "reports"
        [transactions]
        path = "{path}"
        customer_id = "customer_id"
        timestamp = "ordered_at"
        amount = "amount"
        [model]
        map = false
        k = 3
        [mlflow]
        enabled = false
        [backtest]
        horizon_days = {horizon}
        {extra}
    """)


def test_backtest_recovers_behaviour_known_by_construction(tmp_path):
    path, as_of = _generated(tmp_path, days_before=400, horizon=60)
    segkit.build(_generated_config(tmp_path, path, 60), as_of=str(as_of))
    rows = query(tmp_path / "wh.duckdb",
                 "select segment_rank, n_customers, repurchase_share, repurchase_share_low, "
                 "repurchase_share_high, lift, lift_low, auc from segments.backtest "
                 "order by segment_rank")
    # k-means finds the three kinds (a customer or two may land beside their kind)
    assert [r[0] for r in rows] == [1, 2, 3] and all(abs(r[1] - 300) <= 10 for r in rows)
    top, middle, bottom = rows
    # each kind's return rate lies within its segment's interval
    for (_, _, share, low, high, *_), rate in zip(rows, (0.90, 0.40, 0.03)):
        assert low <= rate <= high and abs(share - rate) < 0.1
    assert top[5] >= 5 and top[6] > 3  # the lift and its interval's lower end
    assert top[7] > 0.8


def test_backtest_skipped_with_too_little_history(tmp_path):
    path, as_of = _generated(tmp_path, days_before=60, horizon=90)  # 150 days in all
    result = segkit.build(_generated_config(tmp_path, path, 90), as_of=str(as_of))
    wh = tmp_path / "wh.duckdb"
    status, reason = query(wh, "select status, reason from segments.backtest_run_history")[0]
    assert status == "skipped"
    assert "days of history before the as-of date 2024-12-31" in reason
    assert "needs at least 180 (twice the horizon)" in reason
    assert query(wh, "select count(*) from segments.backtest")[0][0] == 0
    html = result.report_path.read_text(encoding="utf-8")
    assert "The backtest did not run (skipped): the data holds" in html
    assert any(w.startswith("backtest skipped: the data holds") for w in result.warnings)
    assert "backtest skipped" in query(wh, "select warnings from meta.runs")[0][0]
    # the build itself and its KPIs are there
    assert query(wh, "select count(*) from segments.segment_kpis")[0][0] == 3


def test_backtest_skipped_with_too_few_customers_at_the_backtest_date(tmp_path):
    path, as_of = _generated(tmp_path, days_before=400, horizon=60, new_customers=150)
    cfg = _generated_config(tmp_path, path, 60)
    cfg.write_text(cfg.read_text().replace("k = 3", "k = 3\nmin_customers = 1000"))
    # 1,050 customers at the as-of date, 900 at the backtest date
    segkit.build(cfg, as_of=str(as_of))
    status, reason = query(tmp_path / "wh.duckdb",
                           "select status, reason from segments.backtest_run_history")[0]
    assert status == "skipped"
    assert reason.startswith("900 customers had bought by the backtest date 2024-11-01")
    assert "min_customers = 1,000" in reason


def test_customers_new_in_the_horizon_are_reported_on_their_own(tmp_path):
    path, as_of = _generated(tmp_path, days_before=400, horizon=60, new_customers=150)
    segkit.build(_generated_config(tmp_path, path, 60), as_of=str(as_of))
    wh = tmp_path / "wh.duckdb"
    new, new_revenue, n = query(wh, "select new_customers, new_customer_revenue, n_customers "
                                    "from segments.backtest_run_history")[0]
    assert (new, n) == (150, 900)
    assert new_revenue == Decimal(150 * 20)  # each spent 20.00 in the horizon
    # the segments' revenue shares are of the customers segmented at d only
    shares = [r[0] for r in query(wh, "select revenue_share from segments.backtest")]
    assert abs(sum(shares) - 1) < 1e-9


def test_backtest_off_with_zero_days(tmp_path):
    path, as_of = _generated(tmp_path, days_before=400, horizon=60)
    segkit.build(_generated_config(tmp_path, path, 60), as_of=str(as_of), backtest_days=0)
    assert query(tmp_path / "wh.duckdb", "select status, horizon_days from "
                                         "segments.backtest_run_history") == [("off", 0)]


def test_customers_only_build_has_null_money_and_skips_the_backtest(tmp_path):
    rng = random.Random(3)
    lines = ["customer_id,age,income"]
    lines += [f"u{i:04d},{rng.randint(18, 80)},{rng.randint(10, 200) * 1000}" for i in range(400)]
    (tmp_path / "customers.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = write_config(tmp_path, f"""
        warehouse = "wh.duckdb"
        reports_dir = "reports"
        [customers]
        path = "{tmp_path / 'customers.csv'}"
        customer_id = "customer_id"
        numeric = ["age", "income"]
        [model]
        map = false
        [mlflow]
        enabled = false
    """)
    segkit.build(config)
    wh = tmp_path / "wh.duckdb"
    rows = query(wh, "select has_transactions, n_customers, customer_share, revenue, "
                     "revenue_share, average_order_value, n_orders from segments.segment_kpis")
    assert rows and sum(r[1] for r in rows) == 400
    assert all(r[0] is False and r[3] is None and r[4] is None and r[5] is None
               and r[6] is None for r in rows)
    status, reason = query(wh, "select status, reason from segments.backtest_run_history")[0]
    assert status == "skipped" and "customers-only" in reason
