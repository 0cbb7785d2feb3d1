"""Backtest statistics: per-segment outcomes, lift and AUC, and their bootstrap intervals."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from segkit.model.backtest import EXACT_DRAWS, backtest_statistics, segment_ranks

# Three segments ranked 1, 2, 3: buyers 2 of 3, 1 of 2, 1 of 4.
TINY = dict(
    segments=[0, 0, 0, 1, 1, 2, 2, 2, 2],
    ranks={0: 1, 1: 2, 2: 3},
    bought_again=np.array([True, True, False, True, False, True, False, False, False]),
    spend=[Decimal("10.00"), Decimal("5.05"), Decimal("0"), Decimal("7.50"), Decimal("0"),
           Decimal("1.01"), Decimal("0"), Decimal("0"), Decimal("0")],
    purchase_days=np.array([2, 1, 0, 1, 0, 1, 0, 0, 0]),
)


def _random_backtest(n=5000, k=4, seed=0):
    rng = np.random.default_rng(seed)
    segments = rng.integers(0, k, n)
    bought = rng.random(n) < np.linspace(0.6, 0.1, k)[segments]
    days = np.where(bought, rng.geometric(0.5, n), 0)
    cents = np.where(bought, np.round(rng.lognormal(7, 1.0, n)).astype(np.int64), 0)
    return dict(segments=segments, ranks={s: s + 1 for s in range(k)}, bought_again=bought,
                spend=cents, purchase_days=days)


def test_lift_and_auc_by_hand_with_ties_counting_half():
    res = backtest_statistics(**TINY, n_resamples=200)
    assert res.lift == pytest.approx((2 / 3) / (1 / 4))
    # 4 buyers x 5 non-buyers = 20 pairs. Ordered right: segment 0's buyers over the
    # non-buyers of 1 and 2 (2 x 4 = 8), segment 1's buyer over segment 2's (1 x 3 = 3).
    # Ties (same segment) count half: 0: 2 x 1, 1: 1 x 1, 2: 1 x 3 -> (2 + 1 + 3) / 2 = 3.
    assert res.auc == pytest.approx((8 + 3 + 3) / 20)
    assert res.lift_note is None and res.auc_note is None


def test_auc_is_sklearn_s_on_the_customers_with_equal_ranks_tied():
    data = _random_backtest(n=3000, k=5, seed=1)
    data["ranks"] = {0: 1, 1: 2, 2: 2, 3: 3, 4: 4}  # two segments share rank 2
    res = backtest_statistics(**data, n_resamples=50)
    score = -np.array([data["ranks"][s] for s in data["segments"]])
    assert res.auc == pytest.approx(roc_auc_score(data["bought_again"], score), abs=1e-12)
    # the lift pools the segments of the best and of the worst rank
    bought, seg = data["bought_again"], data["segments"]
    assert res.lift == pytest.approx(bought[seg == 0].mean() / bought[seg == 4].mean())


def test_per_segment_figures_and_exact_money():
    res = backtest_statistics(**TINY, n_resamples=200)
    first, second, third = res.segments
    assert (first.segment, first.rank, first.n_customers, first.n_bought_again) == (0, 1, 3, 2)
    assert first.repurchase_share == pytest.approx(2 / 3)
    assert first.revenue == Decimal("15.05")
    assert first.mean_spend == Decimal("5.02")  # 15.05 / 3 = 5.01666...
    assert second.mean_spend == Decimal("3.75")
    assert third.mean_spend == Decimal("0.25")  # 1.01 / 4 = 0.2525 -> 0.25
    assert first.revenue_share == pytest.approx(1505 / (1505 + 750 + 101))
    assert (first.purchase_days, first.purchase_days_per_customer) == (3, 1.0)
    assert res.n_customers == 9


def test_money_rounds_once_half_up():
    # 1 + 2 cents over 2 customers: 1.5 cents -> 0.02 (a float mean would also give 0.015)
    res = backtest_statistics([0, 0], {0: 1}, np.array([True, True]), [1, 2], np.array([1, 1]),
                              n_resamples=10)
    assert res.segments[0].mean_spend == Decimal("0.02")
    # 4 decimal places with scale=4: exact, then rounded half up to 4 places
    res = backtest_statistics([0, 0], {0: 1}, np.array([True, True]),
                              [Decimal("0.0001"), Decimal("0.0002")], np.array([1, 1]),
                              scale=4, n_resamples=10)
    assert res.segments[0].mean_spend == Decimal("0.0002")
    assert res.segments[0].revenue == Decimal("0.0003")


def test_mean_spend_is_rounded_once_to_the_money_decimals():
    # 4-decimal spend, mean kept to cents: 0.0150 / 1 and 0.0249 + 0.0001 = 0.0250 / 2 = 0.0125
    res = backtest_statistics([0, 1, 1], {0: 1, 1: 2}, np.array([True, True, True]),
                              [Decimal("0.0150"), Decimal("0.0249"), Decimal("0.0001")],
                              np.array([1, 1, 1]), scale=4, money_decimals=2, n_resamples=10)
    assert [s.mean_spend for s in res.segments] == [Decimal("0.02"), Decimal("0.01")]
    assert res.segments[1].revenue == Decimal("0.0250")  # sums keep the spend's scale
    assert all(s.mean_spend_ci.low.as_tuple().exponent == -2 for s in res.segments)
    with pytest.raises(ValueError, match="money_decimals"):
        backtest_statistics([0], {0: 1}, np.array([True]), [1], np.array([1]), scale=2,
                            money_decimals=4, n_resamples=10)


def test_identical_inputs_give_identical_results_and_the_seed_matters():
    data = _random_backtest()
    one = backtest_statistics(**data, n_resamples=300, seed=4)
    two = backtest_statistics(**data, n_resamples=300, seed=4)
    assert one == two
    other = backtest_statistics(**data, n_resamples=300, seed=5)
    assert other.lift == one.lift and other.lift_ci != one.lift_ci


def test_every_interval_contains_its_point_estimate():
    res = backtest_statistics(**_random_backtest(), n_resamples=1000)

    def inside(value, interval):
        return interval.low <= value <= interval.high and interval.low < interval.high

    assert inside(res.lift, res.lift_ci) and inside(res.auc, res.auc_ci)
    for s in res.segments:
        assert inside(s.repurchase_share, s.repurchase_share_ci)
        assert inside(s.mean_spend, s.mean_spend_ci)
        assert inside(s.revenue_share, s.revenue_share_ci)
        assert inside(s.purchase_days_per_customer, s.purchase_days_per_customer_ci)
        assert isinstance(s.mean_spend_ci.low, Decimal)


def test_no_repurchase_in_the_bottom_segment_leaves_the_lift_undefined():
    data = dict(TINY, bought_again=np.array([True, True, False, True, False,
                                             False, False, False, False]),
                purchase_days=np.array([2, 1, 0, 1, 0, 0, 0, 0, 0]))
    res = backtest_statistics(**data, n_resamples=200)
    assert res.lift is None and res.lift_ci.low is None and res.lift_ci.high is None
    assert "bottom-ranked segment bought again (share 0)" in res.lift_note
    assert res.auc is not None  # the ranking still orders its pairs
    assert res.segments[2].repurchase_share == 0.0


def test_a_lift_whose_bottom_share_is_often_zero_has_no_upper_end():
    # The bottom segment has one buyer in 30: about a third of resamples draw none.
    segments = [0] * 30 + [1] * 30
    bought = np.array([True] * 15 + [False] * 15 + [True] + [False] * 29)
    res = backtest_statistics(segments, {0: 1, 1: 2}, bought, [0] * 60, bought.astype(int),
                              n_resamples=500)
    assert res.lift == pytest.approx(15.0)
    assert res.lift_ci.low is not None and res.lift_ci.high is None


def test_nothing_to_compare_is_said():
    res = backtest_statistics([0, 1], {0: 1, 1: 2}, np.array([False, False]), [0, 0],
                              np.array([0, 0]), n_resamples=10)
    assert res.auc is None and "no (buyer, non-buyer) pair" in res.auc_note
    res = backtest_statistics([0, 1], {0: 1, 1: 1}, np.array([True, False]), [5, 0],
                              np.array([1, 0]), n_resamples=10)
    assert res.lift is None and "share one rank" in res.lift_note
    assert res.auc == 0.5


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"segments \[7\] have no rank"):
        backtest_statistics([7], {0: 1}, np.array([True]), [1], np.array([1]))
    with pytest.raises(ValueError, match="one value per customer"):
        backtest_statistics([0, 0], {0: 1}, np.array([True]), [1, 2], np.array([1, 1]))
    with pytest.raises(ValueError, match="finite Decimals"):
        backtest_statistics([0], {0: 1}, np.array([True]), [1.5], np.array([1]))
    with pytest.raises(ValueError, match="pass scale=3"):
        backtest_statistics([0], {0: 1}, np.array([True]), [Decimal("1.005")], np.array([1]))
    with pytest.raises(ValueError, match="no customers"):
        backtest_statistics([], {0: 1}, np.array([], dtype=bool), [], np.array([], dtype=int))
    with pytest.raises(ValueError, match="bought_again must be booleans"):
        backtest_statistics([0], {0: 1}, np.array([1]), [1], np.array([1]))


def test_intervals_match_resampling_customer_by_customer_on_skewed_spend():
    # Cells larger than the exact budget take the normal law of their sums: their
    # intervals must be those of plain index resampling, within Monte Carlo noise.
    rng = np.random.default_rng(3)
    n = 60_000
    data = _random_backtest(n=n, k=2, seed=3)
    data["spend"] = np.where(data["bought_again"],
                             np.round(rng.lognormal(6, 1.2, n)).astype(np.int64), 0)
    seg, bought = data["segments"], data["bought_again"]
    buyers = sorted(int(bought[seg == j].sum()) for j in (0, 1))
    assert sum(buyers) * 1000 > EXACT_DRAWS  # the larger buyer cell takes the normal law
    res = backtest_statistics(**data, n_resamples=1000, seed=0)
    spend, days = data["spend"], data["purchase_days"]
    share, mean_spend, days_per = [], [], []
    for _ in range(1000):
        i = rng.integers(0, n, n)
        s = seg[i]
        share.append([bought[i][s == j].mean() for j in (0, 1)])
        mean_spend.append([spend[i][s == j].mean() / 100 for j in (0, 1)])
        days_per.append([days[i][s == j].mean() for j in (0, 1)])
    for j, outcome in enumerate(res.segments):
        for got, samples in ((outcome.repurchase_share_ci, share),
                             (outcome.mean_spend_ci, mean_spend),
                             (outcome.purchase_days_per_customer_ci, days_per)):
            want = np.percentile(np.array(samples)[:, j], [2.5, 97.5])
            width = want[1] - want[0]
            assert abs(float(got.low) - want[0]) < 0.1 * width
            assert abs(float(got.high) - want[1]) < 0.1 * width


def test_segment_ranks_from_the_centroids():
    features = ["recency_days", "frequency", "monetary", "age"]
    n_bins = [4, 2, 4, 4]
    centroids = np.array([
        [0.5, 0.7, 2.5, 3.0],   # recent, frequent, spends: best
        [2.5, 0.0, 2.5, 0.0],   # long ago, rare, spends
        [2.5, 0.0, 0.4, 3.0],   # long ago, rare, little: worst (age is not used)
        [2.5, 0.0, 2.5, 3.0],   # the same RFM value as the second: same rank
    ])
    assert segment_ranks(centroids, features, n_bins).tolist() == [1, 2, 3, 2]
    with pytest.raises(ValueError, match="no RFM feature"):
        segment_ranks(centroids[:, 3:], ["age"], [4])
