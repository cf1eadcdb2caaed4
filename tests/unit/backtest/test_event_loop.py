"""The event-driven loop gives exactly what the row-by-row loop gave, on real shared/data histories.

`row_by_row` is the engine's loop as it was before it jumped from event to event (one `rebalance_decision`
per valid row, the margin account updated every row): kept here, compact, as the reference. Positions, trades,
margin events and decision codes must be identical, bit for bit (same machine, same operations in the same
order), and so every P&L array the accounting derives from them.
"""

from __future__ import annotations

import math
from collections import Counter
from decimal import Decimal

import numpy as np
import pytest

from hedger.backtest.engine import (
    BacktestConfig,
    CostModel,
    MarginModel,
    PreparedHistory,
    _account,
    _Path,
    planner_policy,
    run_backtest,
    target_perp_units,
)
from hedger.backtest.policies import policy_from_name, target_ratio
from hedger.strategy.policy import RebalancePolicy, rebalance_decision

WINDOW = ("2020-01-01", "2021-07-01")  # 18 months: the March 2020 crash, the 2021 rally, gaps, funding spikes
CONFIGS = {
    "default": BacktestConfig(),
    "10x, no top-ups": BacktestConfig(margin=MarginModel(leverage=10.0, top_up_below=None)),
    "20x, tight top-ups": BacktestConfig(margin=MarginModel(leverage=20.0, top_up_below=0.9)),
    "free trading": BacktestConfig(costs=CostModel(0.0, 0.0, 0.0)),
}
POLICIES = ("one_to_one", "partial_50", "ewma", "rolling_ols_168_band_1", "ols_band_25", "band_2", "unhedged")


def row_by_row(history, target, rebalance, margin) -> _Path:
    """The reference: every valid row through the margin check and `rebalance_decision`."""
    initial = 1.0 / margin.leverage
    top_up = -math.inf if margin.top_up_below is None else margin.top_up_below * initial
    close_s = history.close_time.as_unit("s").asi8.tolist()
    path = _Path(perp_size=np.zeros(len(history)))
    codes: Counter[str] = Counter()
    size = equity = 0.0
    last_trade_s, previous = -math.inf, math.nan
    for i, price in enumerate(history.perp_usd.tolist()):
        if history.valid[i]:
            if size:
                equity += size * (price - previous) - size * history.funding_rate[i] * history.funding_price_usd[i]
                notional = abs(size) * price
                if equity < margin.maintenance_margin_ratio * notional:
                    path.liquidation_rows.append(i)
                    path.liquidation_equity_usd.append(equity)
                    size = equity = 0.0
                    last_trade_s = close_s[i]
                elif equity < top_up * notional:
                    path.top_up_usd.append(initial * notional - equity)
                    equity = initial * notional
            previous = price
            decision = rebalance_decision(size, float(target[i]), price, close_s[i] - last_trade_s, rebalance)
            codes[decision.code] += 1
            if decision.trade:
                size += decision.size_delta
                equity = initial * abs(size) * price
                last_trade_s = close_s[i]
                path.trade_rows.append(i)
                path.trade_sizes.append(decision.size_delta)
        path.perp_size[i] = size
    path.codes = dict(codes)
    return path


def both_engines(history, name, config):
    policy = policy_from_name(name).for_history(history)
    ratio = target_ratio(history, policy)
    result = run_backtest(history, policy, config, ratio)
    rebalance = planner_policy(policy, config.costs)
    reference = row_by_row(history, target_perp_units(history, ratio, result.spot_units), rebalance, config.margin)
    expected = _account(PreparedHistory.of(history), policy, rebalance, config, ratio, result.spot_units, reference)
    return result, expected, reference


def assert_identical(result, expected, reference) -> None:
    assert np.array_equal(result.perp_size, reference.perp_size)
    assert result.decision_codes == reference.codes
    assert len(result.liquidations) == len(reference.liquidation_rows) and result.liquidations == expected.liquidations
    assert (result.top_ups, result.top_up_usd) == (expected.top_ups, expected.top_up_usd)
    for field in ("traded_notional_usd", "price_pnl_usd", "funding_usd", "liquidation_loss_usd", "book_value_usd"):
        assert np.array_equal(getattr(result, field), getattr(expected, field), equal_nan=True), field


@pytest.mark.parametrize("config", CONFIGS, ids=str)
@pytest.mark.parametrize("history_name", ["btc_with_btc", "eth_with_btc", "eth_with_eth"])
def test_every_policy_matches_the_row_by_row_loop(request, history_name, config):
    history = request.getfixturevalue(history_name).between(*WINDOW)
    events = Counter()
    for name in POLICIES:
        result, expected, reference = both_engines(history, name, CONFIGS[config])
        assert_identical(result, expected, reference)
        events.update(trades=len(reference.trade_rows), liquidations=len(reference.liquidation_rows),
                      top_ups=len(reference.top_up_usd))  # fmt: skip
    assert events["trades"] > 10  # the comparison covered real events, not only quiet rows
    if config != "default":
        assert events["liquidations"] + events["top_ups"] > 0


def test_dense_trading_and_cooldowns_match_too(eth_with_btc):
    """Nearly every hour a trade candidate (a 0.1% band), a three-hour cooldown its override lets through at 2%,
    a minimum notional and a worth-it test that each refuse some."""
    history = eth_with_btc.between(*WINDOW)
    rebalance = RebalancePolicy(band_rel=Decimal("0.001"), min_notional_usd=Decimal(1500), cooldown_s=3 * 3600,
                                breach_override_rel=Decimal("0.02"), worth_it_multiple=Decimal(20))  # fmt: skip
    policy = policy_from_name("rolling_ols_168", rebalance)
    config = BacktestConfig(margin=MarginModel(leverage=25.0, top_up_below=0.95))
    ratio = target_ratio(history, policy.for_history(history))
    result = run_backtest(history, policy, config, ratio)
    planner = planner_policy(policy.for_history(history), config.costs)
    reference = row_by_row(history, target_perp_units(history, ratio, result.spot_units), planner, config.margin)
    assert np.array_equal(result.perp_size, reference.perp_size)
    assert result.decision_codes == reference.codes
    assert {"cooldown", "breach_override", "below_min_notional", "not_worth_it"} <= set(reference.codes)
