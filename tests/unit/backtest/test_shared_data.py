"""The backtest on shared/data against the reference figures (shared/reference/hedging.md), out of sample."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hedger.backtest.engine import run_backtest
from hedger.backtest.metrics import compute_metrics
from hedger.backtest.policies import policy_from_name

ESTIMATORS = ("ols", "rolling_ols", "ewma")


def he_1h(history, name: str) -> float:
    return compute_metrics(run_backtest(history, policy_from_name(name)))["he_1h"]


def test_one_to_one_btc_hedge_removes_99_6_percent_of_hourly_variance(btc_with_btc):
    metrics = compute_metrics(run_backtest(btc_with_btc, policy_from_name("one_to_one")))

    assert metrics["he_1h"] == pytest.approx(0.9963, abs=0.0005)  # hedging.md: 99.63% (log returns, in sample)
    assert metrics["he_1d"] > 0.999
    assert metrics["hours_dropped_gap"] > 0
    assert 12 < metrics["funding_pct_per_year"] < 25  # hedging.md: BTC funding 4–31% a year, mostly positive
    assert metrics["liquidations"] == 0


def test_same_asset_estimators_lose_at_most_hundredths_of_a_percent_to_one_to_one(btc_with_btc):
    """hedging.md: a ratio model cannot beat 1:1 on a same-asset hedge by more than hundredths of a percent.
    Out of sample none beats it here: a band locks in a stale estimate, and every hour's re-estimate is noise."""
    baseline = he_1h(btc_with_btc, "one_to_one")
    for name in ESTIMATORS:
        assert baseline - 0.0005 < he_1h(btc_with_btc, name) <= baseline, name
        assert baseline - 0.00005 < he_1h(btc_with_btc, f"{name}_band_0") <= baseline, name


def test_eth_hedged_with_the_btc_perp_keeps_above_70_percent_hourly(eth_with_btc):
    assert he_1h(eth_with_btc, "one_to_one") == pytest.approx(0.720, abs=0.006)  # hedging.md: 72.0% for 1:1
    for name in ESTIMATORS:
        assert he_1h(eth_with_btc, name) >= 0.70, name


def test_decisions_never_see_the_future(eth_with_btc):
    history = eth_with_btc
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
    for name in ("ols", "rolling_ols", "ewma_band_1"):
        original = run_backtest(history, policy_from_name(name))
        changed = run_backtest(perturbed, policy_from_name(name))
        past = slice(0, cutoff + 1)

        assert np.array_equal(original.target_ratio[past], changed.target_ratio[past]), name
        assert np.array_equal(original.perp_size[past], changed.perp_size[past]), name
        assert np.array_equal(np.cumsum(original.book_pnl_usd)[past], np.cumsum(changed.book_pnl_usd)[past]), name
        assert not np.array_equal(original.perp_size[future], changed.perp_size[future]), name
