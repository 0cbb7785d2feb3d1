"""Tests for segkit.synthetic (synthetic data generator)."""

from __future__ import annotations

import filecmp
import tomllib
from pathlib import Path

import duckdb
import pytest

import segkit.synthetic as gen
from segkit.synthetic import generate

N = 20_000
SEED = 11


@pytest.fixture(scope="module")
def parquet_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pq")
    return out, generate(out, transactions=N, seed=SEED)


@pytest.fixture(scope="module")
def con(parquet_run):
    out, info = parquet_run
    c = duckdb.connect()
    c.execute(f"create view t as select * from read_parquet('{info['paths']['transactions']}')")
    c.execute(f"create view c as select * from read_parquet('{info['paths']['customers']}')")
    yield c
    c.close()


def one(con, sql):
    return con.execute(sql).fetchone()[0]


def test_return_value_and_layout(parquet_run):
    out, info = parquet_run
    assert sorted(p.name for p in Path(out).iterdir()) == [
        "customers.parquet",
        "segkit.toml",
        "transactions.parquet",
    ]
    assert info["rows"] == {"transactions": N, "customers": N // 10}
    assert info["transactions"] == N and info["customers"] == N // 10
    assert info["chunks"] == 1 and info["format"] == "parquet"
    assert info["paths"]["transactions"] == str(out / "transactions.parquet")
    assert info["paths"]["customers"] == str(out / "customers.parquet")
    assert set(info["files"]) == {str(p) for p in Path(out).iterdir()}
    assert isinstance(info["seconds"], float) and info["seconds"] >= 0
    assert N / 6 < info["invoices"] < N / 2  # several lines per invoice


def test_schema(con):
    t = dict(con.execute("select column_name, column_type from (describe t)").fetchall())
    assert t == {
        "InvoiceNo": "VARCHAR",
        "CustomerID": "VARCHAR",
        "InvoiceDate": "TIMESTAMP",
        "Quantity": "BIGINT",
        "UnitPrice": "DOUBLE",
        "Country": "VARCHAR",
    }
    c = dict(con.execute("select column_name, column_type from (describe c)").fetchall())
    assert c == {
        "CustomerID": "VARCHAR",
        "Year_Birth": "BIGINT",
        "Income": "DOUBLE",
        "Gender": "VARCHAR",
        "Education": "VARCHAR",
        "Marital_Status": "VARCHAR",
    }


def test_row_counts_and_ids(con):
    assert one(con, "select count(*) from t") == N
    assert one(con, "select count(*) from c") == N // 10
    assert one(con, "select count(distinct CustomerID) from c") == N // 10
    assert one(con, "select count(*) from c where not regexp_full_match(CustomerID, 'C[0-9]{7}')") == 0
    # transaction customers are customers of the customer table
    assert one(con, "select count(*) from t anti join c using (CustomerID) where t.CustomerID is not null") == 0
    # nearly every customer bought something
    assert one(con, "select count(distinct CustomerID) from t") > 0.97 * N / 10


def test_dates_and_order(con):
    lo, hi = con.execute("select min(InvoiceDate), max(InvoiceDate) from t").fetchone()
    assert str(lo) >= "2024-01-01" and str(hi) < "2026-01-01"
    assert (hi - lo).days > 700  # spans ~2 years
    # one timestamp, customer and country per invoice
    assert one(con, """select count(*) from (select InvoiceNo from t group by 1
        having count(distinct InvoiceDate) > 1 or count(distinct coalesce(CustomerID, '-')) > 1
            or count(distinct Country) > 1)""") == 0


def test_dirt_returns_and_cancellations(con):
    neg = one(con, "select avg((Quantity < 0)::int) from t")
    assert 0.01 < neg < 0.04
    # cancellations start with "C" and carry negative quantities
    assert one(con, "select count(*) from t where InvoiceNo like 'C%' and Quantity >= 0") == 0
    assert one(con, "select count(*) from t where Quantity < 0 and InvoiceNo not like 'C%'") == 0
    assert one(con, "select count(*) from t where not regexp_full_match(InvoiceNo, 'C?[0-9]+')") == 0


def test_dirt_missing_duplicates_prices_outliers(con):
    assert 0.01 < one(con, "select avg((CustomerID is null)::int) from t") < 0.04
    dups = N - one(con, "select count(*) from (select distinct * from t)")
    assert 0.002 * N < dups < 0.01 * N
    assert one(con, "select count(*) from t where UnitPrice = 0") >= 1
    assert one(con, "select count(*) from t where UnitPrice < 0") >= 1
    assert one(con, "select count(*) from t where UnitPrice <= 0") < 0.005 * N
    assert one(con, "select count(*) from t where abs(Quantity) > 1000") >= 1
    assert one(con, "select count(*) from t where abs(Quantity) > 1000") < 0.001 * N


def test_customer_dirt(con):
    assert 0.03 < one(con, "select avg((Income is null)::int) from c") < 0.07
    assert one(con, "select count(*) from c where Income > 500000") >= 1
    assert one(con, "select count(*) from c where Year_Birth < 1920") >= 1
    assert one(con, "select count(*) from c where Year_Birth > 2010") >= 1
    assert one(con, "select count(*) from c where Gender is null") >= 1
    levels = {r[0] for r in con.execute("select distinct Marital_Status from c").fetchall()}
    assert {"YOLO", "Absurd", "Alone", "Married", "Single"} <= levels
    edu = dict(con.execute("select Education, count(*) / (select count(*) from c) from c group by 1").fetchall())
    assert len(edu) >= 5 and min(edu.values()) < 0.03  # some rare levels


def test_realistic_behaviour(con):
    # skewed countries: one dominant, many rare
    shares = [r[0] for r in con.execute(
        "select count(*) / sum(count(*)) over () from t group by Country order by 1 desc").fetchall()]
    assert shares[0] > 0.5 and len(shares) >= 20 and sum(s < 0.01 for s in shares) >= 10
    # heavy-tailed purchase counts with many one-time buyers
    one_time, med, mx = con.execute("""select avg((f = 1)::int), median(f), max(f) from
        (select CustomerID, count(distinct InvoiceNo) f from t where CustomerID is not null group by 1)""").fetchone()
    assert 0.25 < one_time < 0.6 and mx >= 10 * med
    # churned customers (nothing for the last 6 months) and new ones (first purchase in last 3 months)
    churned, new = con.execute("""select avg((last < timestamp '2025-07-01')::int), avg((first >= timestamp '2025-10-01')::int)
        from (select min(InvoiceDate) first, max(InvoiceDate) last from t where CustomerID is not null group by CustomerID)""").fetchone()
    assert churned > 0.1 and new > 0.05
    # invoices have several lines; line amounts are roughly log-normal (right skewed)
    assert one(con, "select count(*) / count(distinct InvoiceNo) from t") > 2
    mean, median = con.execute("select avg(Quantity * UnitPrice), median(Quantity * UnitPrice) from t where Quantity > 0 and Quantity < 1000 and UnitPrice > 0").fetchone()
    assert mean > 1.3 * median > 0


def test_deterministic_byte_identical(parquet_run, tmp_path):
    out, _ = parquet_run
    generate(tmp_path, transactions=N, seed=SEED)
    for name in ("transactions.parquet", "customers.parquet", "segkit.toml"):
        assert filecmp.cmp(out / name, tmp_path / name, shallow=False), name


def test_seed_changes_data(parquet_run, tmp_path):
    out, _ = parquet_run
    generate(tmp_path, transactions=N, seed=SEED + 1)
    assert not filecmp.cmp(out / "transactions.parquet", tmp_path / "transactions.parquet", shallow=False)


def test_toml_config(parquet_run):
    out, _ = parquet_run
    text = (out / "segkit.toml").read_text()
    cfg = tomllib.loads(text)
    assert cfg == {
        "warehouse": "warehouse/segkit.duckdb",
        "reports_dir": "reports",
        "transactions": {
            "path": "transactions.parquet",
            "customer_id": "CustomerID",
            "timestamp": "InvoiceDate",
            "quantity": "Quantity",
            "unit_price": "UnitPrice",
            "order_id": "InvoiceNo",
        },
        "customers": {
            "path": "customers.parquet",
            "customer_id": "CustomerID",
            "birth_year": "Year_Birth",
            "numeric": ["Income"],
            "categorical": ["Gender", "Education", "Marital_Status"],
        },
    }


def test_toml_loads_with_segkit_config(parquet_run):
    config = pytest.importorskip("segkit.config")
    if not hasattr(config, "load_config"):
        pytest.skip("segkit.config.load_config not available")
    out, _ = parquet_run
    cfg = config.load_config(out / "segkit.toml")
    assert cfg is not None


def test_csv_matches_parquet(parquet_run, tmp_path):
    out, _ = parquet_run
    info = generate(tmp_path, transactions=N, seed=SEED, format="csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers.csv", "segkit.toml", "transactions.csv"]
    assert tomllib.loads((tmp_path / "segkit.toml").read_text())["transactions"]["path"] == "transactions.csv"
    c = duckdb.connect()
    for table in ("transactions", "customers"):
        csv = f"read_csv('{tmp_path / (table + '.csv')}')"
        pq = f"read_parquet('{out / (table + '.parquet')}')"
        assert c.execute(f"select count(*) from {csv}").fetchone()[0] == info["rows"][table]
        # same seed -> same data, whatever the format
        assert c.execute(f"select count(*) from ((from {csv} except all from {pq}) union all (from {pq} except all from {csv}))").fetchone()[0] == 0
    types = dict(c.execute(f"select column_name, column_type from (describe from read_csv('{tmp_path / 'transactions.csv'}'))").fetchall())
    assert types["InvoiceDate"] == "TIMESTAMP" and types["InvoiceNo"] == "VARCHAR"
    # csv output is deterministic too
    again = tmp_path / "again"
    generate(again, transactions=N, seed=SEED, format="csv")
    assert filecmp.cmp(tmp_path / "transactions.csv", again / "transactions.csv", shallow=False)
    assert filecmp.cmp(tmp_path / "customers.csv", again / "customers.csv", shallow=False)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_multi_part_layout_and_progress(tmp_path, monkeypatch, fmt):
    monkeypatch.setattr(gen.files, "_CHUNK_ROWS", 4_000)
    calls = []
    info = generate(tmp_path, transactions=10_000, seed=3, format=fmt,
                    progress=lambda done, total: calls.append((done, total)))
    assert calls == [(4_000, 10_000), (8_000, 10_000), (10_000, 10_000)]
    assert info["chunks"] == 3
    parts = sorted(p.name for p in (tmp_path / "transactions").iterdir())
    assert parts == [f"part-{i:05d}.{fmt}" for i in range(3)]
    assert info["paths"]["transactions"] == str(tmp_path / "transactions" / f"part-*.{fmt}")
    assert tomllib.loads((tmp_path / "segkit.toml").read_text())["transactions"]["path"] == f"transactions/part-*.{fmt}"
    reader = "read_parquet" if fmt == "parquet" else "read_csv"
    c = duckdb.connect()
    assert c.execute(f"select count(*) from {reader}('{info['paths']['transactions']}')").fetchone()[0] == 10_000
    # rerunning smaller in the same directory removes the stale part files
    info2 = generate(tmp_path, transactions=3_000, seed=3, format=fmt)
    assert not (tmp_path / "transactions").exists()
    assert info2["paths"]["transactions"] == str(tmp_path / f"transactions.{fmt}")


def test_tiny_sizes(tmp_path):
    for n in (1, 2, 7, 50):
        info = generate(tmp_path / str(n), transactions=n, seed=0)
        c = duckdb.connect()
        assert c.execute(f"select count(*) from read_parquet('{info['paths']['transactions']}')").fetchone()[0] == n
        assert c.execute(f"select count(*) from read_parquet('{info['paths']['customers']}')").fetchone()[0] == info["customers"] >= 1


def test_creates_nested_out_dir(tmp_path):
    info = generate(tmp_path / "a" / "b", transactions=100)
    assert Path(info["paths"]["transactions"]).is_file()


@pytest.mark.parametrize(
    "kwargs",
    [{"transactions": 0}, {"transactions": -5}, {"transactions": 1.5}, {"seed": -1}, {"format": "xlsx"}],
)
def test_invalid_arguments(tmp_path, kwargs):
    from segkit.errors import ConfigError

    with pytest.raises(ValueError) as exc:
        generate(tmp_path, **kwargs)
    assert isinstance(exc.value, ConfigError)  # the CLI reports it without a traceback


def test_wide_customers_are_seeded_distinct_and_segmentable(tmp_path):
    """The bench's wide regime: byte-identical per seed, nearly every row its own vector."""
    import polars as pl

    from segkit.config import load_config
    from segkit.synthetic import generate_wide_customers

    a = generate_wide_customers(tmp_path / "a", customers=500, seed=4)
    b = generate_wide_customers(tmp_path / "b", customers=500, seed=4)
    c = generate_wide_customers(tmp_path / "c", customers=500, seed=5)
    assert filecmp.cmp(a["paths"]["customers"], b["paths"]["customers"], shallow=False)
    assert not filecmp.cmp(a["paths"]["customers"], c["paths"]["customers"], shallow=False)
    frame = pl.read_parquet(a["paths"]["customers"])
    assert frame.height == 500 and frame["CustomerID"].n_unique() == 500
    numeric = [col for col in frame.columns if col != "CustomerID"]
    assert len(numeric) == 13 and frame.select(numeric).unique().height == 500
    cfg = load_config(a["paths"]["config"])
    assert cfg.transactions is None and len(cfg.customers.numeric) == 12
    with pytest.raises(gen.GenerateArgumentError, match="customers"):
        generate_wide_customers(tmp_path / "d", customers=0)
