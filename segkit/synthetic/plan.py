"""The invoice-level plan of a generated data set: invoices, their customers, days and countries.

The plan is drawn once from its own random stream; the transaction chunks and
the customers table are then derived from it, so every chunk can be generated
on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segkit.synthetic.streams import _N_DAYS, _S_PLAN, _START_DAY, _pick, _rng

_MEAN_LINES_PER_INVOICE = 3.0
_TRANSACTIONS_PER_CUSTOMER = 10

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


# The steps below draw from one stream in a fixed order: reordering them changes the data.

def _invoice_lines(rng, n_rows: int) -> np.ndarray:
    """Line count of each invoice; they add up to ``n_rows`` exactly."""
    p = 1.0 / _MEAN_LINES_PER_INVOICE
    est = int(n_rows * p * 1.1) + 16
    lines = rng.geometric(p, size=est)
    while int(lines.sum()) < n_rows:  # practically never for large n
        lines = np.concatenate([lines, rng.geometric(p, size=est)])
    ends = np.cumsum(lines)
    m = int(np.searchsorted(ends, n_rows, side="left")) + 1
    lines = lines[:m].copy()
    lines[-1] -= int(ends[m - 1]) - n_rows
    return lines


def _invoice_dirt(rng, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Invoice-level dirt: guest invoices (no CustomerID) and cancellations."""
    guest = np.zeros(m, dtype=bool)
    guest[_pick(rng, m, 0.02, 1 if m >= 20 else 0)] = True
    if guest.all():
        guest[:] = False
    cancel = np.zeros(m, dtype=bool)
    cancel[_pick(rng, m, 0.02, 1 if m >= 20 else 0)] = True
    return guest, cancel


def _customer_counts(rng, n_rows: int, m_c: int) -> tuple[np.ndarray, np.ndarray]:
    """Latent activity and invoice count per customer: at least one each, heavy tailed."""
    n_cust = max(1, min(round(n_rows / _TRANSACTIONS_PER_CUSTOMER), m_c))
    latent = rng.standard_normal(n_cust)
    one_timer = rng.random(n_cust) < 0.20
    weight = np.where(one_timer, 0.0, np.exp(1.1 * latent))
    if weight.sum() <= 0:
        weight[:] = 1.0
    counts = rng.multinomial(m_c - n_cust, weight / weight.sum()) + 1
    return latent, counts


def _lifecycle(rng, n_cust: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last purchase day per customer.

    Established customers (already active when the data starts) and customers
    acquired during the period; a share of each churns.
    """
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
    return first, last


def _invoice_minutes(rng, guest, counts, first, last) -> tuple[np.ndarray, np.ndarray]:
    """Invoice -> customer (-1 for guests) and minute since the first day."""
    m, m_c = guest.size, int(counts.sum())
    cdf = _season_cdf()
    inv_customer = np.full(m, -1, dtype=np.int32)
    owner = np.repeat(np.arange(counts.size, dtype=np.int32), counts)
    inv_customer[~guest] = owner
    f, l_ = first[owner], last[owner]
    lo, hi = cdf[f], cdf[l_ + 1]
    day_c = np.searchsorted(cdf, lo + rng.random(m_c) * (hi - lo), side="right") - 1
    day = np.empty(m, dtype=np.int64)
    day[~guest] = np.clip(day_c, f, l_)
    day[guest] = np.clip(
        np.searchsorted(cdf, rng.random(m - m_c), side="right") - 1, 0, _N_DAYS - 1
    )
    minute = day * 1440 + 480 + rng.integers(0, 720, m)  # 08:00 - 19:59
    return inv_customer, minute


def _invoice_countries(rng, guest, inv_customer, n_cust: int) -> tuple[list, np.ndarray]:
    """Skewed countries: one per customer, guests' invoices drawn directly."""
    countries = [c for c, _ in _COUNTRY_MAJOR] + list(_COUNTRY_RARE)
    major_p = np.array([w for _, w in _COUNTRY_MAJOR])
    rare_w = 1.0 / np.arange(1, len(_COUNTRY_RARE) + 1) ** 1.1
    rare_p = rare_w / rare_w.sum() * (1.0 - major_p.sum())
    cp = np.concatenate([major_p, rare_p])
    cp /= cp.sum()
    cust_country = rng.choice(len(countries), size=n_cust, p=cp).astype(np.int16)
    inv_country = np.empty(guest.size, dtype=np.int16)
    inv_country[~guest] = cust_country[inv_customer[~guest]]
    inv_country[guest] = rng.choice(len(countries), size=int(guest.sum()), p=cp)
    return countries, inv_country


def _plan(n_rows: int, seed: int) -> _Plan:
    rng = _rng(seed, _S_PLAN)
    lines = _invoice_lines(rng, n_rows)
    m = lines.size
    guest, cancel = _invoice_dirt(rng, m)
    latent, counts = _customer_counts(rng, n_rows, int(m - guest.sum()))
    n_cust = latent.size
    first, last = _lifecycle(rng, n_cust)
    inv_customer, minute = _invoice_minutes(rng, guest, counts, first, last)
    countries, inv_country = _invoice_countries(rng, guest, inv_customer, n_cust)
    qty_mu = (0.9 + 0.25 * latent + 0.45 * rng.standard_normal(n_cust)).astype(np.float32)

    # order invoices by time; InvoiceNo follows that order
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
