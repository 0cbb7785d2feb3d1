"""The SQL pipeline on real data: row accounting, RFM values, imputation, capping, one-hot."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from segkit import features, warehouse
from segkit.config import DEMO_DATA, load_config
from segkit.synthetic import generate
from tests.conftest import write_config
from tests.money_reference import (RETAIL, RETAIL_EUR, demo_money, eur_parquet, expected_money,
                                   half_up, spend_per_day)


def run_sql_stage(tmp_path: Path, config_text: str):
    cfg = load_config(write_config(tmp_path, config_text))
    con = warehouse.connect_work(cfg.duckdb, tmp_path / "tmp")
    try:
        return features.build_features(con, cfg), con
    except Exception:
        con.close()
        raise


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cdnow_sql")
    result, con = run_sql_stage(folder, f"""
        [transactions]
        path = "{DEMO_DATA}"
        customer_id = "customer_id"
        timestamp = "purchase_date"
        amount = "dollar_value"
    """)
    yield result, con
    con.close()


def test_cdnow_row_accounting_adds_up(cdnow):
    result, _ = cdnow
    assert result.rows_in == 69_659
    assert result.rows_used + result.rows_quarantined == result.rows_in
    reasons = dict(result.accounting.filter(pl.col("reason").is_not_null())
                   .select("reason", "n_rows").iter_rows())
    assert reasons == {"amount zero or negative": 80}


def test_cdnow_zero_dollar_rows_are_quarantined_with_their_content(cdnow):
    _, con = cdnow
    rows = con.execute("select reason, amount_text from cleaning.quarantine").fetchall()
    assert len(rows) == 80
    assert {r[0] for r in rows} == {"amount zero or negative"}
    assert {float(r[1]) for r in rows} == {0.0}


def test_cdnow_rfm_matches_an_independent_computation(cdnow):
    result, con = cdnow
    # Recompute from the CSV with the standard library: days, spend per day.
    days = spend_per_day(DEMO_DATA, lambda row: Decimal(row["dollar_value"]),
                         customer="customer_id", day="purchase_date", by_order=False)
    as_of = dt.date.fromisoformat(max(d for per_day in days.values() for d in per_day))
    assert result.as_of == as_of == dt.date(1998, 6, 30)
    frame = result.frame
    assert frame.height == len(days)
    assert frame["customer_id"].to_list() == sorted(days)  # ordered by customer id
    by_id = {r["customer_id"]: r for r in frame.iter_rows(named=True)}
    for customer in ("00001", "00002", "00003", "00100", "12345", "23570"):
        per_day = days[customer]
        row = by_id[customer]
        assert row["recency_days"] == (as_of - dt.date.fromisoformat(max(per_day))).days
        assert row["tenure_days"] == (as_of - dt.date.fromisoformat(min(per_day))).days
        assert row["frequency"] == min(len(per_day), row["frequency"])  # capped at p99 at most
        if len(per_day) <= 19:  # below the frequency cap of this data
            assert row["frequency"] == len(per_day)
    # Every customer's money, exactly: the total of the used lines, and the average
    # per purchase day half-up to cents (the demo has 23,502 customers, many at a
    # half cent: 653.01 over 2 days is 326.51, 74.39 over 2 is 37.20)
    expected = demo_money()
    got = {c: (t, m) for c, t, m in con.execute(
        "select customer_id, total_spend, monetary from features.customer_rfm").fetchall()}
    assert got == expected
    assert (got["00020"], got["00170"]) == ((Decimal("653.0100"), Decimal("326.51")),
                                            (Decimal("74.3900"), Decimal("37.20")))
    # the feature clustered is that decimal as a DOUBLE (before capping)
    raw = dict(con.execute("select customer_id, monetary from features.customer_features_raw"
                           ).fetchall())
    assert raw == {c: float(m) for c, (_, m) in expected.items()}


def test_cdnow_caps_are_recorded(cdnow):
    result, _ = cdnow
    quality = {r["column_name"]: r for r in result.column_quality.iter_rows(named=True)}
    assert quality["monetary"]["n_above_high"] > 0
    # Recency and tenure are bounded by the data's window: never capped.
    assert quality["recency_days"]["cap_high"] is None
    frame = result.frame
    assert frame["monetary"].max() == pytest.approx(quality["monetary"]["cap_high"])


def _retail_config(path: Path) -> str:
    return f"""
        [transactions]
        path = "{path}"
        customer_id = "CustomerID"
        timestamp = "InvoiceDate"
        quantity = "Quantity"
        unit_price = "UnitPrice"
        order_id = "InvoiceNo"
        categorical = ["Country"]
    """


def test_online_retail_sample_accounting(tmp_path):
    result, con = run_sql_stage(tmp_path, _retail_config(RETAIL))
    with con:
        reasons = dict(result.accounting.select("reason", "n_rows").iter_rows())
        # The lines hold one zero-priced line and 14 exact repeats of a line.
        assert reasons == {None: 356, "amount zero or negative": 1,
                           "exact duplicate of an earlier row": 14}
        assert result.rows_in == 371
        # CustomerID arrives as "17809.0": it means customer 17809.
        assert "17809" in result.frame["customer_id"].to_list()
        assert "is_country_united_kingdom" in result.frame.columns
        assert result.frame.select(pl.col("^is_country_.*$")).sum_horizontal().eq(1).all()


def test_online_retail_missing_ids_and_cancellations_are_quarantined(tmp_path):
    # The lines themselves have neither, so dirty a copy the way the full data set is dirty.
    with open(RETAIL, newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    for row in rows[:40]:
        row[6] = ""  # CustomerID missing
    for row in rows[40:70]:
        row[0] = "C" + row[0]  # a cancellation invoice
        row[3] = "-" + row[3]
    dirty = tmp_path / "retail.csv"
    with open(dirty, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *rows])
    result, con = run_sql_stage(tmp_path, _retail_config(dirty))
    with con:
        reasons = dict(result.accounting.select("reason", "n_rows").iter_rows())
        assert reasons["missing customer id"] == 40
        assert reasons["cancellation or return"] == 30
        assert sum(reasons.values()) == 371
        quarantined = con.execute("select count(*) from cleaning.quarantine where reason = "
                                  "'cancellation or return' and order_id like 'C%'").fetchall()
        assert quarantined == [(30,)]


def _eur_config(mapping: str, extra: str = "", features_extra: str = "",
                path: Path = RETAIL_EUR) -> str:
    return f"""
        [transactions]
        path = "{path}"
        customer_id = "CustomerID"
        timestamp = "InvoiceDate"
        order_id = "InvoiceNo"
        {mapping}
        {extra}
        [features]
        {features_extra}
    """


def _money(con) -> dict[str, tuple[Decimal, Decimal]]:
    return {c: (t, m) for c, t, m in con.execute(
        "select customer_id, total_spend, monetary from features.customer_rfm").fetchall()}


@pytest.mark.parametrize("mapping, money_decimals", [
    ('amount = "AmountEUR"', 2),
    ('quantity = "Quantity"\n        unit_price = "UnitPriceEUR"', 2),
    ('amount = "AmountEUR"', 3),
])
def test_four_decimal_amounts_are_summed_exactly_and_averaged_half_up_once(
        tmp_path, mapping, money_decimals):
    """The acceptance of exact money: on an export with 4-decimal amounts, every
    customer's total is the exact sum of their used lines and monetary is
    ROUND_HALF_UP(total / purchase days, money_decimals)."""
    result, con = run_sql_stage(tmp_path, _eur_config(
        mapping, features_extra=f"money_decimals = {money_decimals}"))
    with con:
        expected = expected_money(
            spend_per_day(RETAIL_EUR, lambda row: Decimal(row["AmountEUR"])), money_decimals)
        got = _money(con)
        assert got == expected
        assert len(got) == 37  # 25 real customers and 12 hand-made ties
        ties = {c: m for c, (_, m) in got.items() if c.startswith("990")}
        if money_decimals == 2:
            assert ties == {c: Decimal(m) for c, m in [
                ("99001", "326.51"), ("99002", "37.20"), ("99003", "12.35"), ("99004", "1.24"),
                ("99005", "10.01"), ("99006", "10.00"), ("99007", "0.13"), ("99008", "2.68"),
                ("99009", "0.51"), ("99010", "1234567.90"), ("99011", "0.14"),
                ("99012", "0.01")]}
        # nothing was rounded: the amounts have 4 decimals, as kept
        used = result.accounting.filter(pl.col("reason").is_null()).row(0, named=True)
        assert (used["n_amounts_rounded"], used["n_amounts_float_noise"]) == (0, 0)
        assert not [w for w in result.warnings if "rounded" in w]


@pytest.mark.parametrize("mapping, decimals", [
    ('amount = "AmountEUR"', 4),
    ('quantity = "Quantity"\n        unit_price = "UnitPriceEUR"', 4),
    ('amount = "AmountEUR"', 2),
])
def test_amounts_in_a_double_column_are_the_decimals_they_print_as(tmp_path, mapping, decimals):
    """Parquet doubles: 17.8812 is the double 17.881199999999999..., read as 17.8812;
    at 2 decimals, 17.88 (half-up of the value as printed, not of its binary)."""
    path = eur_parquet(tmp_path)
    result, con = run_sql_stage(tmp_path, _eur_config(
        mapping, extra=f"amount_decimals = {decimals}", path=path))
    with con:
        kinds = con.execute("select typeof(amount_source), typeof(unit_price_source) "
                            "from staging.transactions limit 1").fetchall()
        assert "DOUBLE" in kinds[0]
        days = spend_per_day(RETAIL_EUR, lambda row: Decimal(row["AmountEUR"]),
                             decimals=decimals)
        assert _money(con) == expected_money(days)
        used = result.accounting.filter(pl.col("reason").is_null()).row(0, named=True)
        assert (used["n_amounts_rounded"] > 0) == (decimals == 2)


def test_amounts_with_more_decimals_than_kept_are_rounded_half_up_counted_and_warned(tmp_path):
    result, con = run_sql_stage(tmp_path, _eur_config('amount = "AmountEUR"',
                                                      extra="amount_decimals = 2"))
    with con:
        days = spend_per_day(RETAIL_EUR, lambda row: Decimal(row["AmountEUR"]), decimals=2)
        assert _money(con) == expected_money(days)
        # the used lines whose amount had a nonzero third or fourth decimal
        rounded, seen = 0, set()
        with open(RETAIL_EUR, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                key = tuple(row.values())
                amount = Decimal(row["AmountEUR"])
                if key not in seen and half_up(amount, 2) > 0 and half_up(amount, 2) != amount:
                    rounded += 1
                seen.add(key)
        used = result.accounting.filter(pl.col("reason").is_null()).row(0, named=True)
        assert used["n_amounts_rounded"] == rounded > 300
        assert used["n_amounts_float_noise"] == 0
        # quarantined rows are not counted
        assert result.accounting.filter(pl.col("reason").is_not_null())[
            "n_amounts_rounded"].null_count() == result.accounting.height - 1
        (warning,) = [w for w in result.warnings if "decimals" in w]
        assert warning == (
            f"{rounded:,} of {used['n_rows']:,} transactions rows used had an amount with more "
            "than 2 decimals, rounded half-up to 2, e.g. '0.1428'; set [transactions] "
            "amount_decimals to keep more (see meta.row_accounting, n_amounts_rounded).")


def test_float_noise_in_amounts_is_read_as_the_decimal_and_is_not_news(tmp_path):
    # A float column written out: 6 x 2.55 is "15.299999999999999", 15.3
    result, con = run_sql_stage(tmp_path, _retail_config(RETAIL).replace(
        'quantity = "Quantity"\n        unit_price = "UnitPrice"', 'amount = "Revenue"'))
    with con:
        days = spend_per_day(RETAIL, lambda row: Decimal(row["Revenue"]))
        assert _money(con) == expected_money(days)
        assert con.execute("select amount from staging.transactions where amount_source = "
                           "'15.299999999999999' limit 1").fetchall() == [(Decimal("15.3000"),)]
        used = result.accounting.filter(pl.col("reason").is_null()).row(0, named=True)
        assert (used["n_amounts_rounded"], used["n_amounts_float_noise"]) == (0, 86)
        assert not [w for w in result.warnings if "decimals" in w]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generated")
    info = generate(folder, transactions=60_000, seed=7, format="csv")
    result, con = run_sql_stage(folder, (folder / "segkit.toml").read_text())
    yield result, con, info
    con.close()


def test_generated_demographics_are_imputed_capped_and_encoded(generated):
    result, con, _ = generated
    quality = {r["column_name"]: r for r in result.column_quality.iter_rows(named=True)}
    frame = result.frame
    # Missing incomes are imputed with the median; the count is recorded.
    assert quality["income"]["n_imputed"] > 0
    assert frame["income"].null_count() == 0
    # A 666666 income is capped at the 99th percentile.
    assert quality["income"]["n_above_high"] > 0
    assert frame["income"].max() == pytest.approx(quality["income"]["cap_high"])
    # Birth years such as 1893 or 2030 give impossible ages: missing, then imputed.
    assert quality["age"]["n_imputed"] > 0
    assert frame["age"].is_between(16, 100).all()
    # Rare marital statuses ("YOLO", "Absurd") fold into "other"; missing gender is "unknown".
    assert quality["marital_status"]["n_folded"] > 0
    assert "is_marital_status_yolo" not in frame.columns
    assert frame["is_marital_status_other"].sum() == quality["marital_status"]["n_folded"]
    assert frame["is_gender_unknown"].sum() == quality["gender"]["n_imputed"] > 0
    onehot = frame.select(pl.col("^is_marital_status_.*$")).sum_horizontal()
    assert onehot.eq(1).all()


def test_generated_accounting_adds_up_per_source(generated):
    result, con, info = generated
    per_source = dict(result.accounting.group_by("source").agg(pl.col("n_rows").sum()).iter_rows())
    assert per_source["transactions"] == info["rows"]["transactions"]
    assert per_source["customers"] == info["rows"]["customers"]
    reasons = set(result.accounting["reason"].drop_nulls())
    assert {"missing customer id", "cancellation or return",
            "exact duplicate of an earlier row"} <= reasons


def test_accounting_and_rfm_match_the_line_by_line_definition(tmp_path):
    """Counted from the groups and the quarantine, the build's figures equal the
    line-grain views': every line once in cleaning.transactions_checked, the RFM of
    the usable lines of cleaning.transactions (repeats once, no line after the as-of
    date), with a categorical and orders counted."""
    folder = tmp_path / "data"
    generate(folder, transactions=30_000, seed=3, format="csv")
    text = (folder / "segkit.toml").read_text().replace(
        'order_id = "InvoiceNo"', 'order_id = "InvoiceNo"\ncategorical = ["Country"]')
    cfg = load_config(write_config(folder, text + '\n[features]\nfrequency = "orders"\n'))
    cfg = dataclasses.replace(cfg, as_of="2024-09-30")  # what --as-of sets
    con = warehouse.connect_work(cfg.duckdb, tmp_path / "tmp")
    result = features.build_features(con, cfg)
    with con:
        lines = con.execute("select quarantine_reason, count(*) from cleaning.transactions_checked "
                            "group by all").fetchall()
        got = result.accounting.filter(pl.col("source") == "transactions")
        assert sorted(got.select("reason", "n_rows").rows(), key=str) == sorted(lines, key=str)
        reasons = dict(lines)
        assert reasons["exact duplicate of an earlier row"] > 0
        assert reasons["timestamp after the as-of date"] > 0
        independent = con.execute("""
            select customer_id, count(distinct order_id), sum(amount), min(ordered_at)::date,
                   max(ordered_at)::date
            from cleaning.transactions group by all order by all""").fetchall()
        rfm = con.execute("""
            select customer_id, frequency, total_spend, first_purchase_date, last_purchase_date
            from features.customer_rfm order by all""").fetchall()
        assert rfm == independent
        counts = con.execute('select customer_id, "country", count(*) from cleaning.transactions '
                             'where "country" is not null group by all').fetchall()
        best = {}
        for customer, country, n in counts:  # most lines; ties to the first in sort order
            if customer not in best or (-n, country) < (-best[customer][1], best[customer][0]):
                best[customer] = (country, n)
        mode = sorted((c, v[0]) for c, v in best.items())
        assert con.execute('select customer_id, "country" from features.customer_rfm '
                           'where "country" is not null order by all').fetchall() == mode


@pytest.mark.parametrize("memory_limit", ["1GB", "100MB", None])
def test_the_results_are_fetched_whole_and_the_memory_limit_restored(tmp_path, memory_limit):
    from segkit.config.sections import DuckDBConfig
    from segkit.features.run import _fetch_results

    duckdb_config = DuckDBConfig(memory_limit=memory_limit)
    con = warehouse.connect_work(duckdb_config, tmp_path / "tmp")
    try:
        expected = con.sql("select current_setting('memory_limit')").fetchall()
        con.execute("create table features.customer_features as select 'c' || i as customer_id,"
                    " i * 0.5 as monetary from range(500000) as t(i) order by i")
        con.execute("create view cleaning.quarantine as select 'transactions' as source, "
                    "'missing customer id' as reason from range(3)")
        cfg = dataclasses.replace(load_config(None), duckdb=duckdb_config)
        frame, quarantine = _fetch_results(con, cfg)
        # the rows in their order, and the configured limit for what follows
        assert frame.equals(con.sql("select * from features.customer_features").pl())
        assert frame["customer_id"][-1] == "c499999"
        assert quarantine.num_rows == 3
        assert con.sql("select current_setting('memory_limit')").fetchall() == expected
    finally:
        con.close()
