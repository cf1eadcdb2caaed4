"""The planner on isolated-margin markets (GMX v2-like): collateral travels with the order that grows a position,
liquidation is judged per position, and a top-up is an order of size 0 on the position's market. The wallet holds
10 ETH and 50 000 USDC; ETH is 3000; the `gmx` ETH market allows 100× and liquidates at 0.5% of the size."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from hedger.model import ActionKind, Verdict
from hedger.strategy.parameters import SizingSettings, StrategySettings
from hedger.strategy.plan import build_plan
from hedger.strategy.state import PlannerState
from tests.unit.strategy import factory as f
from tests.unit.strategy.factory import GMX_ETH, NOW


def actions(plan):
    return [(a.kind, a.symbol, a.size_delta, a.collateral_delta) for a in plan.actions]


def codes(plan):
    return {r.code for r in plan.reasons}


def near_liquidation(usdc=50_000, **position_fields):
    """Short 10 ETH (30 000 USD) with 100 USDC of collateral: maintenance 150, buffer 0.667."""
    position = f.isolated_position(GMX_ETH, -10, 100, **position_fields)
    return f.isolated_snapshot(positions=(position,), usdc=usdc)


# --- growth carries its own collateral ------------------------------------------------------------------------------


def test_a_new_hedge_is_one_open_order_carrying_collateral_at_the_target_leverage():
    plan = build_plan(f.isolated_snapshot())
    # 10 ETH × 3000 = 30 000 USD of short at leverage 2: 15 000 USDC with the order, no separate deposit
    assert actions(plan) == [(ActionKind.OPEN, "ETH", D(-10), D(15_000))]
    (order,) = plan.actions
    assert (order.venue, order.acceptable_price, plan.verdict) == ("gmx", D(2970), Verdict.ALLOW)
    assert order.reason.values["collateral_delta"] == D(15_000)


def test_collateral_is_valued_at_the_capped_stablecoin_price():
    snap = f.with_oracle(f.isolated_snapshot(), f.reading("USDC", "1.06", heartbeat_s=86_400))
    (order,) = build_plan(snap).actions
    assert order.collateral_delta == D("14423.076923")  # 15 000 USD / 1.04 (the cap), down to USDC's 6 decimals


def test_a_short_wallet_gives_what_it_has_and_the_order_is_capped_at_max_leverage():
    plan = build_plan(f.isolated_snapshot(usdc=5000))
    # 5000 USDC × max leverage 3 = 15 000 USD of room: 5 ETH
    assert actions(plan) == [(ActionKind.OPEN, "ETH", D(-5), D(5000))]
    assert "capped_by_leverage" in plan.actions[0].reason.values["sizing"]


def test_no_stablecoin_in_the_wallet_opens_nothing():
    plan = build_plan(f.isolated_snapshot(usdc=0))
    assert plan.actions == () and "capped_by_leverage" in codes(plan)


def test_growing_an_open_position_tops_it_up_to_the_target_leverage_with_the_increase():
    position = f.isolated_position(GMX_ETH, -10, 15_000)
    plan = build_plan(f.isolated_snapshot(positions=(position,), eth=12))
    # (30 000 + 6000) / 2 − 15 000 of equity = 3000 USDC with the increase
    assert actions(plan) == [(ActionKind.INCREASE, "ETH", D(-2), D(3000))]


def test_a_position_with_enough_equity_grows_without_more_collateral():
    position = f.isolated_position(GMX_ETH, -10, 20_000)
    plan = build_plan(f.isolated_snapshot(positions=(position,), eth=12))
    assert actions(plan) == [(ActionKind.INCREASE, "ETH", D(-2), D(0))]


def test_a_split_order_carries_the_collateral_on_its_first_piece():
    settings = StrategySettings(policy=replace(StrategySettings().policy, max_order_notional_usd=D(10_000)))
    plan = build_plan(f.isolated_snapshot(), settings)
    # four orders of 2.5 ETH (7500 USD each); GMX checks each one's leverage, so the first brings it all
    assert [(a.size_delta, a.collateral_delta) for a in plan.actions] == [(D("-2.5"), D(15_000))] + [
        (D("-2.5"), D(0))
    ] * 3


def test_a_flip_closes_the_old_position_and_opens_the_new_one_with_fresh_collateral():
    long = f.isolated_position(GMX_ETH, 5, 20_000)
    plan = build_plan(f.isolated_snapshot(positions=(long,), eth=5))
    # 5 ETH held + 5 long: target −5. The close returns the long's 20 000 to the wallet later; the new short
    # brings its own 7500 (15 000 USD at leverage 2)
    assert actions(plan) == [(ActionKind.CLOSE, "ETH", D(-5), D(0)), (ActionKind.OPEN, "ETH", D(-5), D(7500))]


def test_isolated_markets_share_one_wallet():
    btc = f.isolated_market("BTC")
    snap = f.isolated_snapshot(
        markets=(GMX_ETH, btc),
        usdc=20_000,
        oracles=(f.reading("ETH"), f.reading("BTC", 60_000), f.reading("USDC", 1, heartbeat_s=86_400)),
    )
    snap = replace(snap, exposures=(f.exposure("ETH", 10), f.exposure("BTC", "0.5", price="60000")))
    plan = build_plan(snap)
    # ETH (first in the snapshot) takes 15 000 for 30 000 USD; BTC gets the 5000 left: 15 000 USD at 3×
    assert sorted(actions(plan)) == [
        (ActionKind.OPEN, "BTC", D("-0.25"), D(5000)),
        (ActionKind.OPEN, "ETH", D(-10), D(15_000)),
    ]


# --- guards and verdicts ----------------------------------------------------------------------------------------


def test_reduce_only_opens_nothing_and_reserves_no_collateral():
    plan = build_plan(f.isolated_snapshot(sequencer=f.sequencer(up=False)))
    assert (plan.verdict, plan.actions) == (Verdict.REDUCE_ONLY, ())
    assert "blocked_by_guard" in codes(plan)


def test_reduce_only_still_lets_an_isolated_position_shrink():
    position = f.isolated_position(GMX_ETH, -10, 15_000)
    plan = build_plan(f.isolated_snapshot(positions=(position,), eth=8, sequencer=f.sequencer(up=False)))
    assert actions(plan) == [(ActionKind.DECREASE, "ETH", D(2), D(0))]


def test_liquidation_distance_is_judged_per_position_with_pnl_and_closing_costs():
    # 15 000 collateral − 600 × 10 of loss (mark 3600) − 100 of costs = 8900; maintenance 150: buffer 59.3
    # (the oracle says 3600 too); leverage 36 000 / 8900 = 4.04 > 3: that market may not grow
    healthy = f.isolated_position(GMX_ETH, -10, 15_000, mark=3600, costs=100)
    snap = f.isolated_snapshot(positions=(healthy,), eth=12)
    snap = f.with_oracle(f.with_oracle(snap, f.reading("ETH", 3600)), f.reading("ETH", 3600, role="secondary"))
    leverage = build_plan(snap)
    assert leverage.actions == () and {"leverage_above_max", "blocked_by_guard"} <= codes(leverage)
    assert "near_liquidation" not in codes(leverage)
    # 399 of equity against 150 of maintenance: 2.66; 299: 1.99 trips the 2× buffer
    assert "near_liquidation" not in codes(build_plan(near_liquidation(costs=0, pnl=299)))
    tripped = build_plan(near_liquidation(pnl=199))
    values = next(r for r in tripped.reasons if r.code == "near_liquidation").values
    assert (values["scope"], values["equity_usd"], values["buffer"]) == ("market:gmx:ETH", D(299), D(299) / 150)


def test_near_liquidation_tops_the_position_up_with_a_collateral_only_order():
    plan = build_plan(near_liquidation())
    # back to 3 × 150 = 450 of equity: 350 USDC, an order of size 0 on the position's market
    assert actions(plan) == [(ActionKind.ADD_COLLATERAL, "ETH", D(0), D(350))]
    (top_up,) = plan.actions
    assert (top_up.venue, top_up.acceptable_price, top_up.reason.code) == ("gmx", D(2970), "near_liquidation")
    assert top_up.reduces_risk and plan.verdict is Verdict.REDUCE_ONLY


def test_near_liquidation_without_wallet_collateral_reduces_the_position():
    plan = build_plan(near_liquidation(usdc=0), state=PlannerState(last_trade_at={"gmx:ETH": NOW - 10}))
    # 100 of equity must cover 3 × maintenance: keep 100 / 450 of the short, inside the cooldown
    assert actions(plan) == [(ActionKind.DECREASE, "ETH", D("7.778"), D(0))]
    assert plan.actions[0].reason.code == "reduce_near_liquidation"


def test_a_pending_top_up_is_not_sent_again():
    pending = replace(f.pending(GMX_ETH, "0", 30), collateral_delta=D(300))
    plan = build_plan(replace(near_liquidation(), pending_orders=(pending,)))
    # 350 needed, 300 on the way: 50 more; the position is still judged without it until it lands
    assert actions(plan) == [(ActionKind.ADD_COLLATERAL, "ETH", D(0), D(50))]
    assert "near_liquidation" in codes(plan)


def test_a_position_near_liquidation_blocks_growth_on_its_market_only():
    btc = f.isolated_market("BTC")
    position = f.isolated_position(GMX_ETH, -10, 100)
    snap = f.isolated_snapshot(
        markets=(GMX_ETH, btc),
        positions=(position,),
        oracles=(f.reading("ETH"), f.reading("BTC", 60_000), f.reading("USDC", 1, heartbeat_s=86_400)),
    )
    snap = replace(snap, exposures=(f.exposure("ETH", 12, -10), f.exposure("BTC", "0.5", price="60000")))
    plan = build_plan(snap)
    assert actions(plan) == [
        (ActionKind.ADD_COLLATERAL, "ETH", D(0), D(350)),
        (ActionKind.OPEN, "BTC", D("-0.5"), D(15_000)),
    ]
    blocked = next(r for r in plan.reasons if r.code == "blocked_by_guard")
    assert blocked.message == "gmx:ETH: increase blocked (reduce_only)"


def test_a_position_that_cannot_be_valued_is_reduce_only():
    position = replace(f.isolated_position(GMX_ETH, -10, 15_000), unrealized_pnl_usd=None)
    plan = build_plan(f.isolated_snapshot(positions=(position,), eth=12))
    assert plan.verdict is Verdict.REDUCE_ONLY and plan.actions == ()
    assert "margin_unknown" in codes(plan)


def test_target_leverage_is_the_sizing_setting():
    settings = StrategySettings(sizing=SizingSettings(target_leverage=D(3), max_leverage=D(3)))
    (order,) = build_plan(f.isolated_snapshot(), settings).actions
    assert (order.size_delta, order.collateral_delta) == (D(-10), D(10_000))
