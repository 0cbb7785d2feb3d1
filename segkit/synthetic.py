"""Seeded synthetic customer / transaction data for tests and benchmarks.

The generator produces an "Online Retail"-like transaction table (UCI Online
Retail style, including its dirt) and a "marketing campaign"-like customer
table (iFood style), at any size from a few rows to 100M+ transactions, in
bounded memory.

Determinism
-----------
The output is a pure function of ``(seed, transactions, format)``: the same
arguments produce byte-identical files.  Random numbers come from
``numpy.random.default_rng(SeedSequence([seed, stream, chunk_index]))``, so
every chunk has its own reproducible stream.

Layout
------
``generate(out_dir, transactions=N, format=fmt)`` writes::

    out_dir/
        customers.<fmt>                 one row per customer
        transactions.<fmt>              when N <= 1_000_000 (one chunk), or
        transactions/part-00000.<fmt>   ... one file per 1M-row chunk otherwise
        segkit.toml                     example config mapping the files above

Paths inside ``segkit.toml`` are relative to ``out_dir``.  The returned dict
gives the transactions path *or glob* (``transactions/part-*.parquet``) under
``paths["transactions"]``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

from segkit.errors import ConfigError, GenerateArgumentError

__all__ = ["generate", "generate_wide_customers", "GenerateArgumentError"]


# Rows per generated chunk (and per part file). Part of the data definition:
# changing it changes the generated data for sizes larger than one chunk.
_CHUNK_ROWS = 1_000_000

_FORMATS = ("parquet", "csv")
_START_DAY = np.datetime64("2024-01-01", "D")
_END_DAY = np.datetime64("2025-12-31", "D")
_N_DAYS = int((_END_DAY - _START_DAY).astype(np.int64)) + 1  # 731
_START_US = int(_START_DAY.astype("datetime64[us]").astype(np.int64))
_FIRST_INVOICE_NO = 536365
_MEAN_LINES_PER_INVOICE = 3.0
_TRANSACTIONS_PER_CUSTOMER = 10

# independent random streams
_S_PLAN, _S_CUSTOMERS, _S_CHUNK = 0, 1, 2

_COUNTRY_MAJOR = [
    ("United Kingdom", 0.70),
    ("Germany", 0.065),
    ("France", 0.055),
    ("EIRE", 0.03),
    ("Spain", 0.02),
    ("Netherlands", 0.02),
    ("Belgium", 0.015),
]
_COUNTRY_RARE = [
    "Switzerland", "Portugal", "Australia", "Norway", "Italy",
    "Channel Islands", "Finland", "Cyprus", "Sweden", "Unspecified",
    "Austria", "Denmark", "Japan", "Poland", "Israel", "USA", "Hong Kong",
    "Singapore", "Iceland", "Canada", "Greece", "Malta",
    "United Arab Emirates", "European Community", "RSA", "Lebanon",
    "Lithuania", "Brazil", "Czech Republic", "Bahrain", "Saudi Arabia",
]

_EDUCATION = [  # level, probability, log-income effect
    ("Graduation", 0.500, 0.00),
    ("PhD", 0.215, 0.12),
    ("Master", 0.165, 0.06),
    ("2n Cycle", 0.090, -0.10),
    ("Basic", 0.024, -0.85),
    ("Primary", 0.006, -1.00),
]
_MARITAL = [
    ("Married", 0.386),
    ("Together", 0.259),
    ("Single", 0.214),
    ("Divorced", 0.104),
    ("Widow", 0.0337),
    ("Alone", 0.0013),
    ("Absurd", 0.0010),
    ("YOLO", 0.0010),
]
_MARITAL_JUNK = ("Alone", "Absurd", "YOLO")
_ABSURD_QUANTITIES = np.array([3114, 4800, 12540, 74215, 80995], dtype=np.int64)
_ABSURD_BIRTH_YEARS = np.array([1893, 1899, 1900, 2030], dtype=np.int64)

_TOML_TEMPLATE = """\
warehouse = "warehouse/segkit.duckdb"
reports_dir = "reports"

