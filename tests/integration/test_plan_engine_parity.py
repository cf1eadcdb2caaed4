"""The plan engine and the fast engine make the same trades and P&L (1e-9 relative) on a year of real hourly data
where no guard fires: ETH held, hedged with the BTC perp, EWMA ratio, 2023."""

from __future__ import annotations

import numpy as np
import pytest

from hedger.backtest.data import align, load_binance
from hedger.backtest.engine import run_backtest
from hedger.backtest.plan_engine import PlanEngineConfig, run_plan_backtest
from hedger.backtest.policies import policy_from_name
from hedger.model import Verdict
from tests.support.data import data_file

pytestmark = pytest.mark.slow

GUARD_REASONS = {"oracle_stale", "oracle_broken", "blocked_by_guard", "leverage_above_max", "mark_oracle_apart"}


def _trades(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    deltas = np.diff(np.concatenate(([0.0], sizes)))
    rows = np.flatnonzero(deltas != 0)
    return rows, deltas[rows]


@pytest.fixture(scope="module")
def eth_with_btc_2023():
    eth = load_binance(data_file("binance_ethusdt_1h_2019_2023.csv"))
    btc = load_binance(data_file("binance_btcusdt_1h_2019_2023.csv"))
    return align(eth, btc).between("2023-01-01", "2024-01-01")


def test_both_engines_make_the_same_trades_and_pnl_on_a_year_of_real_data(eth_with_btc_2023):
    history = eth_with_btc_2023
    policy = policy_from_name("ewma")
    fast = run_backtest(history, policy)
    replay = run_plan_backtest(history, policy, engine=PlanEngineConfig(initial_collateral_usd=2_000_000))
    plan = replay.result
    assert set(replay.verdicts) == {Verdict.ALLOW.value}  # no guard fired all year
    assert not set(replay.reason_codes) & GUARD_REASONS and replay.rejected_fills == 0
    fast_rows, fast_sizes = _trades(fast.perp_size)
    plan_rows, plan_sizes = _trades(plan.perp_size)
    assert len(fast_rows) > 50 and np.array_equal(fast_rows, plan_rows)
    np.testing.assert_allclose(plan_sizes, fast_sizes, rtol=1e-9)
    for name in ("price_pnl_usd", "funding_usd", "costs_usd", "book_pnl_usd"):
        a, b = getattr(fast, name).sum(), getattr(plan, name).sum()
        assert b == pytest.approx(a, rel=1e-9), name
    np.testing.assert_allclose(plan.book_value_usd[history.valid], fast.book_value_usd[history.valid], rtol=1e-9)
