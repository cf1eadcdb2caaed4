"""The plan end to end on built snapshots: every adversarial scenario of safeguards.md, both sides of each
threshold, with the numbers. The default account holds 10 ETH and is short 10 ETH on `ref`; 12 ETH held
means the hedge should grow by 2 (risk-adding), 8 ETH held means it should shrink by 2 (risk-reducing)."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal as D

import pytest

from hedger.errors import ConfigError
from hedger.model import ActionKind, Verdict
from hedger.strategy.parameters import GuardSettings, SizingSettings, StrategySettings
from hedger.strategy.plan import acceptable_price, advance_state, build_plan
from hedger.strategy.policy import RebalancePolicy
from hedger.strategy.state import PlannerState, PricePoint
from tests.unit.strategy import factory as f
from tests.unit.strategy.factory import NOW

DEFAULTS = StrategySettings()
GROW, SHRINK = 12, 8


def orders(plan):
    return [(a.kind, a.size_delta) for a in plan.actions if a.size_delta != 0]


def codes(plan):
    return {r.code for r in plan.reasons}


def grows(plan) -> bool:
    return any(a.kind in (ActionKind.OPEN, ActionKind.INCREASE) for a in plan.actions)


def eth_oracle(**fields):
    return f.reading("ETH", **fields)


def test_a_hedged_account_on_target_does_nothing():
    plan = build_plan(f.snapshot())
    assert (plan.verdict, plan.actions) == (Verdict.ALLOW, ())
    json.dumps(plan.to_json())


def test_opening_a_hedge_deposits_collateral_first():
    snap = f.snapshot(hedge=None, margins=(f.margin(equity=0, notional=0),))
    plan = build_plan(snap)
    assert [a.kind for a in plan.actions] == [ActionKind.ADD_COLLATERAL, ActionKind.OPEN]
    assert plan.actions[0].collateral_delta == D(15_000)  # 30 000 USD of hedge at the target leverage 2
    assert plan.actions[1].size_delta == D(-10)
    assert plan.actions[1].acceptable_price == D(2970)  # a sell: 1% under the oracle


def test_growing_and_shrinking_follow_the_spot():
    assert orders(build_plan(f.snapshot(eth=GROW))) == [(ActionKind.INCREASE, D(-2))]
    assert orders(build_plan(f.snapshot(eth=SHRINK))) == [(ActionKind.DECREASE, D(2))]


def test_nothing_held_unwinds_the_hedge():
    assert orders(build_plan(f.snapshot(eth=0))) == [(ActionKind.CLOSE, D(10))]


def test_a_flip_is_a_close_then_an_open():
    snap = f.snapshot(eth=0, hedge=-10, positions=(f.position(f.ETH, 5),))
    plan = build_plan(snap)
    assert orders(plan) == [(ActionKind.CLOSE, D(-5))]
    flipped = build_plan(f.snapshot(eth=10, positions=(f.position(f.ETH, 5),)))
    assert orders(flipped) == [(ActionKind.CLOSE, D(-5)), (ActionKind.OPEN, D(-10))]


# --- 1. stale oracle ------------------------------------------------------------------------------


def stale_everywhere(age_s: int):
    oracles = (eth_oracle(age_s=age_s), f.reading("ETH", role="secondary", age_s=age_s), f.reading("USDC", 1))
    return oracles


@pytest.mark.parametrize(("age_s", "blocked"), [(3599, False), (3780, False), (3781, True)])
def test_stale_oracle_blocks_growth(age_s, blocked):
    plan = build_plan(f.snapshot(eth=GROW, oracles=stale_everywhere(age_s)))
    assert grows(plan) is not blocked
    assert (plan.verdict is Verdict.HALT) is blocked
    if blocked:
        assert {"oracle_stale", "no_price"} <= codes(plan)


def test_stale_oracles_without_a_last_good_price_send_nothing():
    plan = build_plan(f.snapshot(eth=SHRINK, oracles=stale_everywhere(4000)))
    assert plan.actions == ()
    assert "no_price" in codes(plan)


# --- 2–4. broken oracle -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [{"updated_at": NOW + 1}, {"updated_at": 0}, {"answer": 0}, {"answer": -1}, {"error": "reverted", "answer": None}],
)
def test_broken_oracle_halts_growth_without_crashing(fields):
    plan = build_plan(f.with_oracle(f.snapshot(eth=GROW), eth_oracle(**fields)))
    assert plan.verdict is Verdict.HALT
    assert not grows(plan)
    assert "oracle_broken" in codes(plan)


def test_broken_primary_still_lets_a_reduction_through_at_the_healthy_secondary():
    snap = f.with_oracle(f.snapshot(eth=SHRINK), eth_oracle(error="reverted", answer=None))
    snap = f.with_oracle(snap, f.reading("ETH", 3010, role="secondary"))
    plan = build_plan(snap)
    assert orders(plan) == [(ActionKind.DECREASE, D(2))]
    assert plan.actions[0].acceptable_price == D(3010) * D("1.01")


# --- 5–7. sequencer --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "blocked"),
    [
        (f.sequencer(up=False), True),
        (f.sequencer(since_s=1800), True),
        (f.sequencer(since_s=3600), True),
        (f.sequencer(since_s=3601), False),
        (f.sequencer(started_at=0), True),
    ],
)
def test_sequencer_blocks_risk_adding_only(status, blocked):
    grow = build_plan(f.snapshot(eth=GROW, sequencer=status))
    shrink = build_plan(f.snapshot(eth=SHRINK, sequencer=status))
    assert grows(grow) is not blocked
    assert orders(shrink) == [(ActionKind.DECREASE, D(2))]
    assert (grow.verdict is Verdict.REDUCE_ONLY) is blocked


def test_sequencer_down_with_halt_configured_still_allows_anchored_reductions():
    settings = StrategySettings(guards=GuardSettings(sequencer_verdict=Verdict.HALT))
    plan = build_plan(f.snapshot(eth=SHRINK, sequencer=f.sequencer(up=False)), settings)
    assert plan.verdict is Verdict.HALT
    assert orders(plan) == [(ActionKind.DECREASE, D(2))]


# --- 8–9. jumps and two sources ------------------------------------------------------------------------


def jumped_snapshot(answer: int, secondary):
    snap = f.snapshot(eth=GROW)
    snap = f.with_oracle(snap, eth_oracle(price=1500, previous=3000, answer=answer))
    return f.with_oracle(snap, secondary)


def test_a_price_halving_exactly_is_accepted():
    plan = build_plan(jumped_snapshot(1500 * 10**8, f.reading("ETH", 1500, role="secondary")))
    assert grows(plan)


def test_half_plus_one_wei_halts_without_a_second_source():
    broken_secondary = f.reading("ETH", role="secondary", error="reverted", answer=None)
    plan = build_plan(jumped_snapshot(1500 * 10**8 - 1, broken_secondary))
    assert not grows(plan) and "oracle_jump" in codes(plan)


def test_half_plus_one_wei_is_accepted_when_a_second_source_confirms_within_five_percent():
    plan = build_plan(jumped_snapshot(1500 * 10**8 - 1, f.reading("ETH", 1560, role="secondary")))
    assert grows(plan) and "jump_confirmed" in codes(plan)


@pytest.mark.parametrize(("secondary", "blocked"), [("3147", False), ("3153", True)])
def test_two_sources_apart(secondary, blocked):
    plan = build_plan(f.with_oracle(f.snapshot(eth=GROW), f.reading("ETH", secondary, role="secondary")))
    assert grows(plan) is not blocked
    assert ("oracle_sources_apart" in codes(plan)) is blocked


# --- 10. venue mark --------------------------------------------------------------------------------


def test_mark_far_from_the_oracle_blocks_growth():
    plan = build_plan(f.snapshot(eth=GROW, funding=(f.funding(f.ETH, mark="3048"),)))
    assert not grows(plan) and "mark_oracle_apart" in codes(plan)


def test_mark_close_to_the_oracle_trades_at_the_worse_price():
    plan = build_plan(f.snapshot(eth=GROW, funding=(f.funding(f.ETH, mark="2985"),)))
    assert orders(plan) == [(ActionKind.INCREASE, D(-2))]
    assert plan.actions[0].acceptable_price == D(2985) * D("0.99")  # a sell: the lower of mark and oracle
    assert "mark_worse_price" in codes(plan)


def test_acceptable_price_takes_the_worse_side_for_each_direction():
    assert acceptable_price(D(1), D(3000), D(3015), D("0.01")) == D(3015) * D("1.01")
    assert acceptable_price(D(-1), D(3000), D(3015), D("0.01")) == D(3000) * D("0.99")
    assert acceptable_price(D(-1), D(3000), None, D("0.01")) == D(2970)


# --- 11–12. stablecoin ---------------------------------------------------------------------------------


def usdc_at(price: str, **snapshot_fields):
    return f.with_oracle(f.snapshot(**snapshot_fields), f.reading("USDC", price, heartbeat_s=86_400))


@pytest.mark.parametrize(("price", "code"), [("0.98", "stable_depeg_pause"), ("0.95", "stable_depeg_reduce")])
def test_a_depegged_stablecoin_blocks_new_exposure(price, code):
    grow, shrink = build_plan(usdc_at(price, eth=GROW)), build_plan(usdc_at(price, eth=SHRINK))
    assert grow.verdict is Verdict.REDUCE_ONLY and not grows(grow) and code in codes(grow)
    assert orders(shrink) == [(ActionKind.DECREASE, D(2))]


def test_margin_is_valued_at_the_depegged_price():
    account = f.margin(equity=3050, notional=30_000)  # buffer 2.03 at par, 1.99 at 0.98
    assert "near_liquidation" not in codes(build_plan(usdc_at("0.99", margins=(account,))))
    assert "near_liquidation" in codes(build_plan(usdc_at("0.98", margins=(account,))))


def test_a_premium_is_credited_up_to_the_cap_only():
    account = f.margin(equity=2870, notional=30_000)  # 2870 × 1.04 = 2984.8 < 3000 ≤ 2870 × 1.06
    assert "near_liquidation" in codes(build_plan(usdc_at("1.06", margins=(account,))))
    assert "near_liquidation" not in codes(build_plan(usdc_at("1.06", margins=(f.margin(equity=2885),))))


# --- 13. funding ---------------------------------------------------------------------------------------


def test_punitive_funding_refuses_growth_and_allows_a_decrease():
    shorts_pay = (f.funding(f.ETH, rate="-0.00015"),)  # shorts pay 150% of the 0.01%/h cap
    assert not grows(build_plan(f.snapshot(eth=GROW, funding=shorts_pay)))
    assert orders(build_plan(f.snapshot(eth=SHRINK, funding=shorts_pay))) == [(ActionKind.DECREASE, D(2))]
    assert grows(build_plan(f.snapshot(eth=GROW, funding=(f.funding(f.ETH, rate="-0.0001"),))))


def test_unknown_funding_blocks_growth_by_default():
    plan = build_plan(f.snapshot(eth=GROW, funding=(f.funding(f.ETH, rate=None),)))
    assert not grows(plan) and "funding_unknown" in codes(plan)


def test_carry_budget_shrinks_but_never_flips_the_hedge():
    settings = StrategySettings(sizing=SizingSettings(carry_budget_rel=D("0.0042")))
    costly = (f.funding(f.ETH, rate="-0.00005"),)  # 0.005%/h × 168 h = 0.84% > 0.42%: half the hedge
    plan = build_plan(f.snapshot(funding=costly), settings)
    assert orders(plan) == [(ActionKind.DECREASE, D(5))]
    assert "carry_over_budget" in codes(plan)


# --- 14. near liquidation --------------------------------------------------------------------------------


def test_near_liquidation_adds_collateral_from_the_wallet():
    plan = build_plan(f.snapshot(eth=GROW, margins=(f.margin(equity=2000, notional=30_000),)))
    assert [a.kind for a in plan.actions] == [ActionKind.ADD_COLLATERAL]
    assert plan.actions[0].collateral_delta == D(2500)  # back to 3 × 1500 of maintenance
    assert "near_liquidation" in codes(plan) and not grows(plan)


def test_near_liquidation_without_wallet_collateral_reduces_at_once():
    snap = f.snapshot(usdc=0, margins=(f.margin(equity=2000, notional=30_000),))
    plan = build_plan(snap, state=PlannerState(last_trade_at={"ref:ETH": NOW - 10}))
    # equity 2000 must cover 3 × maintenance: keep 2000 / 4500 of the position
    assert orders(plan) == [(ActionKind.DECREASE, D("5.556"))]
    assert plan.actions[0].reason.code == "reduce_near_liquidation"


# --- 15. leverage ----------------------------------------------------------------------------------------


def test_growth_beyond_max_leverage_is_refused_before_sending():
    snap = f.snapshot(eth=GROW, usdc=0, margins=(f.margin(equity=10_000, notional=30_000),))
    plan = build_plan(snap)
    assert orders(plan) == []
    assert "capped_by_leverage" in codes(plan)


def test_growth_is_capped_at_the_room_left_under_max_leverage():
    snap = f.snapshot(eth=GROW, usdc=0, margins=(f.margin(equity=11_000, notional=30_000),))
    plan = build_plan(snap)
    assert orders(plan) == [(ActionKind.INCREASE, D(-1))]  # 3 × 11 000 − 30 000 = 3000 USD = 1 ETH
    assert "capped_by_leverage" in plan.actions[0].reason.values["sizing"]


# --- 16. band, cooldown, unwind -----------------------------------------------------------------------------


def recently_traded(seconds_ago: int) -> PlannerState:
    return PlannerState(last_trade_at={"ref:ETH": NOW - seconds_ago})


def test_inside_the_band_nothing_happens():
    plan = build_plan(f.snapshot(eth="10.4"))
    assert plan.actions == () and "inside_band" in codes(plan)


def test_in_the_cooldown_a_small_breach_waits_and_a_large_one_trades():
    assert "cooldown" in codes(build_plan(f.snapshot(eth=GROW), state=recently_traded(60)))
    assert orders(build_plan(f.snapshot(eth=14), state=recently_traded(60))) == [(ActionKind.INCREASE, D(-4))]


def test_target_zero_unwinds_inside_the_cooldown():
    assert orders(build_plan(f.snapshot(eth=0), state=recently_traded(1))) == [(ActionKind.CLOSE, D(10))]


# --- 17. caps and splitting --------------------------------------------------------------------------------


def test_target_above_the_cap_is_capped_and_orders_are_split():
    settings = StrategySettings(
        sizing=SizingSettings(max_notional_usd=D(27_000)), policy=RebalancePolicy(max_order_notional_usd=D(10_000))
    )
    plan = build_plan(f.snapshot(hedge=None, margins=(f.margin(equity=0, notional=0),)), settings)
    sizes = [a.size_delta for a in plan.actions if a.kind in (ActionKind.OPEN, ActionKind.INCREASE)]
    assert sum(sizes) == D(-9)
    assert sizes == [D(-3)] * 3
    assert [a.kind for a in plan.actions[1:]] == [ActionKind.OPEN, ActionKind.INCREASE, ActionKind.INCREASE]


def test_a_trade_that_would_take_more_than_fifty_orders_is_not_split_and_says_why():
    settings = StrategySettings(policy=RebalancePolicy(max_order_notional_usd=D(10)))
    plan = build_plan(f.snapshot(hedge=None, margins=(f.margin(equity=0, notional=0),)), settings)
    assert not [a for a in plan.actions if a.kind in (ActionKind.OPEN, ActionKind.INCREASE)]
    assert "too_many_orders" in codes(plan)


def test_a_zero_largest_order_is_refused():
    with pytest.raises(ConfigError, match="max_order_notional_usd"):
        RebalancePolicy(max_order_notional_usd=D(0))


# --- 18. pending orders -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("age_s", "cancelled"), [(1199, False), (1200, True)])
def test_a_pending_order_blocks_a_second_one_and_is_cancelled_after_the_delay(age_s, cancelled):
    plan = build_plan(f.snapshot(eth=GROW, pending_orders=(f.pending(f.ETH, "-2", age_s),)))
    assert orders(plan) == []
    assert [a.kind for a in plan.actions] == ([ActionKind.CANCEL_ORDER] if cancelled else [])
    assert ("order_pending" in codes(plan)) is not cancelled


# --- 19. both oracles fail, then recover -----------------------------------------------------------------------


def test_both_oracles_failing_allow_only_reductions_at_the_last_good_price_until_both_agree():
    healthy = f.snapshot(eth=SHRINK)
    state = advance_state(PlannerState(), healthy, DEFAULTS)
    assert state.last_good_prices["ETH"] == PricePoint(D(3000), NOW - 60)

    failed = f.with_oracle(healthy, eth_oracle(error="reverted", answer=None))
    failed = f.with_oracle(failed, f.reading("ETH", role="secondary", error="reverted", answer=None))
    plan = build_plan(failed, state=state)
    assert plan.verdict is Verdict.HALT
    assert orders(plan) == [(ActionKind.DECREASE, D(2))]
    assert plan.actions[0].acceptable_price == D(3000) * D("1.01")
    assert not grows(build_plan(replace(failed, balances=f.snapshot(eth=GROW).balances), state=state))

    state = advance_state(state, failed, DEFAULTS)
    assert "ETH" in state.distrusted
    primary_back = f.with_oracle(failed, eth_oracle(price=3100))
    assert build_plan(primary_back, state=state).verdict is Verdict.HALT
    both_back = f.with_oracle(primary_back, f.reading("ETH", 3090, role="secondary"))
    assert build_plan(both_back, state=state).verdict is Verdict.ALLOW
    assert "ETH" not in advance_state(state, both_back, DEFAULTS).distrusted


# --- venues, cross hedges, baskets -----------------------------------------------------------------------------

OTHER = f.market(venue="other", taker_fee=D("0.001"))


def two_venues(ref_rate: str, other_rate: str, **fields):
    return f.snapshot(
        markets=(f.ETH, OTHER),
        funding=(f.funding(f.ETH, rate=ref_rate), f.funding(OTHER, rate=other_rate)),
        margins=(f.margin(), f.margin("other", equity=20_000, notional=0)),
        **fields,
    )


def test_the_hedge_moves_to_the_venue_with_the_cheaper_carry():
    plan = build_plan(two_venues("-0.00005", "0.00002"))  # ref: shorts pay; other: shorts earn
    assert [(a.venue, a.kind, a.size_delta) for a in plan.actions] == [
        ("ref", ActionKind.CLOSE, D(10)),
        ("other", ActionKind.OPEN, D(-10)),
    ]


def test_an_incumbent_keeps_the_hedge_when_moving_costs_more_than_it_saves():
    # other earns 0.0001% more per hour: 0.0168% over a week, less than its 0.1% taker fee
    plan = build_plan(two_venues("0.00001", "0.0000110"))
    assert plan.actions == ()


def test_a_cheaper_market_that_may_not_grow_is_not_chosen():
    snap = two_venues("0.00001", "0.0001")  # other: shorts earn far more...
    snap = replace(
        snap, funding=(snap.funding[0], f.funding(OTHER, rate="0.0001", mark="3048"))
    )  # ...but its mark is off
    plan = build_plan(snap)
    assert plan.actions == ()
    assert "mark_oracle_apart" in codes(plan)


def test_punitive_funding_everywhere_leaves_the_hedge_unopened():
    plan = build_plan(two_venues("-0.0002", "-0.00015", positions=()))
    assert not grows(plan) and "funding_punitive" in codes(plan)


def test_cross_hedge_converts_value_with_both_prices():
    settings = StrategySettings(sizing=SizingSettings(hedge_with={"STETH": "ETH"}))
    snap = f.snapshot(eth=0, hedge=-10)
    snap = replace(snap, exposures=(f.exposure("STETH", 10), f.exposure("ETH", 0, -10)))
    snap = f.with_oracle(snap, f.reading("STETH", 2970))
    plan = build_plan(snap, settings, ratios={"STETH": D("1.064")})
    # target −1.064 × 10 × 2970 / 3000 = −10.5336 → −10.533 at the 0.001 step
    assert orders(plan) == [(ActionKind.INCREASE, D("-0.533"))]


def test_a_basket_row_spreads_one_asset_over_several_perps():
    btc = f.market("BTC")
    snap = f.snapshot(
        eth=0,
        hedge=None,
        markets=(f.ETH, btc),
        margins=(f.margin(equity=100_000, notional=0),),
        oracles=(f.reading("ETH"), f.reading("BTC", 60_000), f.reading("X", 100), f.reading("USDC", 1)),
    )
    snap = replace(snap, exposures=(f.exposure("X", 1000, price="100"),))
    plan = build_plan(snap, ratios={"X": {"ETH": D("0.6"), "BTC": D("0.3")}})
    # X is worth 100 000 USD: 60 000 USD of ETH perp (20 ETH), 30 000 USD of BTC perp (0.5 BTC)
    assert sorted((a.symbol, a.size_delta) for a in plan.actions if a.size_delta) == [
        ("BTC", D("-0.5")),
        ("ETH", D(-20)),
    ]


def test_stablecoins_are_not_hedged_and_unpriced_cross_hedges_are_not_sized():
    settings = StrategySettings(sizing=SizingSettings(hedge_with={"STETH": "ETH"}))
    snap = replace(f.snapshot(), exposures=(f.exposure("STETH", 5), f.exposure("ETH", 10, -10), f.exposure("USDC", 1)))
    plan = build_plan(snap, settings)
    assert plan.actions == () and "target_unpriced" in codes(plan)


def test_an_unusable_stablecoin_feed_blocks_new_exposure():
    plan = build_plan(f.with_oracle(f.snapshot(eth=GROW), f.reading("USDC", 1, heartbeat_s=86_400, age_s=100_000)))
    assert plan.verdict is Verdict.REDUCE_ONLY and not grows(plan)
    assert "stable_unpriced" in codes(plan)