[transactions]
path = "{transactions}"
customer_id = "CustomerID"
timestamp = "InvoiceDate"
quantity = "Quantity"
unit_price = "UnitPrice"
order_id = "InvoiceNo"

[customers]
path = "{customers}"
customer_id = "CustomerID"
birth_year = "Year_Birth"
numeric = ["Income"]
categorical = ["Gender", "Education", "Marital_Status"]
"""


def _rng(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, stream, index]))


def _pick(rng, n, rate, minimum=0, exclude=None):
    """Indices of ~``rate * n`` distinct rows (at least ``minimum``), avoiding ``exclude``."""
    if exclude is None:
        candidates = None
        pool = n
    else:
        candidates = np.flatnonzero(~exclude)
        pool = candidates.size
    count = min(pool, max(minimum, int(rng.binomial(n, rate)) if n else 0))
    if count <= 0:
        return np.empty(0, dtype=np.int64)
    idx = np.sort(rng.choice(pool, size=count, replace=False))
    return idx if candidates is None else candidates[idx]


def _season_cdf() -> np.ndarray:
    """CDF over days of the purchase-day density (seasonality + weekday effect)."""
    days = _START_DAY + np.arange(_N_DAYS)
    month = (days.astype("datetime64[M]").astype(np.int64) % 12) + 1
    weekday = (days.astype(np.int64) + 3) % 7  # 0 = Monday
    w = np.ones(_N_DAYS)
    w[np.isin(month, (9, 10))] = 1.25
    w[month == 11] = 1.7
    w[month == 12] = 1.35
    w[weekday == 5] *= 0.25  # Saturday: shop mostly closed
    w[weekday == 6] *= 0.6
    cdf = np.zeros(_N_DAYS + 1)
    np.cumsum(w, out=cdf[1:])
    return cdf / cdf[-1]


def _id_width(n_customers: int) -> int:
    return max(7, len(str(n_customers)))


@dataclass
class _Plan:
    """Invoice-level skeleton of the whole data set (sorted by time)."""

    n_rows: int
    n_customers: int
    offsets: np.ndarray  # int64 (n_invoices + 1,), row offset of each invoice
    inv_customer: np.ndarray  # int32, customer index, -1 = missing CustomerID
    inv_cancel: np.ndarray  # bool, cancellation invoice ("C...")
    inv_minute: np.ndarray  # int64, minutes since 2024-01-01 00:00
    inv_country: np.ndarray  # int16 index into countries
    cust_latent: np.ndarray  # float64, activity latent (drives spend/income)
    cust_qty_mu: np.ndarray  # float32, log-quantity level per customer
    countries: list

    @property
    def n_invoices(self) -> int:
        return int(self.inv_customer.size)


def _plan(n_rows: int, seed: int) -> _Plan:
    rng = _rng(seed, _S_PLAN)

    # --- invoices and their line counts; total lines == n_rows exactly
    p = 1.0 / _MEAN_LINES_PER_INVOICE
    est = int(n_rows * p * 1.1) + 16
    lines = rng.geometric(p, size=est)
    while int(lines.sum()) < n_rows:  # practically never for large n
        lines = np.concatenate([lines, rng.geometric(p, size=est)])
    ends = np.cumsum(lines)
    m = int(np.searchsorted(ends, n_rows, side="left")) + 1
    lines = lines[:m].copy()
    lines[-1] -= int(ends[m - 1]) - n_rows
    del ends

    # --- invoice-level dirt: guest invoices (no CustomerID), cancellations
    guest = np.zeros(m, dtype=bool)
    guest[_pick(rng, m, 0.02, 1 if m >= 20 else 0)] = True
    if guest.all():
        guest[:] = False
    cancel = np.zeros(m, dtype=bool)
    cancel[_pick(rng, m, 0.02, 1 if m >= 20 else 0)] = True
    m_c = int(m - guest.sum())

    # --- customers: every customer has >= 1 invoice; counts are heavy tailed
    n_cust = max(1, min(round(n_rows / _TRANSACTIONS_PER_CUSTOMER), m_c))
    latent = rng.standard_normal(n_cust)
    one_timer = rng.random(n_cust) < 0.20
    weight = np.where(one_timer, 0.0, np.exp(1.1 * latent))
    if weight.sum() <= 0:
        weight[:] = 1.0
    extra = rng.multinomial(m_c - n_cust, weight / weight.sum())
    counts = extra + 1
    del extra, weight

    # --- lifecycle: first/last purchase day; churned and new customers
    # established customers (already active when the data starts) vs
    # customers acquired during the period; a share of each churns.
    established = rng.random(n_cust) < 0.40
    first = np.where(established, 0, rng.integers(0, _N_DAYS, n_cust))
    churned = rng.random(n_cust) < 0.35
    churn_last = np.where(
        established,
        rng.integers(30, 500, n_cust),
        first + rng.exponential(200.0, n_cust).astype(np.int64),
    )
    active_last = (_N_DAYS - 1) - rng.exponential(20.0, n_cust).astype(np.int64)
    last = np.clip(np.where(churned, churn_last, active_last), first, _N_DAYS - 1)
    del churn_last, active_last, churned, established

    # --- invoice -> customer, day, minute
    cdf = _season_cdf()
    inv_customer = np.full(m, -1, dtype=np.int32)
    owner = np.repeat(np.arange(n_cust, dtype=np.int32), counts)
    inv_customer[~guest] = owner
    f, l_ = first[owner], last[owner]
    lo, hi = cdf[f], cdf[l_ + 1]
    day_c = np.searchsorted(cdf, lo + rng.random(m_c) * (hi - lo), side="right") - 1
    day = np.empty(m, dtype=np.int64)
    day[~guest] = np.clip(day_c, f, l_)
    n_guest = m - m_c
    day[guest] = np.clip(
        np.searchsorted(cdf, rng.random(n_guest), side="right") - 1, 0, _N_DAYS - 1
    )
    del f, l_, lo, hi, day_c, owner
    minute = day * 1440 + 480 + rng.integers(0, 720, m)  # 08:00 - 19:59
    del day

    # --- countries: skewed; per customer, guests drawn directly
    countries = [c for c, _ in _COUNTRY_MAJOR] + list(_COUNTRY_RARE)
    major_p = np.array([w for _, w in _COUNTRY_MAJOR])
    rare_w = 1.0 / np.arange(1, len(_COUNTRY_RARE) + 1) ** 1.1
    rare_p = rare_w / rare_w.sum() * (1.0 - major_p.sum())
    cp = np.concatenate([major_p, rare_p])
    cp /= cp.sum()
    cust_country = rng.choice(len(countries), size=n_cust, p=cp).astype(np.int16)
    inv_country = np.empty(m, dtype=np.int16)
    inv_country[~guest] = cust_country[inv_customer[~guest]]
    inv_country[guest] = rng.choice(len(countries), size=n_guest, p=cp)

    qty_mu = (0.9 + 0.25 * latent + 0.45 * rng.standard_normal(n_cust)).astype(np.float32)

    # --- order invoices by time; InvoiceNo follows that order
    order = np.argsort(minute, kind="stable")
    offsets = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(lines[order], out=offsets[1:])
    return _Plan(
        n_rows=n_rows,
        n_customers=n_cust,
        offsets=offsets,
        inv_customer=inv_customer[order],
        inv_cancel=cancel[order],
        inv_minute=minute[order],
        inv_country=inv_country[order],
        cust_latent=latent,
        cust_qty_mu=qty_mu,
        countries=countries,
    )


def _transactions_chunk(plan: _Plan, seed: int, index: int, a: int, b: int) -> pl.DataFrame:
    """Rows ``[a, b)`` of the transaction table."""
    rng = _rng(seed, _S_CHUNK, index)
    n = b - a
    off = plan.offsets
    j0 = int(np.searchsorted(off, a, side="right")) - 1
    j1 = int(np.searchsorted(off, b, side="left"))
    starts = np.maximum(off[j0:j1], a)
    stops = np.minimum(off[j0 + 1 : j1 + 1], b)
    inv = np.repeat(np.arange(j0, j1, dtype=np.int64), stops - starts)

    cust = plan.inv_customer[inv]
    cancel = plan.inv_cancel[inv]
    mu = np.where(cust >= 0, plan.cust_qty_mu[cust], np.float32(0.9))
    qty = np.maximum(1, np.rint(np.exp(mu + 0.7 * rng.standard_normal(n)))).astype(np.int64)
    price = np.maximum(0.05, np.round(np.exp(0.75 + 0.9 * rng.standard_normal(n)), 2))

    # exact duplicates: row i becomes a copy of row i-1 (no two in a row)
    dup = np.zeros(n, dtype=bool)
    if n >= 2:
        dup[1 + _pick(rng, n - 1, 0.005, 1)] = True
        dup[1:] &= ~dup[:-1]
    taken = dup.copy()
    # absurd quantities
    idx = _pick(rng, n, 5e-6, 1, exclude=taken)
    qty[idx] = rng.choice(_ABSURD_QUANTITIES, size=idx.size)
    taken[idx] = True
    # zero prices
    idx = _pick(rng, n, 5e-4, 1, exclude=taken)
    price[idx] = 0.0
    taken[idx] = True
    # negative prices ("Adjust bad debt")
    idx = _pick(rng, n, 5e-6, 1, exclude=taken)
    price[idx] = -np.round(np.exp(8.0 + rng.standard_normal(idx.size)), 2)
    qty[idx] = 1
    taken[idx] = True
    qty[cancel] = -qty[cancel]  # returns

    if dup.any():
        src = np.arange(n)
        src[dup] -= 1
        inv, cust, qty, price = inv[src], cust[src], qty[src], price[src]
        cancel = cancel[src]

    width = _id_width(plan.n_customers)
    inv_no = pl.Series("_inv", inv + _FIRST_INVOICE_NO).cast(pl.String)
    df = pl.DataFrame(
        {
            "_inv": inv_no,
            "_cancel": cancel,
            "_cust": cust.astype(np.int64) + 1,
            "_t": plan.inv_minute[inv] * 60_000_000 + _START_US,
            "Quantity": qty,
            "UnitPrice": price,
            "Country": pl.Series("Country", plan.countries, dtype=pl.String).gather(
                plan.inv_country[inv].astype(np.uint32)
            ),
        }
    )
    return df.select(
        pl.when(pl.col("_cancel"))
        .then(pl.concat_str(pl.lit("C"), pl.col("_inv")))
        .otherwise(pl.col("_inv"))
        .alias("InvoiceNo"),
        pl.when(pl.col("_cust") > 0)
        .then(pl.concat_str(pl.lit("C"), pl.col("_cust").cast(pl.String).str.zfill(width)))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("CustomerID"),
        pl.col("_t").cast(pl.Datetime("us")).alias("InvoiceDate"),
        pl.col("Quantity"),
        pl.col("UnitPrice"),
        pl.col("Country"),
    )


def _customers_frame(plan: _Plan, seed: int) -> pl.DataFrame:
    rng = _rng(seed, _S_CUSTOMERS)
    n = plan.n_customers
    z = plan.cust_latent

    birth = np.clip(np.rint(rng.normal(1969.0, 12.0, n)), 1940, 2006).astype(np.int64)
    idx = _pick(rng, n, 1e-4, 2 if n >= 20 else 0)
    vals = rng.choice(_ABSURD_BIRTH_YEARS, size=idx.size)
    if idx.size >= 2:
        vals[0], vals[1] = 1893, 2030
    birth[idx] = vals

    edu_p = np.array([p for _, p, _ in _EDUCATION])
    edu = rng.choice(len(_EDUCATION), size=n, p=edu_p / edu_p.sum())
    edu_effect = np.array([e for _, _, e in _EDUCATION])[edu]
    age = 2025 - np.clip(birth, 1940, 2006)
    log_income = (
        np.log(48_000.0)
        + edu_effect
        + 0.006 * (age - 55)
        + 0.12 * z
        + 0.33 * rng.standard_normal(n)
    )
    income = np.maximum(1730.0, np.rint(np.exp(log_income)))
    income_valid = np.ones(n, dtype=bool)
    income_valid[_pick(rng, n, 0.05, 1 if n >= 20 else 0)] = False
    idx = _pick(rng, n, 1e-4, 1 if n >= 20 else 0, exclude=~income_valid)
    huge = np.rint(rng.uniform(1.5e6, 6e6, idx.size))
    if idx.size:
        huge[0] = 666666.0
    income[idx] = huge

    gender = rng.choice(2, size=n, p=[0.53, 0.47]).astype(np.int64)
    gender[_pick(rng, n, 0.03, 1 if n >= 20 else 0)] = -1

    mar_p = np.array([p for _, p in _MARITAL])
    marital = rng.choice(len(_MARITAL), size=n, p=mar_p / mar_p.sum())
    if n >= 50:  # make sure each junk level appears at least once
        names = [name for name, _ in _MARITAL]
        idx = rng.choice(n, size=len(_MARITAL_JUNK), replace=False)
        marital[idx] = [names.index(j) for j in _MARITAL_JUNK]

    width = _id_width(n)
    df = pl.DataFrame(
        {
            "_id": np.arange(1, n + 1, dtype=np.int64),
            "Year_Birth": birth,
            "Income": income,
            "_income_valid": income_valid,
            "_gender": gender,
            "Education": pl.Series([e for e, _, _ in _EDUCATION], dtype=pl.String).gather(
                edu.astype(np.uint32)
            ),
            "Marital_Status": pl.Series([s for s, _ in _MARITAL], dtype=pl.String).gather(
                marital.astype(np.uint32)
            ),
        }
    )
    return df.select(
        pl.concat_str(pl.lit("C"), pl.col("_id").cast(pl.String).str.zfill(width)).alias(
            "CustomerID"
        ),
        pl.col("Year_Birth"),
        pl.when(pl.col("_income_valid")).then(pl.col("Income")).alias("Income"),
        pl.when(pl.col("_gender") == 0)
        .then(pl.lit("F"))
        .when(pl.col("_gender") == 1)
        .then(pl.lit("M"))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("Gender"),
        pl.col("Education"),
        pl.col("Marital_Status"),
    )


def _write(df: pl.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        df.write_parquet(path, compression="zstd", statistics=True)
    else:
        df.write_csv(path, datetime_format="%Y-%m-%d %H:%M:%S")


def _remove_stale(out: Path) -> None:
    """Remove transaction files a previous run may have left (only our names)."""
    for fmt in _FORMATS:
        (out / f"transactions.{fmt}").unlink(missing_ok=True)
    parts = out / "transactions"
    if parts.is_dir():
        for fmt in _FORMATS:
            for p in parts.glob(f"part-*.{fmt}"):
                p.unlink()
        try:
            parts.rmdir()
        except OSError:
            pass  # not empty: someone else's files, leave them


def generate(
    out_dir,
    *,
    transactions: int = 100_000,
    seed: int = 0,
    format: str = "parquet",
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Generate a seeded synthetic retail data set with realistic dirt.

    Writes a transaction table (UCI "Online Retail" style), a customer table
    ("marketing campaign" style) and an example ``segkit.toml`` into
    ``out_dir``. Memory stays bounded: transactions are generated and written
    in chunks of 1,000,000 rows.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output directory; created if missing. Transaction files left there by
        a previous run (``transactions.*``, ``transactions/part-*``) are
        removed first; other files are left alone.
    transactions : int, default 100_000
        Exact number of transaction rows (lines) to write, duplicates
        included. About ``transactions / 10`` customers are generated.
    seed : int, default 0
        Non-negative seed. The same ``(seed, transactions, format)`` gives
        byte-identical files.
    format : {"parquet", "csv"}, default "parquet"
        File format of both tables. CSV files have a header, ``,`` separator,
        empty fields for nulls and timestamps as ``YYYY-MM-DD HH:MM:SS``.
    progress : callable, optional
        Called as ``progress(rows_done, rows_total)`` after each transaction
        chunk is written.

    Returns
    -------
    dict
        ``out_dir`` (str), ``format``, ``paths`` (dict with ``transactions``
        -- a file path, or a glob when several part files were written --,
        ``customers`` and ``config``), ``files`` (list of every file
        written), ``rows`` (dict with ``transactions`` and ``customers`` row
        counts), ``transactions`` (int), ``customers`` (int), ``invoices``
        (int), ``chunks`` (int) and ``seconds`` (float, wall time).

    Raises
    ------
    GenerateArgumentError
        (a ``ValueError`` and a ``segkit.errors.ConfigError``) if
        ``transactions < 1``, ``seed < 0`` or ``format`` is unknown.

    Notes
    -----
    Transactions (sorted by ``InvoiceDate``/``InvoiceNo``) have columns
    ``InvoiceNo`` (str; cancellations start with ``"C"``), ``CustomerID``
    (str like ``"C0001234"``; ~2% null), ``InvoiceDate`` (timestamp in
    2024-01-01 .. 2025-12-31), ``Quantity`` (int64; ~2% negative returns,
    a handful of absurd values such as 80995), ``UnitPrice`` (float64; a
    few zero or negative) and ``Country`` (str; skewed). About 0.5% of the
    lines are exact duplicates of the previous line.

    Customers have ``CustomerID``, ``Year_Birth`` (int64; a few absurd such
    as 1893 or 2030), ``Income`` (float64; ~5% null; a few huge outliers),
    ``Gender`` (``"F"``/``"M"``; ~3% null), ``Education`` and
    ``Marital_Status`` (including junk levels ``"Alone"``, ``"Absurd"``,
    ``"YOLO"``). Every customer has at least one invoice in the plan; purchase
    counts are heavy tailed (~40% one-time buyers), some customers churned
    long ago and some are new.

    With ``transactions <= 1_000_000`` the transactions go to
    ``transactions.<format>``; above that, to
    ``transactions/part-00000.<format>``, ``part-00001``, ... (one file per
    million rows) and ``paths["transactions"]`` / ``segkit.toml`` hold the
    glob ``transactions/part-*.<format>``.

    Examples
    --------
    >>> import duckdb, tempfile
    >>> from segkit.generate import generate
    >>> out = tempfile.mkdtemp()
    >>> info = generate(out, transactions=5_000, seed=42)
    >>> info["rows"]["transactions"], info["customers"]
    (5000, 500)
    >>> con = duckdb.connect()
    >>> con.execute(
    ...     "select count(*) from read_parquet(?)", [info["paths"]["transactions"]]
    ... ).fetchone()[0]
    5000
    """
    t0 = time.perf_counter()
    if isinstance(transactions, bool) or int(transactions) != transactions or transactions < 1:
        raise GenerateArgumentError(
            f"transactions must be a positive integer, got {transactions!r}."
        )
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise GenerateArgumentError(f"seed must be a non-negative integer, got {seed!r}.")
    if format not in _FORMATS:
        raise GenerateArgumentError(f"format must be 'parquet' or 'csv', got {format!r}.")
    n_rows, seed = int(transactions), int(seed)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)

    plan = _plan(n_rows, seed)
    files = []

    cust_rel = f"customers.{format}"
    _write(_customers_frame(plan, seed), out / cust_rel, format)
    files.append(str(out / cust_rel))

    chunk = _CHUNK_ROWS
    n_chunks = -(-n_rows // chunk)
    if n_chunks == 1:
        txn_rel = f"transactions.{format}"
        part_names = [txn_rel]
    else:
        (out / "transactions").mkdir(exist_ok=True)
        txn_rel = f"transactions/part-*.{format}"
        part_names = [f"transactions/part-{i:05d}.{format}" for i in range(n_chunks)]
    for i, name in enumerate(part_names):
        a, b = i * chunk, min(n_rows, (i + 1) * chunk)
        _write(_transactions_chunk(plan, seed, i, a, b), out / name, format)
        files.append(str(out / name))
        if progress is not None:
            progress(b, n_rows)

    config = out / "segkit.toml"
    config.write_text(_TOML_TEMPLATE.format(transactions=txn_rel, customers=cust_rel))
    files.append(str(config))

    return {
        "out_dir": str(out),
        "format": format,
        "paths": {
            "transactions": str(out / txn_rel),
            "customers": str(out / cust_rel),
            "config": str(config),
        },
        "files": files,
        "rows": {"transactions": n_rows, "customers": plan.n_customers},
        "transactions": n_rows,
        "customers": plan.n_customers,
        "invoices": plan.n_invoices,
        "chunks": n_chunks,
        "seconds": round(time.perf_counter() - t0, 3),
    }


# -- a wide, customers-only table ---------------------------------------------------

_WIDE_SPEND = (  # column, log-mean at average affluence, affluence effect, share of zeros
    ("MntWines", 5.2, 1.1, 0.01),
    ("MntFruits", 2.6, 0.9, 0.18),
    ("MntMeatProducts", 4.5, 1.2, 0.01),
    ("MntFishProducts", 3.0, 0.9, 0.17),
    ("MntSweetProducts", 2.6, 0.9, 0.19),
    ("MntGoldProds", 3.4, 0.7, 0.03),
)
_WIDE_COUNTS = (  # column, mean at average affluence, affluence effect (log scale)
    ("NumDealsPurchases", 2.3, -0.25),
    ("NumWebPurchases", 4.0, 0.35),
    ("NumCatalogPurchases", 2.6, 0.8),
    ("NumStorePurchases", 5.8, 0.35),
    ("NumWebVisitsMonth", 5.3, -0.3),
)
_WIDE_TOML = """\
warehouse = "warehouse/segkit.duckdb"
reports_dir = "reports"

[customers]
path = "{customers}"
customer_id = "CustomerID"
birth_year = "Year_Birth"
numeric = [{numeric}]
"""


def generate_wide_customers(out_dir, *, customers: int = 2240, seed: int = 0) -> dict:
    """A customers-only table of a dozen numeric attributes, and its ``segkit.toml``.

    The shape of a typical marketing extract ("marketing campaign" style, no
    transactions): ``Year_Birth``, ``Income`` and, driven by one latent
    affluence, spend per product category (``MntWines`` ... ``MntGoldProds``,
    some with many zeros) and purchases per channel (``NumDealsPurchases`` ...
    ``NumWebVisitsMonth``). Nearly every customer is a distinct binned vector,
    which is what makes it the wide regime of the benchmark. The same
    ``(customers, seed)`` gives byte-identical files.

    Returns
    -------
    dict
        ``paths`` (``customers``, ``config``) and ``customers`` (int).
    """
    if isinstance(customers, bool) or int(customers) != customers or customers < 1:
        raise GenerateArgumentError(f"customers must be a positive integer, got {customers!r}.")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise GenerateArgumentError(f"seed must be a non-negative integer, got {seed!r}.")
    n = int(customers)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 101]))
    z = rng.standard_normal(n)  # affluence
    birth = np.clip(np.rint(rng.normal(1969.0, 12.0, n) - 3.0 * z), 1940, 2006).astype(np.int64)
    income = np.rint(np.exp(np.log(52_000.0) + 0.35 * z + 0.2 * rng.standard_normal(n)))
    columns: dict[str, np.ndarray] = {"Year_Birth": birth, "Income": income}
    for name, mu, effect, zeros in _WIDE_SPEND:
        spend = np.rint(np.exp(mu + effect * z + 0.8 * rng.standard_normal(n)))
        spend[rng.random(n) < zeros] = 0.0
        columns[name] = spend
    for name, mean, effect in _WIDE_COUNTS:
        columns[name] = rng.poisson(mean * np.exp(effect * z)).astype(np.int64)
    width = _id_width(n)
    df = pl.DataFrame({"CustomerID": [f"W{i:0{width}d}" for i in range(1, n + 1)], **columns})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write(df, out / "customers.parquet", "parquet")
    numeric = ["Income"] + [c for c, *_ in _WIDE_SPEND] + [c for c, *_ in _WIDE_COUNTS]
    config = out / "segkit.toml"
    config.write_text(_WIDE_TOML.format(customers="customers.parquet",
                                        numeric=", ".join(f'"{c}"' for c in numeric)))
    return {"paths": {"customers": str(out / "customers.parquet"), "config": str(config)},
            "customers": n}
