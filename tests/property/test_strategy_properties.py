"""Properties of the hedge engine, over generated accounts, guards, settings and price paths:

1. a plan never increases exposure when a guard says reduce-only or halt;
2. sizes never exceed caps (order size, per-market notional, account leverage);
3. unwinding to zero is never blocked by a cooldown;
4. ratio estimates are invariant to the price level.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hedger.model import ActionKind, Verdict
from hedger.strategy.parameters import SizingSettings, StrategySettings
from hedger.strategy.plan import build_plan
from hedger.strategy.policy import RebalancePolicy, rebalance_decision
from hedger.strategy.ratio import EWMARatio, OLSRatio, RollingOLSRatio, paired_returns
from hedger.strategy.state import PlannerState, PricePoint
from tests.unit.strategy import factory as f
from tests.unit.strategy.factory import NOW

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ORDER_KINDS = (ActionKind.OPEN, ActionKind.INCREASE, ActionKind.DECREASE, ActionKind.CLOSE)

sizes = st.decimals(min_value=-40, max_value=40, places=3)
holdings = st.decimals(min_value=0, max_value=40, places=3)
equities = st.decimals(min_value=0, max_value=200_000, places=2)


def _failed(role: str):
    return f.reading("ETH", role=role, error="reverted", answer=None)


TRIPS = {
    "sequencer_down": lambda s: replace(s, sequencer=f.sequencer(up=False)),
    "sequencer_grace": lambda s: replace(s, sequencer=f.sequencer(since_s=100)),
    "stale": lambda s: f.with_oracle(s, f.reading("ETH", age_s=4000)),
    "broken": lambda s: f.with_oracle(s, f.reading("ETH", answer=0)),
    "both_failed": lambda s: f.with_oracle(f.with_oracle(s, _failed("primary")), _failed("secondary")),
    "sources_apart": lambda s: f.with_oracle(s, f.reading("ETH", 3200, role="secondary")),
    "jump": lambda s: f.with_oracle(f.with_oracle(s, f.reading("ETH", 1400, previous=3000)), _failed("secondary")),
    "mark_off": lambda s: replace(s, funding=(f.funding(f.ETH, mark="3100"),)),
    "punitive_funding": lambda s: replace(s, funding=(f.funding(f.ETH, rate="-0.001"),)),
    "unknown_funding": lambda s: replace(s, funding=(f.funding(f.ETH, rate=None),)),
    "depeg_pause": lambda s: f.with_oracle(s, f.reading("USDC", "0.97", heartbeat_s=86_400)),
    "depeg_reduce": lambda s: f.with_oracle(s, f.reading("USDC", "0.90", heartbeat_s=86_400)),
    "near_liquidation": lambda s: replace(s, margins=(f.margin(equity=1000, notional=30_000),)),
}


def account(eth, hedge, equity, usdc) -> f.Snapshot:
    notional = abs(hedge) * 3000
    return f.snapshot(eth=eth, hedge=hedge, usdc=usdc, margins=(f.margin(equity=equity, notional=notional),))


def position_moves(plan, start):
    """(before, after) of each order, replayed per market in plan order."""
    position = dict(start)
    for action in plan.actions:
        if action.kind in ORDER_KINDS:
            key = f"{action.venue}:{action.symbol}"
            before = position.get(key, D(0))
            position[key] = before + action.size_delta
            yield action, before, position[key]


@FAST
@given(
    eth=holdings,
    hedge=sizes,
    equity=equities,
    usdc=st.decimals(min_value=0, max_value=100_000, places=2),
    trips=st.sets(st.sampled_from(sorted(TRIPS)), min_size=1, max_size=3),
    last_good=st.booleans(),
    since=st.one_of(st.none(), st.integers(0, 10_000)),
)
def test_a_plan_never_increases_exposure_under_reduce_only_or_halt(eth, hedge, equity, usdc, trips, last_good, since):
    snap = account(eth, hedge, equity, usdc)
    for trip in sorted(trips):
        snap = TRIPS[trip](snap)
    state = PlannerState(
        last_good_prices={"ETH": PricePoint(D(2950), NOW - 600)} if last_good else {},
        last_trade_at={} if since is None else {"ref:ETH": NOW - since},
    )
    plan = build_plan(snap, state=state)
    if eth or hedge:  # with nothing held and nothing open, no market is governed and the verdict may stay allow
        assert plan.verdict is not Verdict.ALLOW
    assert all(
        a.kind not in (ActionKind.OPEN, ActionKind.INCREASE, ActionKind.WITHDRAW_COLLATERAL) for a in plan.actions
    )
    for _, before, after in position_moves(plan, {"ref:ETH": D(hedge)}):
        assert abs(after) < abs(before)
        assert after == 0 or (after > 0) == (before > 0)


@FAST
@given(
    eth=holdings,
    hedge=sizes,
    equity=st.one_of(equities, st.decimals(min_value=10_000, max_value=60_000, places=0)),
    usdc=st.decimals(min_value=0, max_value=100_000, places=2),
    max_notional=st.decimals(min_value=1_000, max_value=200_000, places=0),
    max_order=st.decimals(min_value=100, max_value=50_000, places=0),
    max_leverage=st.decimals(min_value=2, max_value=8, places=1),
)
def test_sizes_never_exceed_caps(eth, hedge, equity, usdc, max_notional, max_order, max_leverage):
    snap = account(eth, hedge, equity, usdc)
    sizing = SizingSettings(max_notional_usd=max_notional, max_leverage=max_leverage, target_leverage=D(2))
    policy = RebalancePolicy(max_order_notional_usd=max_order)
    plan = build_plan(snap, StrategySettings(sizing=sizing, policy=policy))
    price, step = D(3000), f.ETH.size_step
    added_usd = sum((a.collateral_delta for a in plan.actions if a.kind is ActionKind.ADD_COLLATERAL), D(0))
    final = D(hedge)
    for action, before, after in position_moves(plan, {"ref:ETH": D(hedge)}):
        assert abs(action.size_delta) * price <= max_order or abs(action.size_delta) == step
        final = after
        if abs(after) > abs(before):
            assert abs(after) * price <= max_notional
    if abs(final) > abs(D(hedge)):
        equity_after = D(equity) + added_usd
        assert abs(final) * price <= equity_after * min(max_leverage, f.ETH.max_leverage) + D("1e-9")


@FAST
@given(hedge=sizes.filter(lambda s: s != 0), since=st.integers(0, 10_000), cooldown=st.integers(1, 100_000))
def test_unwinding_to_zero_is_never_blocked_by_a_cooldown(hedge, since, cooldown):
    policy = RebalancePolicy(cooldown_s=cooldown)
    decision = rebalance_decision(hedge, D(0), D(3000), since, policy)
    assert decision.trade and decision.size_delta == -hedge
    snap = account(D(0), hedge, D(50_000), D(0))
    plan = build_plan(snap, StrategySettings(policy=policy), state=PlannerState(last_trade_at={"ref:ETH": NOW - since}))
    assert sum(a.size_delta for a in plan.actions if a.kind in ORDER_KINDS) == -hedge


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    spot_scale=st.floats(1e-6, 1e6),
    perp_scale=st.floats(1e-6, 1e6),
    beta=st.floats(0.2, 2.0),
)
def test_estimates_do_not_depend_on_the_price_level(seed, spot_scale, perp_scale, beta):
    rng = np.random.default_rng(seed)
    n = 300
    perp_returns = rng.normal(0, 0.01, n)
    spot_returns = beta * perp_returns + rng.normal(0, 0.003, n)
    index = pd.date_range("2023-01-01", periods=n, freq="h", tz="UTC")
    perp = pd.Series(np.exp(np.cumsum(perp_returns)), index=index)
    spot = pd.Series(np.exp(np.cumsum(spot_returns)), index=index)
    for estimator in (OLSRatio(), RollingOLSRatio(window=100), EWMARatio(0.97)):
        base = estimator.estimate(*paired_returns(spot, perp))
        scaled = estimator.estimate(*paired_returns(spot * spot_scale, perp * perp_scale))
        assert np.isclose(scaled.ratio, base.ratio, rtol=1e-7, atol=0)
        assert np.isclose(scaled.std_error, base.std_error, rtol=1e-6, atol=0)
