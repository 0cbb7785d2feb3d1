"""What a backtest's segments did next: per-segment outcomes, the lift and the AUC, with intervals.

A backtest fits the segments as of an earlier day and then looks at the
horizon after it: who bought again, and how much they spent. This module
turns those per-customer outcomes into figures, with a seeded bootstrap
interval for each; it reads and writes nothing. The figures describe an
association on past data, not the effect of acting on a segment.

- :func:`segment_ranks` fixes, from the centroids alone (before any outcome is
  seen), which segment is expected to buy most: the ranking the lift and the
  AUC test.
- :func:`backtest_statistics` computes the figures.

The bootstrap resamples customers: n draws with replacement, 1,000 times. Its
counts are drawn exactly: the customers drawn into each (segment, bought again)
cell are multinomial, so the repurchase shares, the lift and the AUC are those
of index resampling, at the cost of a few numbers per resample. The spend and
purchase days summed over a cell's draws are drawn exactly too, from the cell's
own customers, for the smaller cells up to ``EXACT_DRAWS`` draws in all
(20,000 customers at 1,000 resamples); a larger cell's sum is drawn from the
normal law with the sum's exact mean and covariance given its draw count (the
central limit theorem; such a cell has thousands of customers, and the error
of the normal law at the interval's ends shrinks with the square root of
that). 1,000 resamples of a million customers take about a quarter of a
second; tests/model/test_backtest.py checks the intervals against index
resampling on skewed spend.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from segkit.feature_names import RFM_FEATURES

# Draws (customers x resamples) made customer by customer in one call, about
# 0.3 s; larger cells take the normal law of their sums (see the module's text).
EXACT_DRAWS = 20_000_000


def segment_ranks(centroids, features, n_bins):
    """Rank of each segment by its expected value, 1 = best, from the centroids alone.

    The rule, fixed before any outcome is seen: each segment's value is the mean,
    over the RFM features it was fitted on, of the centroid's position in that
    feature's bins (0 = lowest bin, 1 = highest), recency inverted (fewer days
    since the last purchase is better). Higher value, better rank; equal values
    share a rank (dense ranking: 1, 2, 2, 3).

    Parameters
    ----------
    centroids : ndarray of shape (k, d)
        ``Segmenter.centroids_`` (binned space).
    features : list of str
        ``Segmenter.features_``.
    n_bins : list of int
        Bins of each feature (``[Segmenter.n_bins_[f] for f in features_]``).

    Returns
    -------
    ndarray of shape (k,) of int
    """
    C = np.asarray(centroids, dtype=float)
    columns = [j for j, f in enumerate(features) if f in RFM_FEATURES]
    if not columns:
        raise ValueError(f"segments fitted on {list(features)} have no RFM feature "
                         f"({', '.join(RFM_FEATURES)}) to rank them by")
    levels = []
    for j in columns:
        level = np.clip(C[:, j] / max(int(n_bins[j]) - 1, 1), 0.0, 1.0)
        levels.append(1.0 - level if features[j] == "recency_days" else level)
    # Rounded so that centroids equal up to float noise share a rank.
    value = np.round(np.mean(levels, axis=0), 12)
    distinct = np.unique(value)[::-1]
    return 1 + np.searchsorted(-distinct, -value)


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap interval; ``None`` ends where it is undefined."""

    low: object
    high: object


@dataclass(frozen=True)
class SegmentOutcome:
    """What one segment's customers did in the horizon."""

    segment: int
    rank: int
    n_customers: int
    n_bought_again: int
    repurchase_share: float | None
    repurchase_share_ci: Interval
    revenue: Decimal
    mean_spend: Decimal
    mean_spend_ci: Interval
    revenue_share: float | None
    revenue_share_ci: Interval
    purchase_days: int
    purchase_days_per_customer: float
    purchase_days_per_customer_ci: Interval


@dataclass(frozen=True)
class BacktestStatistics:
    """The result of :func:`backtest_statistics`.

    ``lift`` is the top-ranked segments' repurchase share over the
    bottom-ranked ones'; ``auc`` is the share of (buyer, non-buyer) pairs the
    segment ranks order correctly, ties counting half. Each is ``None`` with its
    reason in ``lift_note`` / ``auc_note`` when undefined.
    """

    segments: list
    n_customers: int
    lift: float | None
    lift_ci: Interval
    lift_note: str | None
    auc: float | None
    auc_ci: Interval
    auc_note: str | None
    n_resamples: int
    confidence: float
    seed: int


