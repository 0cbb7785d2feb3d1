"""Seeded random streams, the calendar and row picking shared by every generated table."""

from __future__ import annotations

import numpy as np

_START_DAY = np.datetime64("2024-01-01", "D")
_END_DAY = np.datetime64("2025-12-31", "D")
_N_DAYS = int((_END_DAY - _START_DAY).astype(np.int64)) + 1  # 731
_START_US = int(_START_DAY.astype("datetime64[us]").astype(np.int64))

# independent random streams
_S_PLAN, _S_CUSTOMERS, _S_CHUNK = 0, 1, 2


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


def _id_width(n_customers: int) -> int:
    return max(7, len(str(n_customers)))
