"""The accounting loop against closed forms on synthetic histories."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from hedger.backtest.engine import BacktestConfig, CostModel, MarginModel, run_backtest, target_perp_units
from hedger.backtest.metrics import compute_metrics
from hedger.backtest.policies import HedgePolicy, policy_from_name
from hedger.model import Exposure
from hedger.strategy.parameters import SizingSettings
from hedger.strategy.policy import RebalancePolicy
from hedger.strategy.ratio import FixedRatio
from hedger.strategy.sizing import target_units
from tests.unit.backtest.synthetic import random_walk, synthetic_history

FREE = BacktestConfig(costs=CostModel(0.0, 0.0, 0.0), margin=MarginModel(leverage=1.0, top_up_below=None))
ALWAYS_TRADE = RebalancePolicy(
    band_rel=Decimal(0),
    min_notional_usd=Decimal(0),
    cooldown_s=0,
    breach_override_rel=Decimal(0),
    worth_it_multiple=Decimal(0),
)


def one_to_one(rebalance: RebalancePolicy | None = None) -> HedgePolicy:
    return HedgePolicy("one_to_one", FixedRatio(1.0), rebalance or RebalancePolicy())


def test_a_perfect_hedge_has_zero_variance():
    prices = random_walk(2000)
    result = run_backtest(synthetic_history(prices), one_to_one(), FREE)
    metrics = compute_metrics(result)

    assert np.abs(result.price_pnl_usd).max() < 1e-6
    assert metrics["hedged_vol_annualised"] < 1e-10
    assert metrics["he_1h"] == pytest.approx(1.0, abs=1e-12)
    assert metrics["he_1d"] == pytest.approx(1.0, abs=1e-12)
    assert metrics["unhedged_vol_annualised"] == pytest.approx(0.01 * np.sqrt(8760), rel=0.05)


def test_unhedged_book_is_the_spot_and_never_trades():
    prices = random_walk(500)
    result = run_backtest(synthetic_history(prices), policy_from_name("unhedged"), BacktestConfig())
    metrics = compute_metrics(result)

    assert metrics["he_1h"] == pytest.approx(0.0, abs=1e-12)  # 1 - var/var: rounding may leave ±2e-16
    assert metrics["rebalances"] == 0
    assert np.allclose(result.book_value_usd, result.unhedged_value_usd)


def test_funding_pnl_is_rate_times_notional_summed_for_a_constant_position():
    hours = 24 * 30
    prices = random_walk(hours, seed=3)
    rates = np.where(np.arange(hours) % 8 == 0, np.random.default_rng(4).normal(1e-4, 2e-4, hours), 0.0)
    rates[0] = 0.0
    result = run_backtest(synthetic_history(prices, funding_rate=rates), one_to_one(), FREE)

    short_units = result.spot_units  # 1:1 on identical prices: the target never moves, the position never changes
    assert np.all(result.perp_size == -short_units)
    expected = np.sum(rates * short_units * prices)
    assert result.funding_usd.sum() == pytest.approx(expected, rel=1e-12)
    assert np.count_nonzero(result.funding_usd) == np.count_nonzero(rates)


def test_a_positive_rate_pays_the_short_hedge_and_a_negative_one_costs_it():
    prices = np.full(10, 100.0)
    rates = np.zeros(10)
    rates[[4, 8]] = [0.001, -0.0005]
    result = run_backtest(synthetic_history(prices, funding_rate=rates), one_to_one(), FREE)

    notional = result.spot_units * 100.0
    assert result.funding_usd[4] == pytest.approx(0.001 * notional)
    assert result.funding_usd[8] == pytest.approx(-0.0005 * notional)


def test_an_hourly_funding_source_is_paid_every_hour():
    prices = np.full(49, 100.0)
    rates = np.full(49, 1e-5)
    rates[0] = 0.0
    history = synthetic_history(prices, funding_rate=rates, funding_interval_h=1)
    result = run_backtest(history, one_to_one(), FREE)

    assert np.count_nonzero(result.funding_usd) == 48
    assert result.funding_usd.sum() == pytest.approx(48 * 1e-5 * result.spot_units * 100.0)


def test_fees_slippage_and_gas_are_rates_times_traded_notional():
    spot, perp = random_walk(3000, seed=11), random_walk(3000, seed=12)
    costs = CostModel(taker_fee_rate=0.0005, slippage_rate=0.0002, gas_usd_per_rebalance=1.5)
    history = synthetic_history(spot, perp, hedge_asset="OTHER")  # a cross hedge: the target moves with prices
    result = run_backtest(history, one_to_one(), BacktestConfig(costs=costs))

    trade_sizes = np.diff(result.perp_size, prepend=0.0)
    trades = np.flatnonzero(trade_sizes)
    traded_notional = np.abs(trade_sizes[trades]) * perp[trades]
    assert len(trades) > 20
    assert result.trading_fee_usd.sum() == pytest.approx(0.0005 * traded_notional.sum(), rel=1e-12)
    assert result.slippage_usd.sum() == pytest.approx(0.0002 * traded_notional.sum(), rel=1e-12)
    assert result.gas_usd.sum() == pytest.approx(1.5 * len(trades))
    assert compute_metrics(result)["rebalances"] == len(trades)


def test_with_no_band_the_held_ratio_is_the_target_after_every_close():
    spot, perp = random_walk(500, seed=21), random_walk(500, seed=22)
    result = run_backtest(synthetic_history(spot, perp), one_to_one(ALWAYS_TRADE), FREE)

    assert np.allclose(result.realised_ratio, 1.0)
    assert compute_metrics(result)["tracking_error_annualised"] < 1e-12


def test_book_value_is_spot_plus_every_cash_flow():
    spot, perp = random_walk(1000, seed=31), random_walk(1000, seed=32)
    rates = np.where(np.arange(1000) % 8 == 0, 1e-4, 0.0)
    result = run_backtest(synthetic_history(spot, perp, rates), one_to_one(), BacktestConfig())

    perp_pnl = np.sum(result.held_size[1:] * np.diff(perp))
    expected = result.spot_units * spot[-1] + perp_pnl + result.funding_usd.sum() - result.costs_usd.sum()
    assert result.book_value_usd[-1] == pytest.approx(expected, rel=1e-12)


def test_a_jump_through_maintenance_is_a_liquidation_and_the_policy_reopens():
    prices = np.array([100.0] * 5 + [108.0] * 5)
    margin = MarginModel(leverage=10.0, maintenance_margin_ratio=0.03, top_up_below=None, liquidation_fee_rate=0.03)
    result = run_backtest(synthetic_history(prices), one_to_one(), BacktestConfig(margin=margin))

    (event,) = result.liquidations
    units = result.spot_units
    assert event.close_time_utc == result.history.close_time[5].isoformat()
    assert event.equity_usd == pytest.approx(0.1 * units * 100.0 - units * 8.0)  # collateral minus the loss
    assert event.loss_usd == pytest.approx(event.equity_usd)  # less than 3% of notional left: all of it is lost
    assert result.perp_size[5] == pytest.approx(-units)  # the breach override reopens the hedge at once
    assert compute_metrics(result)["liquidation_loss_usd"] == pytest.approx(event.loss_usd)


def test_top_ups_keep_a_slowly_losing_short_alive():
    prices = 100.0 * 1.01 ** np.arange(60)
    margin = MarginModel(leverage=5.0, maintenance_margin_ratio=0.03, top_up_below=0.5)
    result = run_backtest(synthetic_history(prices), one_to_one(), BacktestConfig(margin=margin))

    assert result.liquidations == ()
    assert result.top_ups >= 1
    assert result.top_up_usd > 0


def test_without_top_ups_the_same_path_liquidates():
    prices = 100.0 * 1.01 ** np.arange(60)
    margin = MarginModel(leverage=5.0, maintenance_margin_ratio=0.03, top_up_below=None)
    result = run_backtest(synthetic_history(prices), one_to_one(), BacktestConfig(margin=margin))

    assert len(result.liquidations) >= 1
    assert result.top_ups == 0


def test_a_gap_freezes_the_position_and_the_return_across_it_is_dropped():
    spot, perp = random_walk(200, seed=41), random_walk(200, seed=42)
    spot[[100, 101]] = np.nan
    result = run_backtest(synthetic_history(spot, perp), one_to_one(ALWAYS_TRADE), FREE)
    metrics = compute_metrics(result)

    assert result.perp_size[100] == result.perp_size[101] == result.perp_size[99]
    held = result.perp_size[99]
    assert result.price_pnl_usd[102] == pytest.approx(
        result.spot_units * (spot[102] - spot[99]) + held * (perp[102] - perp[99])
    )
    assert result.price_pnl_usd[[100, 101]].tolist() == pytest.approx([0.0, 0.0], abs=1e-9)
    assert np.isnan(result.book_value_usd[[100, 101]]).all()
    assert metrics["hours_dropped_gap"] == 1
    assert metrics["hours_used"] == 199 - 3


@pytest.mark.parametrize("hedge_asset", ["SYN", "OTHER"])
def test_targets_are_what_the_live_sizing_code_targets(hedge_asset):
    spot, perp = random_walk(50, seed=51), random_walk(50, seed=52, start=30.0)
    history = synthetic_history(spot, perp, hedge_asset=hedge_asset)
    ratio = np.linspace(0.5, 1.5, 50)
    settings = SizingSettings(hedge_with={"SYN": hedge_asset})

    vectorised = target_perp_units(history, ratio, spot_units=12.5)

    for row in (0, 17, 49):
        exposure = Exposure("SYN", spot=Decimal("12.5"), perp=Decimal(0), price=Decimal(str(spot[row])))
        prices = {"SYN": Decimal(str(spot[row])), "OTHER": Decimal(str(perp[row]))}
        live = target_units([exposure], {"SYN": Decimal(str(ratio[row]))}, prices, settings)
        assert float(live.units[hedge_asset]) == pytest.approx(vectorised[row], rel=1e-12)
