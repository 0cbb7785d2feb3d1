"""One chunk of the generated transaction table (UCI "Online Retail" style, with its dirt)."""

from __future__ import annotations

import numpy as np
import polars as pl

from segkit.synthetic.plan import _Plan
from segkit.synthetic.streams import _S_CHUNK, _START_US, _id_width, _pick, _rng

_FIRST_INVOICE_NO = 536365
_ABSURD_QUANTITIES = np.array([3114, 4800, 12540, 74215, 80995], dtype=np.int64)


def _line_invoices(plan: _Plan, a: int, b: int) -> np.ndarray:
    """The invoice index of each row in ``[a, b)``."""
    off = plan.offsets
    j0 = int(np.searchsorted(off, a, side="right")) - 1
    j1 = int(np.searchsorted(off, b, side="left"))
    starts = np.maximum(off[j0:j1], a)
    stops = np.minimum(off[j0 + 1 : j1 + 1], b)
    return np.repeat(np.arange(j0, j1, dtype=np.int64), stops - starts)


def _dirty_lines(rng, n: int, qty: np.ndarray, price: np.ndarray) -> np.ndarray:
    """Line-level dirt, in place: absurd quantities, zero and negative prices.

    Returns which rows become exact copies of the row before (no two in a row).
    """
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
    return dup


def _frame(plan: _Plan, inv, cancel, cust, qty, price) -> pl.DataFrame:
    """The rows as the table's columns: invoice and customer ids spelled as strings."""
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


def _transactions_chunk(plan: _Plan, seed: int, index: int, a: int, b: int) -> pl.DataFrame:
    """Rows ``[a, b)`` of the transaction table."""
    rng = _rng(seed, _S_CHUNK, index)
    n = b - a
    inv = _line_invoices(plan, a, b)
    cust = plan.inv_customer[inv]
    cancel = plan.inv_cancel[inv]
    mu = np.where(cust >= 0, plan.cust_qty_mu[cust], np.float32(0.9))
    qty = np.maximum(1, np.rint(np.exp(mu + 0.7 * rng.standard_normal(n)))).astype(np.int64)
    price = np.maximum(0.05, np.round(np.exp(0.75 + 0.9 * rng.standard_normal(n)), 2))
    dup = _dirty_lines(rng, n, qty, price)
    qty[cancel] = -qty[cancel]  # returns
    if dup.any():
        src = np.arange(n)
        src[dup] -= 1
        inv, cust, qty, price = inv[src], cust[src], qty[src], price[src]
        cancel = cancel[src]
    return _frame(plan, inv, cancel, cust, qty, price)
