"""Writing a generated data set: argument checks, the files in chunks, and its segkit.toml."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import polars as pl

from segkit.errors import GenerateArgumentError
from segkit.synthetic.customers import _customers_frame
from segkit.synthetic.plan import _Plan, _plan
from segkit.synthetic.transactions import _transactions_chunk

# Rows per generated chunk (and per part file). Part of the data definition:
# changing it changes the generated data for sizes larger than one chunk.
_CHUNK_ROWS = 1_000_000

_FORMATS = ("parquet", "csv")

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
    >>> from segkit.synthetic import generate
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
    n_rows, seed = _checked(transactions, seed, format)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)

    plan = _plan(n_rows, seed)
    cust_rel = f"customers.{format}"
    _write(_customers_frame(plan, seed), out / cust_rel, format)
    files = [str(out / cust_rel)]
    txn_rel, parts = _write_transactions(plan, seed, out, format, progress)
    files += parts

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
        "chunks": len(parts),
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _checked(transactions, seed, format) -> tuple[int, int]:
    """``(transactions, seed)`` as ints, or GenerateArgumentError naming the bad argument."""
    if isinstance(transactions, bool) or int(transactions) != transactions or transactions < 1:
        raise GenerateArgumentError(
            f"transactions must be a positive integer, got {transactions!r}."
        )
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise GenerateArgumentError(f"seed must be a non-negative integer, got {seed!r}.")
    if format not in _FORMATS:
        raise GenerateArgumentError(f"format must be 'parquet' or 'csv', got {format!r}.")
    return int(transactions), int(seed)


def _write_transactions(plan: _Plan, seed: int, out: Path, format: str,
                        progress: Callable[[int, int], None] | None) -> tuple[str, list[str]]:
    """Write the transactions in chunks of ``_CHUNK_ROWS``: one file, or one part file per chunk.

    Returns the path (or glob) relative to ``out`` and the files written.
    """
    n_rows, chunk = plan.n_rows, _CHUNK_ROWS
    n_chunks = -(-n_rows // chunk)
    if n_chunks == 1:
        txn_rel = f"transactions.{format}"
        part_names = [txn_rel]
    else:
        (out / "transactions").mkdir(exist_ok=True)
        txn_rel = f"transactions/part-*.{format}"
        part_names = [f"transactions/part-{i:05d}.{format}" for i in range(n_chunks)]
    files = []
    for i, name in enumerate(part_names):
        a, b = i * chunk, min(n_rows, (i + 1) * chunk)
        _write(_transactions_chunk(plan, seed, i, a, b), out / name, format)
        files.append(str(out / name))
        if progress is not None:
            progress(b, n_rows)
    return txn_rel, files
