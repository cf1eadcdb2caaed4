"""The rebalancing policy: both sides of every threshold, in Decimals and in floats alike
(safeguards.md scenarios 16 and 17)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from hedger.strategy import policy as p
from hedger.strategy.policy import RebalancePolicy, rebalance_decision, split_order

POLICY = RebalancePolicy()
NO_WORTH_TEST = RebalancePolicy(worth_it_multiple=D(0))
PRICE = D(3000)


def decide(current, target, since=None, policy=POLICY, price=PRICE):
    return rebalance_decision(D(current), D(target), price, since, policy)


def decide_floats(current, target, since=None, policy=POLICY, price=PRICE):
    return rebalance_decision(float(current), float(target), float(price), since, policy.as_floats())


@pytest.mark.parametrize("run", [decide, decide_floats], ids=["decimal", "float"])
@pytest.mark.parametrize(
    ("current", "target", "since", "trade", "code"),
    [
        ("-10", "-10", None, False, p.ON_TARGET),
        # band: 5% of the target
        ("-10", "-10.5", None, False, p.INSIDE_BAND),  # 4.76% of 10.5
        ("-9.5", "-10", None, True, p.REBALANCE),  # exactly 5%: trades
        ("-9.51", "-10", None, False, p.INSIDE_BAND),
        # scenario 16: inside the cooldown a gap under the override waits, above it trades
        ("-9", "-10", "3599", False, p.COOLDOWN),
        ("-9", "-10", "3600", True, p.REBALANCE),
        ("-7.5", "-10", "1", True, p.BREACH_OVERRIDE),  # exactly 25%
        ("-7.51", "-10", "1", False, p.COOLDOWN),
        # target zero: unwind at once, whatever the band, minimum or cooldown
        ("-10", "0", "1", True, p.UNWIND),
        ("-0.00001", "0", "0", True, p.UNWIND),
        ("0", "-10", "1", True, p.BREACH_OVERRIDE),
    ],
)
def test_band_cooldown_and_unwind(run, current, target, since, trade, code):
    decision = run(D(current), D(target), None if since is None else int(since), NO_WORTH_TEST)
    assert (decision.trade, decision.code) == (trade, code)
    assert float(decision.size_delta) == pytest.approx(float(D(target) - D(current)) if trade else 0)


@pytest.mark.parametrize("run", [decide, decide_floats], ids=["decimal", "float"])
def test_absolute_notional_minimum(run):
    # a 100% gap of 0.01 ETH is 30 USD: below the 50 USD minimum; 0.0167 ETH is 50.1 USD
    assert run(D(0), D("-0.01"), policy=NO_WORTH_TEST).code == p.BELOW_MIN_NOTIONAL
    assert run(D(0), D("-0.0167"), policy=NO_WORTH_TEST).trade


@pytest.mark.parametrize("run", [decide, decide_floats], ids=["decimal", "float"])
def test_worth_it_compares_risk_removed_with_gas_and_fees(run):
    policy = RebalancePolicy(min_notional_usd=D(0), gas_usd=D(10), fee_rate=D("0.001"), expected_move_rel=D("0.02"))
    # break-even gap: 10 / (0.02 − 0.001) = 526.3 USD
    assert run(D(0), D("-0.175"), policy=policy).code == p.NOT_WORTH_IT  # 525 USD
    assert run(D(0), D("-0.176"), policy=policy).code == p.REBALANCE  # 528 USD


def test_floats_and_decimals_decide_alike_on_a_grid():
    for current in ("-12", "-10", "-9.7", "-5", "0", "3"):
        for target in ("-10", "-9.6", "0", "2"):
            for since in (None, 10, 4000):
                exact, approx = decide(current, target, since), decide_floats(current, target, since)
                assert (exact.trade, exact.code) == (approx.trade, approx.code)
                assert float(exact.size_delta) == pytest.approx(approx.size_delta)


def test_mixing_floats_and_decimals_is_refused():
    with pytest.raises(TypeError):
        rebalance_decision(-9.0, -10.0, 3000.0, None, POLICY)


def test_policy_converts_to_floats_for_the_backtest():
    floats = POLICY.as_floats()
    assert isinstance(floats.band_rel, float) and floats.cooldown_s == 3600
    assert floats.band_rel == pytest.approx(float(POLICY.band_rel), rel=1e-12)


# --- scenario 17: orders above the maximum size are split --------------------------------------------


def test_an_order_within_the_maximum_is_not_split():
    assert split_order(D(-10), PRICE, D(30_000)) == [D(-10)]


def test_a_large_order_is_split_into_equal_orders_under_the_cap():
    orders = split_order(D(-10), PRICE, D(10_000))
    assert orders == [D(-10) / 3] * 2 + [D(-10) - 2 * (D(-10) / 3)]
    assert sum(orders) == D(-10)
    assert all(abs(o) * PRICE <= D(10_000) + D("1e-20") for o in orders)


def test_split_orders_respect_the_venue_step():
    orders = split_order(D("10.5"), PRICE, D(10_000), step=D("0.1"))
    assert orders == [D("2.7"), D("2.6"), D("2.6"), D("2.6")]
    assert all(abs(o) * PRICE <= D(10_000) for o in orders)


def test_split_in_floats():
    orders = split_order(-10.0, 3000.0, 10_000.0)
    assert len(orders) == 3 and sum(orders) == pytest.approx(-10.0)
