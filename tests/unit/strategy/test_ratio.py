"""Ratio estimators against closed forms on synthetic data and against the published figures on real data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hedger.errors import DataError
from hedger.strategy.ratio import (
    MAX_BASIS,
    BasketHedge,
    EWMARatio,
    FixedRatio,
    OLSRatio,
    RollingOLSRatio,
    ShrunkRatio,
    aggregate_returns,
    basis_outliers,
    hac_factor,
    hedge_effectiveness,
    log_returns,
    oracle_round_prices,
    paired_returns,
    shrinkage_weight,
)

HOURS = pd.date_range("2023-01-01", periods=6, freq="h", tz="UTC")


def synthetic_returns(beta: float = 0.8, noise: float = 0.002, n: int = 5000, seed: int = 1):
    rng = np.random.default_rng(seed)
    index = pd.date_range("2022-01-01", periods=n, freq="h", tz="UTC")
    perp = pd.Series(rng.normal(0, 0.01, n), index=index, name="perp")
    spot = pd.Series(beta * perp.to_numpy() + rng.normal(0, noise, n), index=index, name="spot")
    return spot, perp


def exact_returns(beta: float, noise: float = 0.002, n: int = 5000, seed: int = 1):
    """Returns whose OLS slope is exactly `beta`: the noise is made orthogonal to the perp (and to a constant)."""
    spot, perp = synthetic_returns(beta=beta, noise=0.0, n=n, seed=seed)
    raw = np.random.default_rng(seed + 100).normal(0, noise, n)
    design = np.column_stack([np.ones(n), perp.to_numpy()])
    residual = raw - design @ np.linalg.lstsq(design, raw, rcond=None)[0]
    return spot + residual, perp


# --- log_returns: gaps are NaN, never filled ---------------------------------------------------------


def test_a_missing_price_makes_both_adjacent_returns_nan_and_no_zero_return():
    prices = pd.DataFrame({"spot": [100, 101, np.nan, 103, 104, 105.0]}, index=HOURS)
    returns = log_returns(prices)["spot"]
    assert returns.isna().tolist() == [True, False, True, True, False, False]
    assert returns.iloc[1] == pytest.approx(np.log(101 / 100))
    assert (returns.dropna() != 0).all()


def test_a_missing_row_is_a_missing_bucket():
    prices = pd.DataFrame({"spot": [100.0, 101, 103, 104]}, index=HOURS[[0, 1, 3, 4]])
    returns = log_returns(prices)["spot"]
    assert len(returns) == 5
    assert returns.isna().tolist() == [True, False, True, True, False]


def test_columns_are_independent_without_max_gap():
    prices = pd.DataFrame(
        {"spot": [100, np.nan, 102, 103, 104, 105.0], "perp": [100, 101, 102, 103, 104, 105.0]}, HOURS
    )
    returns = log_returns(prices)
    assert returns["perp"].notna().sum() == 5
    assert returns["spot"].notna().sum() == 3


def test_max_gap_bridges_a_short_outage_for_all_columns_over_the_same_span():
    prices = pd.DataFrame(
        {"spot": [100, 101, np.nan, 103, 104, 105.0], "perp": [200, 202, 204, 206, 208, 210.0]}, HOURS
    )
    returns = log_returns(prices, max_gap="2h")
    assert returns.loc[HOURS[2]].isna().all()
    assert returns.loc[HOURS[3], "spot"] == pytest.approx(np.log(103 / 101))
    assert returns.loc[HOURS[3], "perp"] == pytest.approx(np.log(206 / 202))


def test_max_gap_leaves_a_longer_outage_nan():
    prices = pd.DataFrame({"spot": [100, 101, np.nan, np.nan, 104, 105.0]}, HOURS)
    returns = log_returns(prices, max_gap="2h")["spot"]
    assert returns.loc[HOURS[4]] != returns.loc[HOURS[4]]  # NaN: a 3 h span is beyond 2 h
    assert returns.loc[HOURS[5]] == pytest.approx(np.log(105 / 104))


def test_horizon_takes_the_last_price_of_each_bucket():
    prices = pd.DataFrame({"spot": [100, 101, 102, 103, 104, 105.0]}, HOURS)
    returns = log_returns(prices, horizon="3h")
    assert returns.attrs["horizon"] == "3h"
    assert returns["spot"].iloc[1] == pytest.approx(np.log(105 / 102))


@pytest.mark.parametrize(
    ("prices", "kwargs"),
    [
        (pd.DataFrame({"spot": [100.0, 0.0]}, index=HOURS[:2]), {}),
        (pd.DataFrame({"spot": [100.0, -1.0]}, index=HOURS[:2]), {}),
        (pd.DataFrame({"spot": [100.0, 101.0]}), {}),
        (pd.DataFrame({"spot": [100.0, 101.0]}, index=HOURS[:2]), {"horizon": "1h", "max_gap": "30min"}),
    ],
)
def test_unusable_prices_raise_data_error(prices, kwargs):
    with pytest.raises(DataError):
        log_returns(prices, **kwargs)


# --- OLS and friends against closed forms -------------------------------------------------------------


def test_perp_equal_to_spot_gives_ratio_one_and_r_squared_one():
    spot, perp = synthetic_returns(beta=1.0, noise=0.0)
    estimate = OLSRatio().estimate(spot, perp)
    assert estimate.ratio == pytest.approx(1.0)
    assert estimate.r_squared == pytest.approx(1.0)
    assert estimate.effectiveness == pytest.approx(1.0)
    assert estimate.std_error == pytest.approx(0.0, abs=1e-12)


def test_ols_recovers_a_known_beta_within_its_standard_error():
    spot, perp = synthetic_returns(beta=0.8, noise=0.002)
    estimate = OLSRatio().estimate(spot, perp)
    expected_se = 0.002 / (0.01 * np.sqrt(len(spot)))
    assert estimate.std_error == pytest.approx(expected_se, rel=0.05)
    assert abs(estimate.ratio - 0.8) < 4 * estimate.std_error
    assert estimate.r_squared == pytest.approx(0.8**2 * 1e-4 / (0.8**2 * 1e-4 + 0.002**2), abs=0.01)
    assert estimate.effectiveness == pytest.approx(estimate.r_squared)


def test_estimate_reports_its_window_and_the_gaps_it_dropped():
    spot, perp = synthetic_returns(n=100)
    spot.iloc[[0, 10, 11]] = np.nan
    perp.iloc[50] = np.nan
    spot.attrs["horizon"] = "1h"
    estimate = OLSRatio().estimate(spot, perp)
    assert (estimate.observations, estimate.gaps) == (96, 3)
    assert estimate.start == spot.index[1]
    assert estimate.end == spot.index[-1]
    assert estimate.horizon == "1h"
    json.dumps(estimate.to_jsonable())


def test_horizon_is_inferred_from_the_index_when_not_recorded():
    spot, perp = synthetic_returns(n=50)
    assert OLSRatio().estimate(spot, perp).horizon == "h"


def test_too_little_data_raises():
    spot, perp = synthetic_returns(n=2)
    with pytest.raises(DataError, match="at least 3"):
        OLSRatio().estimate(spot, perp)
    with pytest.raises(DataError):
        RollingOLSRatio(window=10).estimate(*synthetic_returns(n=9))


def test_rolling_estimate_is_ols_on_the_last_window():
    spot, perp = synthetic_returns(n=300)
    rolling = RollingOLSRatio(window=100).estimate(spot, perp)
    ols = OLSRatio().estimate(spot.iloc[-100:], perp.iloc[-100:])
    assert rolling.ratio == pytest.approx(ols.ratio)
    assert rolling.std_error == pytest.approx(ols.std_error)
    assert rolling.start == spot.index[-100]


def test_ewma_matches_a_hand_computed_recursion():
    spot, perp = synthetic_returns(n=200)
    lam, cross, perp_sq = 0.9, 0.0, 0.0
    for s, p in zip(spot, perp, strict=True):
        cross, perp_sq = lam * cross + s * p, lam * perp_sq + p * p
    estimator = EWMARatio(lam)
    assert estimator.estimate(spot, perp).ratio == pytest.approx(cross / perp_sq, rel=1e-10)
    assert estimator.series(spot, perp).iloc[-1] == pytest.approx(cross / perp_sq, rel=1e-10)


def test_ewma_follows_a_beta_change_faster_than_ols():
    first, first_perp = synthetic_returns(beta=0.5, n=2000, seed=2)
    second, second_perp = synthetic_returns(beta=1.5, n=300, seed=3)
    second.index = second_perp.index = first.index[-1] + pd.to_timedelta(np.arange(1, 301), unit="h")
    spot, perp = pd.concat([first, second]), pd.concat([first_perp, second_perp])
    assert EWMARatio(0.97).estimate(spot, perp).ratio == pytest.approx(1.5, abs=0.05)
    assert OLSRatio().estimate(spot, perp).ratio < 0.7


@pytest.mark.parametrize("lam", [0.0, 1.0, 1.2])
def test_ewma_rejects_a_lambda_outside_zero_one(lam):
    with pytest.raises(DataError):
        EWMARatio(lam)


def test_fixed_ratio_only_measures():
    spot, perp = synthetic_returns(beta=1.0, noise=0.001)
    estimate = FixedRatio(0.5).estimate(spot, perp)
    assert (estimate.ratio, estimate.std_error) == pytest.approx((0.5, 0.0), abs=1e-12)
    assert estimate.effectiveness == pytest.approx(hedge_effectiveness(spot, perp, 0.5))
    assert FixedRatio(0.5).estimate(spot.iloc[:1], perp.iloc[:1]).observations == 1
    assert np.allclose(FixedRatio(0.5).series(spot, perp), 0.5, rtol=0, atol=1e-12)


ESTIMATORS = [
    FixedRatio(1.0),
    OLSRatio(),
    RollingOLSRatio(window=200),
    EWMARatio(0.97),
    OLSRatio(horizon=6),
    RollingOLSRatio(window=200, horizon=6),
    EWMARatio(0.97, horizon=6),
    ShrunkRatio(RollingOLSRatio(window=200, horizon=6), prior=0.8, burn_in=100),
    ShrunkRatio(EWMARatio(0.97), prior=1.0, c=0.01, burn_in=50),
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_series_ends_at_the_estimate_and_never_looks_ahead(estimator):
    spot, perp = synthetic_returns(n=1000)
    spot.iloc[[100, 500, 999]] = np.nan
    series = estimator.series(spot, perp)
    assert series.iloc[-1] == pytest.approx(estimator.estimate(spot, perp).ratio, rel=1e-9)
    changed_future = spot.copy()
    changed_future.iloc[700:] *= -3
    pd.testing.assert_series_equal(
        series.iloc[:700], estimator.series(changed_future, perp).iloc[:700], rtol=1e-12, atol=0
    )


def test_series_is_nan_until_enough_data():
    spot, perp = synthetic_returns(n=300)
    assert RollingOLSRatio(window=100).series(spot, perp).isna().sum() == 99
    assert OLSRatio().series(spot, perp).isna().sum() == 2
    assert EWMARatio(0.97, min_observations=50).series(spot, perp).isna().sum() == 49


@pytest.mark.parametrize("estimator", ESTIMATORS[1:], ids=repr)
def test_estimates_do_not_depend_on_the_price_level(estimator):
    rng = np.random.default_rng(4)
    perp = pd.Series(
        100 * np.exp(np.cumsum(rng.normal(0, 0.01, 400))), index=pd.date_range("2023", periods=400, freq="h")
    )
    spot = perp * np.exp(rng.normal(0, 0.002, 400))
    base = estimator.estimate(*paired_returns(spot, perp))
    scaled = estimator.estimate(*paired_returns(spot * 1234.5, perp * 0.001))
    assert scaled.ratio == pytest.approx(base.ratio, rel=1e-9)


# --- Horizon: overlapping sums, and the standard error they need ------------------------------------


def test_aggregated_returns_are_k_period_log_returns_and_never_bridge_a_gap():
    prices = pd.Series(100 * np.exp(np.cumsum(np.random.default_rng(2).normal(0, 0.01, 12))))
    prices.index = pd.date_range("2023-01-01", periods=12, freq="h", tz="UTC")
    prices.iloc[7] = np.nan
    spot, perp = paired_returns(prices, prices * 2)
    spot_3h, perp_3h = aggregate_returns(spot, perp, 3)

    assert spot_3h.iloc[4] == pytest.approx(np.log(prices.iloc[4] / prices.iloc[1]))
    assert perp_3h.iloc[4] == pytest.approx(spot_3h.iloc[4])
    assert spot_3h.isna().tolist() == [True] * 3 + [False] * 4 + [True] * 4 + [False]  # returns 7, 8 are NaN
    assert spot_3h.attrs["horizon"] == "3h"
    assert aggregate_returns(spot, perp, 1) == (spot, perp)


def test_hac_factor_is_the_bartlett_sum_of_squared_overlaps():
    assert hac_factor(1) == pytest.approx(1.0)
    for k in (2, 24):
        assert hac_factor(k) ** 2 == pytest.approx(sum((1 - abs(j) / k) ** 2 for j in range(-k + 1, k)))


def test_the_robust_standard_error_matches_the_classical_one_when_errors_are_homoskedastic():
    spot, perp = synthetic_returns(beta=0.8, noise=0.002, n=20000)
    estimate = OLSRatio().estimate(spot, perp)
    assert estimate.robust_std_error == pytest.approx(estimate.std_error, rel=0.05)


def test_the_robust_standard_error_widens_when_noise_comes_with_big_moves():
    rng = np.random.default_rng(3)
    perp = pd.Series(rng.normal(0, 0.01, 20000), index=pd.date_range("2022", periods=20000, freq="h", tz="UTC"))
    spot = perp + perp.abs() * rng.normal(0, 0.3, 20000)  # the hedge error is proportional to the move
    estimate = OLSRatio().estimate(spot, perp)
    assert estimate.robust_std_error > 1.5 * estimate.std_error


@pytest.mark.parametrize("estimator", ESTIMATORS[1:7], ids=repr)
def test_series_with_errors_ends_at_the_estimate(estimator):
    spot, perp = synthetic_returns(n=1500)
    spot.iloc[[10, 700]] = np.nan
    fitted = estimator.series_with_errors(spot, perp)
    estimate = estimator.estimate(spot, perp)
    assert fitted.iloc[-1, 0] == pytest.approx(estimate.ratio, rel=1e-10)
    assert fitted["robust_std_error"].iloc[-1] == pytest.approx(estimate.robust_std_error, rel=1e-6)


def test_basis_noise_pulls_the_hourly_slope_under_one_and_a_daily_horizon_removes_most_of_it():
    """perp = spot × e^u with u i.i.d. basis noise: the hourly slope of spot on perp is Var(s)/(Var(s) + 2σ_u²)
    (errors in variables), over k hours kσ²/(kσ² + 2σ_u²)."""
    rng = np.random.default_rng(6)
    n, sigma, sigma_u = 200_000, 0.01, 0.001
    log_spot = np.cumsum(rng.normal(0, sigma, n))
    index = pd.date_range("2000-01-01", periods=n, freq="h", tz="UTC")
    spot, perp = paired_returns(
        pd.Series(np.exp(log_spot), index), pd.Series(np.exp(log_spot + rng.normal(0, sigma_u, n)), index)
    )

    hourly = OLSRatio().estimate(spot, perp).ratio
    daily = OLSRatio(horizon=24).estimate(spot, perp).ratio
    assert hourly == pytest.approx(sigma**2 / (sigma**2 + 2 * sigma_u**2), abs=0.002)  # ≈ 0.980
    assert daily == pytest.approx(24 * sigma**2 / (24 * sigma**2 + 2 * sigma_u**2), abs=0.002)  # ≈ 0.9992


# --- Shrinkage toward a prior -------------------------------------------------------------------------


def test_shrinkage_weight_closed_forms():
    assert shrinkage_weight(0.01, 0.0) == pytest.approx(1.0)  # no doubt: the estimate stands
    assert shrinkage_weight(0.0, 0.01) == pytest.approx(0.0, abs=1e-12)  # the estimate is the prior
    assert shrinkage_weight(0.01, 0.01) == pytest.approx(0.5)  # one standard error away: half way
    assert shrinkage_weight(0.02, 0.01) == pytest.approx(0.8)  # 4 / (4 + 1)
    assert shrinkage_weight(-0.02, 0.01) == pytest.approx(0.8)  # symmetric
    assert shrinkage_weight(0.02, 0.01, c=2) == pytest.approx(2 / 3)  # c asks for more evidence
    assert shrinkage_weight(np.nan, 0.01) == pytest.approx(0.0, abs=1e-12)
    assert shrinkage_weight(0.01, np.nan) == pytest.approx(0.0, abs=1e-12)
    weights = shrinkage_weight(np.array([0.0, 0.005, 0.01, 0.03]), np.full(4, 0.01))
    np.testing.assert_allclose(weights, [0.0, 0.2, 0.5, 0.9])
    assert np.all(
        np.diff(shrinkage_weight(np.linspace(0, 0.1, 50), np.full(50, 0.01))) > 0
    )  # more evidence, more weight


def test_the_shrinkage_weight_minimises_the_expected_variance_change_when_the_deviation_is_known():
    """E[D(1 + w·x)] / Var(F) = w²(δ² + SE²) − 2wδ² for x ~ N(δ, SE²): smallest at w = δ²/(δ² + SE²),
    which is `shrinkage_weight(δ, SE)`; a Monte Carlo of the hedged variance agrees."""
    delta, se = -0.004, 0.003
    x = delta + se * np.random.default_rng(8).normal(size=200_000)
    grid = np.linspace(0, 1, 101)
    expected_change = [np.mean((w * x) ** 2 - 2 * (w * x) * delta) for w in grid]
    assert grid[np.argmin(expected_change)] == pytest.approx(shrinkage_weight(delta, se), abs=0.01)
    assert min(expected_change) < 0  # shrinking beats both the prior (w = 0) …
    assert min(expected_change) < expected_change[-1]  # … and the raw estimate (w = 1)


def test_the_shrunk_ratio_stays_near_the_prior_without_clear_evidence():
    spot, perp = exact_returns(beta=1.0014)  # standard error ≈ 0.002 / (0.01 √5000) = 0.0028: half of one
    base = OLSRatio().estimate(spot, perp)
    estimate = ShrunkRatio(OLSRatio(), prior=1.0, burn_in=0).estimate(spot, perp)
    weight = 0.0014**2 / (0.0014**2 + base.robust_std_error**2)
    assert base.ratio == pytest.approx(1.0014)
    assert estimate.params["weight"] == pytest.approx(weight)
    assert weight < 0.25
    assert estimate.ratio == pytest.approx(1 + weight * 0.0014)
    assert estimate.params["unshrunk_ratio"] == base.ratio
    assert estimate.effectiveness == pytest.approx(hedge_effectiveness(spot, perp, estimate.ratio))


def test_the_shrunk_ratio_follows_clear_evidence_and_the_weight_is_the_closed_form():
    spot, perp = exact_returns(beta=0.99)  # 0.01 away from the prior: 3.6 standard errors
    base = OLSRatio().estimate(spot, perp)
    estimate = ShrunkRatio(OLSRatio(), prior=1.0, burn_in=0).estimate(spot, perp)
    weight = 0.01**2 / (0.01**2 + base.robust_std_error**2)
    assert 0.9 < weight < 0.95
    assert estimate.params["weight"] == pytest.approx(weight)
    assert estimate.ratio == pytest.approx(1 - weight * 0.01)
    series = ShrunkRatio(OLSRatio(), prior=1.0, burn_in=0).series(spot, perp)
    assert series.iloc[-1] == pytest.approx(estimate.ratio, rel=1e-9)


def test_the_prior_is_a_parameter():
    spot, perp = exact_returns(beta=0.8)
    near = ShrunkRatio(OLSRatio(), prior=0.8014, burn_in=0).estimate(spot, perp)
    assert near.ratio == pytest.approx(0.8014 - 0.2 * 0.0014, abs=0.00005)  # half an SE away: pulled most of the way
    toward_one = ShrunkRatio(OLSRatio(), prior=1.0, burn_in=0).estimate(spot, perp)
    assert toward_one.ratio == pytest.approx(0.8, abs=0.0001)  # 70 standard errors from 1: the data win
    assert toward_one.params["prior"] == pytest.approx(1.0)


def test_the_shrunk_ratio_holds_its_prior_through_the_burn_in():
    spot, perp = synthetic_returns(beta=0.5, noise=1e-5, n=400)
    estimator = ShrunkRatio(OLSRatio(horizon=4), prior=1.0)
    assert estimator.required_observations == 30 * 4
    series = estimator.series(spot, perp)
    # the first 4-hour return is complete at row 3: the 120th observation arrives at row 122
    assert np.allclose(series.iloc[:122], 1.0, rtol=0, atol=1e-12)
    assert series.iloc[122:].sub(0.5).abs().max() < 0.001
    assert estimator.estimate(spot.iloc[:100], perp.iloc[:100]).ratio == pytest.approx(1.0)
    no_data = ShrunkRatio(OLSRatio()).estimate(spot.iloc[:2], perp.iloc[:2])
    assert no_data.ratio == pytest.approx(1.0)  # the prior


@pytest.mark.parametrize(("kwargs", "message"), [({"c": -1}, "c must"), ({"burn_in": -1}, "burn-in")])
def test_shrinkage_parameters_are_checked(kwargs, message):
    with pytest.raises(DataError, match=message):
        ShrunkRatio(OLSRatio(), **kwargs)


# --- Basis outliers ---------------------------------------------------------------------------------


def test_a_perp_far_from_its_spot_is_flagged_and_excluded_like_a_gap_and_counted():
    index = pd.date_range("2023-01-01", periods=6, freq="h", tz="UTC")
    spot = pd.Series([100, 101, 102, 103, 104, 105.0], index)
    perp = pd.Series([100, 101, 90, 103.5, 104, np.nan], index)  # 102 vs 90: ln = −12.5%; 103.5: +0.5%
    flagged = basis_outliers(perp, spot)
    assert flagged.tolist() == [False, False, True, False, False, False]  # a missing price is a gap, not an outlier
    assert basis_outliers(perp, spot, max_basis=0.004).tolist() == [False, False, True, True, False, False]
    assert pytest.approx(0.05) == MAX_BASIS

    spot_returns, perp_returns = paired_returns(spot, perp, exclude=flagged)
    assert perp_returns.isna().tolist() == [True, False, True, True, False, True]
    assert spot_returns.isna().tolist() == [True, False, True, True, False, False]
    assert spot_returns.attrs["excluded"] == perp_returns.attrs["excluded"] == 1
    assert paired_returns(spot, perp)[0].attrs["excluded"] == 0


# --- Basket -----------------------------------------------------------------------------------------


def basket_returns(n: int = 3000):
    rng = np.random.default_rng(5)
    index = pd.date_range("2022-01-01", periods=n, freq="h", tz="UTC")
    perps = pd.DataFrame(rng.multivariate_normal([0, 0], [[1e-4, 6e-5], [6e-5, 2e-4]], n), index, ["btc", "eth"])
    noise = rng.normal(0, 0.001, (n, 2))
    spots = pd.DataFrame(perps.to_numpy() @ np.array([[0.3, 1.0], [0.9, 0.2]]) + noise, index, ["steth", "basket"])
    return spots, perps


def test_basket_recovers_the_hedge_vector_of_each_spot():
    spots, perps = basket_returns()
    estimate = BasketHedge().estimate(spots, perps)
    np.testing.assert_allclose(
        estimate.ratio.to_numpy(), [[0.3, 1.0], [0.9, 0.2]], atol=4 * estimate.std_error.max().max()
    )
    assert list(estimate.ratio.index) == ["btc", "eth"]
    assert (estimate.r_squared > 0.97).all()
    json.dumps(estimate.to_jsonable())


def test_basket_with_one_perp_is_ols():
    spot, perp = synthetic_returns()
    basket = BasketHedge().estimate(spot, perp.to_frame())
    ols = OLSRatio().estimate(spot, perp)
    assert basket.ratio["perp"] == pytest.approx(ols.ratio)
    assert basket.std_error["perp"] == pytest.approx(ols.std_error)
    assert basket.r_squared == pytest.approx(ols.r_squared)


@pytest.mark.parametrize("window", [None, 500])
def test_basket_series_ends_at_the_estimate(window):
    spots, perps = basket_returns()
    spot = spots["steth"].copy()
    spot.iloc[[7, 2000]] = np.nan
    series = BasketHedge(window).series(spot, perps)
    estimate = BasketHedge(window).estimate(spot, perps)
    np.testing.assert_allclose(series.iloc[-1].to_numpy(), estimate.ratio.to_numpy(), rtol=1e-8)
    assert series.iloc[:3].isna().all().all()


def test_collinear_perps_raise():
    spot, perp = synthetic_returns(n=100)
    with pytest.raises(DataError, match="collinear"):
        BasketHedge().estimate(spot, pd.DataFrame({"a": perp, "b": 2 * perp}))


# --- Oracle round history ---------------------------------------------------------------------------


def test_oracle_rounds_stand_for_one_heartbeat_only():
    start = int(pd.Timestamp("2023-01-01", tz="UTC").timestamp())
    updated = [start + 600, start + 3600 + 60, start + 5 * 3600 + 10]
    prices = oracle_round_prices(updated, [100_00000000, 101_00000000, 104_00000000], 8, heartbeat_s=7200)
    assert prices.tolist()[:3] == pytest.approx([100.0, 101.0, 101.0])
    assert np.isnan(prices.iloc[3])  # the 01:00:60 answer is older than the heartbeat at 04:00
    assert prices.iloc[5] == pytest.approx(104.0)


# --- Real data: shared/data, 2019–2023 ---------------------------------------------------------------


def test_btc_spot_on_btc_perp_hourly(btc, eth):
    spot, perp = paired_returns(btc["spot_close"], btc["perp_close"])
    estimate = OLSRatio().estimate(spot, perp)
    assert estimate.ratio == pytest.approx(0.995, abs=0.0005)
    assert estimate.effectiveness == pytest.approx(0.9963, abs=0.0001)
    assert estimate.gaps > 30  # the real spot outages were dropped, not filled
    assert estimate.start.year == 2019 and estimate.end.year == 2023


def test_eth_spot_on_eth_perp_hourly(eth):
    estimate = OLSRatio().estimate(*paired_returns(eth["spot_close"], eth["perp_close"]))
    assert estimate.ratio == pytest.approx(0.988, abs=0.0005)


def test_the_eth_perp_listing_hours_are_the_only_ones_beyond_five_percent(btc, eth):
    flagged = basis_outliers(eth["perp_close"], eth["spot_close"])
    assert flagged.index[flagged].strftime("%Y-%m-%d %H:%M").tolist() == ["2019-11-27 08:00", "2019-11-27 09:00"]
    assert not basis_outliers(btc["perp_close"], btc["spot_close"]).any()


def test_the_eth_listing_print_alone_moves_the_eth_hourly_ratio(eth):
    returns = paired_returns(eth["spot_close"], eth["perp_close"])
    filtered = paired_returns(
        eth["spot_close"], eth["perp_close"], exclude=basis_outliers(eth["perp_close"], eth["spot_close"])
    )
    assert OLSRatio().estimate(*returns).ratio == pytest.approx(0.9875, abs=0.0001)
    assert OLSRatio().estimate(*filtered).ratio == pytest.approx(0.9915, abs=0.0001)  # two hours of 35 897
    assert filtered[0].attrs["excluded"] == 2


@pytest.mark.parametrize(("asset", "expected"), [("btc", 0.9951), ("eth", 0.9963)])
def test_same_asset_one_day_ratio_sits_just_under_one_and_is_precise(request, asset, expected):
    """The ratio a same-asset hedge runs at: one-day horizon, listing prints excluded (2019–2023)."""
    history = request.getfixturevalue(asset)
    exclude = basis_outliers(history["perp_close"], history["spot_close"])
    estimate = OLSRatio(horizon=24).estimate(
        *paired_returns(history["spot_close"], history["perp_close"], exclude=exclude)
    )
    assert estimate.ratio == pytest.approx(expected, abs=0.0001)
    assert estimate.horizon == "24h"
    assert (1 - estimate.ratio) / estimate.robust_std_error > 2  # BTC 2.5, ETH 4.8 robust standard errors under 1


@pytest.mark.parametrize(("horizon", "expected_ratio", "expected_he"), [("1h", 1.064, 0.723), ("1D", 1.092, 0.707)])
def test_eth_cross_hedged_with_the_btc_perp(btc, eth, horizon, expected_ratio, expected_he):
    spot, perp = paired_returns(eth["spot_close"], btc["perp_close"], horizon)
    estimate = OLSRatio().estimate(spot, perp)
    assert estimate.ratio == pytest.approx(expected_ratio, abs=0.0005)
    assert estimate.effectiveness == pytest.approx(expected_he, abs=0.0005)
    assert hedge_effectiveness(spot, perp, 1.0) < estimate.effectiveness


@pytest.mark.parametrize(
    "make", [lambda: OLSRatio(horizon=0), lambda: RollingOLSRatio(10, horizon=0), lambda: EWMARatio(0.9, horizon=-1)]
)
def test_a_horizon_under_one_period_is_refused(make):
    with pytest.raises(DataError, match="horizon"):
        make()
