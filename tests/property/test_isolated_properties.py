"""Properties of the planner on an isolated-margin market (GMX v2-like), over generated wallets and positions:

1. the collateral a plan moves never exceeds the wallet's stablecoin;
2. under reduce-only nothing grows, and collateral moves only as top-ups (orders of size 0);
3. a position the plan grows ends at most at `max_leverage` on its own margin (its equity plus what the plan
   brings it), and a top-up or reduction never leaves a position near liquidation closer to it.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hedger.model import ActionKind, Verdict
from hedger.strategy.parameters import StrategySettings
from hedger.strategy.plan import build_plan
from tests.unit.strategy import factory as f
from tests.unit.strategy.factory import GMX_ETH

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_LEVERAGE = StrategySettings().sizing.max_leverage
GROWING = (ActionKind.OPEN, ActionKind.INCREASE)


def isolated_account(eth, size, collateral, usdc, mark):
    positions = () if size == 0 else (f.isolated_position(GMX_ETH, size, collateral, mark=mark),)
    snap = f.isolated_snapshot(positions=positions, eth=eth, usdc=usdc)
    return f.with_oracle(f.with_oracle(snap, f.reading("ETH", mark)), f.reading("ETH", mark, role="secondary"))


def final_position(plan, start):
    return start + sum((a.size_delta for a in plan.actions), D(0))


def equity_after(plan, position, start):
    """The position's own margin once the plan's collateral has landed (a flip starts from nothing)."""
    added = sum((a.collateral_delta for a in plan.actions), D(0))
    flipped = start != 0 and (final_position(plan, start) > 0) != (start > 0)
    if position is None or flipped:
        return added
    return position.collateral_usd + position.unrealized_pnl_usd + added


accounts = {
    "eth": st.decimals(min_value=0, max_value=30, places=2),
    "size": st.decimals(min_value=-30, max_value=30, places=2),
    "collateral": st.decimals(min_value=1, max_value=60_000, places=2),
    "usdc": st.decimals(min_value=0, max_value=80_000, places=2),
    "mark": st.decimals(min_value=2500, max_value=3500, places=0),
}


@FAST
@given(**accounts)
def test_collateral_never_exceeds_the_wallet(eth, size, collateral, usdc, mark):
    plan = build_plan(isolated_account(eth, size, collateral, usdc, mark))
    assert sum((a.collateral_delta for a in plan.actions), D(0)) <= usdc


@FAST
@given(**accounts)
def test_reduce_only_grows_nothing_and_only_tops_up(eth, size, collateral, usdc, mark):
    snap = replace(isolated_account(eth, size, collateral, usdc, mark), sequencer=f.sequencer(up=False))
    plan = build_plan(snap)
    assert plan.verdict is not Verdict.ALLOW
    assert not any(a.kind in GROWING for a in plan.actions)
    assert all(a.size_delta == 0 for a in plan.actions if a.collateral_delta)


@FAST
@given(**accounts)
def test_growth_stays_within_max_leverage_and_remedies_never_add_risk(eth, size, collateral, usdc, mark):
    snap = isolated_account(eth, size, collateral, usdc, mark)
    position = snap.position("gmx", "ETH")
    plan = build_plan(snap)
    end = final_position(plan, size)
    equity = equity_after(plan, position, size)
    if any(a.kind in GROWING for a in plan.actions):
        assert abs(end) * mark <= equity * MAX_LEVERAGE + mark * D("0.001")  # within one size step
    if "near_liquidation" in {r.code for r in plan.reasons}:
        assert abs(end) <= abs(size) and (end == 0 or (end > 0) == (size > 0))