def backtest_statistics(segments, ranks, bought_again, spend, purchase_days, *, scale=2,
                        money_decimals=None, n_resamples=1000, confidence=0.95, seed=0):
    """Per-segment outcomes of a backtest, its lift and AUC, each with a bootstrap interval.

    Parameters
    ----------
    segments : array-like of int, shape (n,)
        Segment of each customer in the backtest fit (customers sorted by id:
        the result then depends on nothing else).
    ranks : dict of int -> int
        Rank of every segment (1 = expected best), e.g. :func:`segment_ranks`.
    bought_again : array-like of bool, shape (n,)
        Whether the customer bought in the horizon.
    spend : array-like of int or decimal.Decimal, shape (n,)
        Spend in the horizon: integers are units of ``10 ** -scale`` (cents for
        scale 2); Decimals must have at most ``scale`` decimal places. Summed
        exactly.
    purchase_days : array-like of int, shape (n,)
        Purchase days in the horizon.
    scale : int, default=2
        Decimal places of the spend; sums (revenue) keep them.
    money_decimals : int, optional
        Decimal places of the mean spend per customer, a quotient rounded once,
        half up, to this many places (default: ``scale``).
    n_resamples : int, default=1000
    confidence : float, default=0.95
        Percentile intervals: the (1 - confidence) / 2 and (1 + confidence) / 2
        quantiles of the resampled figures.
    seed : int, default=0
        Seeds ``numpy.random.default_rng``.

    Returns
    -------
    BacktestStatistics
    """
    seg, bought, units, days = _inputs(segments, ranks, bought_again, spend, purchase_days, scale)
    places = scale if money_decimals is None else money_decimals
    if not (isinstance(places, int) and 0 <= places <= scale):
        raise ValueError(f"money_decimals must be an integer from 0 to scale ({scale}), "
                         f"got {money_decimals!r}")
    to_places = Fraction(10) ** (places - scale)  # units of 10^-scale -> of 10^-places
    if not (isinstance(n_resamples, int) and n_resamples >= 1):
        raise ValueError(f"n_resamples must be an integer >= 1, got {n_resamples!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    labels = np.array(sorted(ranks), dtype=np.int64)
    rank = np.array([int(ranks[s]) for s in labels.tolist()])
    k = labels.size
    cell = 2 * np.searchsorted(labels, seg) + bought  # (segment, did not buy), (segment, bought)
    counts = np.bincount(cell, minlength=2 * k)
    order = np.argsort(cell, kind="stable")  # each cell's customers, in input order
    members = np.split(order, np.cumsum(counts)[:-1])
    units_sum = [int(units[m].sum()) for m in members]  # int64: exact below 9.2e18 units
    days_sum = [int(days[m].sum()) for m in members]

    rng = np.random.default_rng(seed)
    M, S, D = _resample_cells(members, units.astype(float), days.astype(float), n_resamples, rng)
    qs = ((1 - confidence) / 2, (1 + confidence) / 2)
    n_seg, buyers = M[:, 0::2] + M[:, 1::2], M[:, 1::2]
    spend_seg, days_seg = S[:, 0::2] + S[:, 1::2], D[:, 0::2] + D[:, 1::2]
    with np.errstate(divide="ignore", invalid="ignore"):
        share_r, mean_r = buyers / n_seg, spend_seg / n_seg
        revenue_r = spend_seg / spend_seg.sum(axis=1, keepdims=True)
        days_r = days_seg / n_seg
    total_units = sum(units_sum)
    outcomes = []
    for i, s in enumerate(labels.tolist()):
        n_i = int(counts[2 * i] + counts[2 * i + 1])
        b_i = int(counts[2 * i + 1])
        u_i = units_sum[2 * i] + units_sum[2 * i + 1]
        d_i = int(days_sum[2 * i] + days_sum[2 * i + 1])
        outcomes.append(SegmentOutcome(
            segment=s, rank=int(rank[i]), n_customers=n_i, n_bought_again=b_i,
            repurchase_share=b_i / n_i if n_i else None,
            repurchase_share_ci=_interval(share_r[:, i], qs),
            revenue=_money(Fraction(u_i), scale),
            mean_spend=_money(Fraction(u_i, n_i) * to_places if n_i else Fraction(0), places),
            mean_spend_ci=_interval(mean_r[:, i] * float(to_places), qs, money=places),
            revenue_share=u_i / total_units if total_units else None,
            revenue_share_ci=_interval(revenue_r[:, i], qs),
            purchase_days=d_i, purchase_days_per_customer=d_i / n_i if n_i else 0.0,
            purchase_days_per_customer_ci=_interval(days_r[:, i], qs)))
    n_buyers = counts[1::2]
    n_not = counts[0::2]
    lift, lift_note = _lift(rank, n_buyers[None, :], (n_buyers + n_not)[None, :])
    lift_r, _ = _lift(rank, buyers, n_seg)
    auc, auc_note = _auc(rank, n_buyers[None, :], n_not[None, :])
    auc_r, _ = _auc(rank, buyers, n_seg - buyers)
    return BacktestStatistics(
        segments=outcomes, n_customers=int(seg.size),
        lift=None if lift_note else float(lift[0]), lift_note=lift_note,
        lift_ci=Interval(None, None) if lift_note else _interval(lift_r, qs),
        auc=None if auc_note else float(auc[0]), auc_note=auc_note,
        auc_ci=Interval(None, None) if auc_note else _interval(auc_r, qs),
        n_resamples=n_resamples, confidence=confidence, seed=seed)


def _inputs(segments, ranks, bought_again, spend, purchase_days, scale):
    """The inputs as arrays; ValueError naming the first that does not fit."""
    if not isinstance(ranks, dict) or not ranks:
        raise ValueError(f"ranks must be a non-empty dict of segment -> rank, got {ranks!r}")
    if not (isinstance(scale, int) and 0 <= scale <= 9):
        raise ValueError(f"scale must be an integer from 0 to 9, got {scale!r}")
    seg = np.asarray(segments).astype(np.int64).ravel()
    bought = np.asarray(bought_again)
    if bought.dtype != bool:
        raise ValueError(f"bought_again must be booleans, got dtype {bought.dtype}")
    bought = bought.astype(np.int64).ravel()
    days = np.asarray(purchase_days)
    if days.size and (days.dtype.kind not in "iu" or days.min() < 0):
        raise ValueError("purchase_days must be non-negative integers")
    units = _units(spend, scale)
    n = seg.size
    if n == 0:
        raise ValueError("no customers: a backtest needs at least one customer of the fit")
    if not (bought.size == units.size == days.size == n):
        raise ValueError(f"segments, bought_again, spend and purchase_days must have one value per "
                         f"customer, got {n}, {bought.size}, {units.size} and {days.size}")
    unknown = sorted(set(np.unique(seg).tolist()) - set(ranks))
    if unknown:
        raise ValueError(f"segments {unknown[:5]} have no rank; ranks cover {sorted(ranks)}")
    return seg, bought, units, days.astype(np.int64).ravel()


def _units(spend, scale):
    """Spend as exact integer units of 10 ** -scale (int64)."""
    values = list(spend) if not isinstance(spend, np.ndarray) else spend
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        return values.astype(np.int64).ravel()
    out = np.empty(len(values), dtype=np.int64)
    shift = Decimal(1).scaleb(scale)
    for i, v in enumerate(values):
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            out[i] = int(v)
            continue
        if not isinstance(v, Decimal) or not v.is_finite():
            raise ValueError(f"spend must be integers (units of 10^-{scale}) or finite Decimals, "
                             f"got {v!r} at position {i}")
        u = v * shift
        if u != u.to_integral_value():
            raise ValueError(f"spend {v} at position {i} has more than {scale} decimal places; "
                             f"pass scale={-v.as_tuple().exponent}")
        out[i] = int(u)
    return out


def _resample_cells(members, units, days, n_resamples, rng):
    """Per resample and cell: customers drawn, and their spend and days summed.

    Cells whose customers all have the same spend and days (those who did not
    buy again) need no draw; the others are drawn customer by customer,
    smallest first, while the draws stay within ``EXACT_DRAWS``; the rest, the
    largest, take the normal law of their sums.
    """
    counts = np.array([m.size for m in members])
    n = int(counts.sum())
    M = rng.multinomial(n, counts / n, size=n_resamples)
    S = np.zeros(M.shape)
    D = np.zeros(M.shape)
    budget = EXACT_DRAWS
    for c in sorted(np.flatnonzero(counts), key=lambda c: (counts[c], c)):
        u, d = units[members[c]], days[members[c]]
        draws = M[:, c]
        if u.min() == u.max() and d.min() == d.max():
            S[:, c], D[:, c] = draws * u[0], draws * d[0]
            continue
        if u.size * n_resamples <= budget:
            budget -= u.size * n_resamples
            picks = rng.integers(0, u.size, size=int(draws.sum()))
            owner = np.repeat(np.arange(n_resamples), draws)
            S[:, c] = np.bincount(owner, weights=u[picks], minlength=n_resamples)
            D[:, c] = np.bincount(owner, weights=d[picks], minlength=n_resamples)
            continue
        # The sum of m draws has mean m * mu and covariance m * cov: its normal law.
        mu = np.array([u.mean(), d.mean()])
        cov = np.cov(np.vstack([u, d]), ddof=0)
        vals, vecs = np.linalg.eigh(cov)
        root = vecs * np.sqrt(np.clip(vals, 0.0, None))
        z = rng.standard_normal((n_resamples, 2)) @ root.T
        total = draws[:, None] * mu + np.sqrt(draws)[:, None] * z
        S[:, c], D[:, c] = total[:, 0], total[:, 1]
    return M, S, D


def _lift(rank, buyers, customers):
    """Top-ranked segments' repurchase share over the bottom-ranked ones' (rows: resamples)."""
    top, bottom = rank == rank.min(), rank == rank.max()
    if top.all():
        return np.full(buyers.shape[0], np.nan), "all segments share one rank: nothing to compare"
    with np.errstate(divide="ignore", invalid="ignore"):
        share_top = buyers[:, top].sum(axis=1) / customers[:, top].sum(axis=1)
        share_bottom = buyers[:, bottom].sum(axis=1) / customers[:, bottom].sum(axis=1)
        lift = share_top / share_bottom
    if share_bottom[0] == 0:
        return lift, ("no customer of the bottom-ranked segment bought again (share 0): "
                      "the lift is undefined")
    return lift, None


def _auc(rank, buyers, others):
    """Share of (buyer, non-buyer) pairs the segment ranks order right, ties half (rows: resamples).

    Exact from per-segment counts: O(k^2) per row, no pair is enumerated.
    """
    better = (rank[:, None] < rank[None, :]).astype(float) + 0.5 * (rank[:, None] == rank[None, :])
    pairs = buyers.sum(axis=1) * others.sum(axis=1)
    right = np.einsum("rs,st,rt->r", buyers.astype(float), better, others.astype(float))
    if pairs[0] == 0:
        return right, "everyone or no one bought again: there is no (buyer, non-buyer) pair"
    with np.errstate(divide="ignore", invalid="ignore"):
        return right / pairs, None


def _interval(values, qs, money=None):
    """Percentile interval of the defined resampled values; an end is None where undefined.

    An infinite value (a lift over a zero share) sorts above every number: an
    end that falls on one is None.
    """
    v = np.sort(values[~np.isnan(values)])
    if v.size == 0:
        return Interval(None, None)
    ends = []
    for q in qs:
        x = q * (v.size - 1)
        lo, hi = int(np.floor(x)), int(np.ceil(x))
        if np.isinf(v[hi]) or np.isinf(v[lo]):
            ends.append(None)
            continue
        value = float(v[lo] + (v[hi] - v[lo]) * (x - lo))
        ends.append(_money(Fraction(value), money) if money is not None else value)
    return Interval(*ends)


def _money(units, scale):
    """An exact amount of units of 10 ** -scale as money, rounded once, half up (away from 0).

    Integer arithmetic, so no intermediate rounding can move a tie.
    """
    a, b = abs(units.numerator), units.denominator
    whole = (2 * a + b) // (2 * b)
    return Decimal(-whole if units < 0 else whole).scaleb(-scale)
