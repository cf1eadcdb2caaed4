"""The backtest on shared/data against the reference figures (shared/reference/hedging.md), out of sample.

Issue #7's target: out of sample, a same-asset hedge's HE is never below 1:1's; ETH hedged with the BTC perp
keeps ≥ 70% at 1 h. Every estimator here is estimated on the past and applied to the next hour."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hedger.backtest.engine import run_backtest
from hedger.backtest.metrics import compute_metrics
from hedger.backtest.policies import policy_from_name

ESTIMATORS = ("ols", "rolling_ols", "ewma")
BANDS = ("", "_band_0")  # the planner's default 5% band, and re-estimated and rebalanced every hour
SAME_ASSET = ("btc_with_btc", "eth_with_eth", "btc_with_btc_dydx")


_RUNS: dict[tuple[int, str], dict] = {}


def he(history, name: str) -> tuple[float, float]:
    """(HE 1 h, HE 1 d) of a named policy; each run once per session (1:1 is the benchmark of many tests)."""
    key = (id(history), name)
    if key not in _RUNS:
        _RUNS[key] = compute_metrics(run_backtest(history, policy_from_name(name)))
    return _RUNS[key]["he_1h"], _RUNS[key]["he_1d"]


def test_one_to_one_btc_hedge_removes_99_6_percent_of_hourly_variance(btc_with_btc):
    metrics = compute_metrics(run_backtest(btc_with_btc, policy_from_name("one_to_one")))

    assert metrics["he_1h"] == pytest.approx(0.9963, abs=0.0005)  # hedging.md: 99.63% (log returns, in sample)
    assert metrics["he_1d"] > 0.999
    assert metrics["hours_dropped_gap"] > 0
    assert 12 < metrics["funding_pct_per_year"] < 25  # hedging.md: BTC funding 4–31% a year, mostly positive
    assert metrics["liquidations"] == 0


@pytest.mark.parametrize("history_name", SAME_ASSET)
@pytest.mark.parametrize("band", BANDS, ids=("band_5", "band_0"))
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_same_asset_estimators_are_never_below_one_to_one(request, history_name, band, estimator):
    """The target, exactly: at 1 h and at 1 d, at the default band and rebalanced hourly. With the default band
    the shrunk estimates never leave it, so they tie 1:1 to the last digit; hourly they gain a few thousandths
    of a percentage point (the most a same-asset ratio model can give, hedging.md)."""
    history = request.getfixturevalue(history_name)
    one_to_one_1h, one_to_one_1d = he(history, "one_to_one")
    he_1h, he_1d = he(history, estimator + band)

    assert he_1h >= one_to_one_1h
    assert he_1d >= one_to_one_1d
    assert he_1h - one_to_one_1h < 0.0001  # and never more than hundredths of a percent either


@pytest.mark.parametrize("band", BANDS, ids=("band_5", "band_0"))
@pytest.mark.parametrize("name", ("one_to_one", *ESTIMATORS))
def test_eth_hedged_with_the_btc_perp_keeps_above_70_percent_hourly(eth_with_btc, name, band):
    he_1h, _ = he(eth_with_btc, name + band)
    assert he_1h >= 0.70
    if name == "one_to_one" and not band:
        assert he_1h == pytest.approx(0.720, abs=0.006)  # hedging.md: 72.0% for 1:1


def test_basis_outliers_are_counted_like_gaps(btc_with_btc, eth_with_eth, eth_with_btc):
    # the ETH perp's first listing hours closed at 133 against 145 and 142 spot: left out of estimation, counted
    assert eth_with_eth.gaps.basis_outlier_hours == 2
    assert eth_with_eth.gaps.first_basis_outlier_hours == ("2019-11-27T09:00:00+00:00", "2019-11-27T10:00:00+00:00")
    assert btc_with_btc.gaps.basis_outlier_hours == 0  # BTC's widest basis (Sept 2019, March 2020) stays under 5%
    assert eth_with_btc.gaps.basis_outlier_hours == 0  # the BTC perp against BTC spot


@pytest.mark.parametrize("history_name", ("eth_with_btc", "btc_with_btc"))
def test_decisions_never_see_the_future(request, history_name):
    history = request.getfixturevalue(history_name)
    cutoff = len(history) // 2
    rng = np.random.default_rng(5)
    future = np.arange(len(history)) > cutoff
    noise = np.where(future, np.exp(rng.normal(0, 0.05, len(history))), 1.0)
    perturbed = dataclasses.replace(
        history,
        spot_usd=history.spot_usd * noise,
        perp_usd=history.perp_usd / noise,
        funding_price_usd=history.funding_price_usd / noise,
        funding_rate=np.where(future, rng.normal(0, 1e-3, len(history)) * history.valid, history.funding_rate),
    )
    for name in ("ols", "rolling_ols_band_0", "ewma_band_1"):
        original = run_backtest(history, policy_from_name(name))
        changed = run_backtest(perturbed, policy_from_name(name))
        past = slice(0, cutoff + 1)

        np.testing.assert_allclose(original.target_ratio[past], changed.target_ratio[past], rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(original.perp_size[past], changed.perp_size[past], rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(
            np.cumsum(original.book_pnl_usd)[past], np.cumsum(changed.book_pnl_usd)[past], rtol=1e-12, err_msg=name
        )
        assert not np.array_equal(original.perp_size[future], changed.perp_size[future]), name
