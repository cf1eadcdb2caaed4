"""PerpMarket on a real Anvil node, checked to the wei against docs/perp-market.md."""

from __future__ import annotations

import contextlib
import random
from decimal import Decimal

import pytest
from web3.exceptions import ContractCustomError

from hedger.chain.nodes import DEV_ACCOUNTS
from hedger.chain.revert import decode_revert
from tests.support import perp_reference as ref
from tests.support.chain_helpers import (
    ALL_ABIS,
    PRICE_UNIT,
    USDC,
    WAD,
    conserved,
    events,
    fund_margin,
    revert_of,
    set_price,
)

pytestmark = pytest.mark.integration

ALICE, BOB, CAROL, KEEPER = (DEV_ACCOUNTS[i][0] for i in (2, 3, 4, 5))
ETH = 1
MARGIN_SCALE = 10**12


def params(chain, market_id=ETH):
    p = chain.perp.functions.marketParams(market_id).call()
    keys = [
        "feed",
        "max_price_age",
        "skew_scale",
        "trading_fee",
        "max_funding_rate_per_hour",
        "imr",
        "mmr",
        "liquidation_reward",
        "max_open_interest",
    ]
    return dict(zip(keys, p, strict=True))


def at_time(chain, timestamp: int) -> None:
    """Make the next block (mined now) carry `timestamp`."""
    chain.node.set_next_block_timestamp(timestamp)
    chain.node.mine()


def open_position(chain, account, size_wad, market_id=ETH, acceptable=None):
    acceptable = acceptable if acceptable is not None else (2**256 - 1 if size_wad > 0 else 0)
    return chain.transact(chain.perp.functions.modifyPosition(market_id, size_wad, acceptable), account)


# ---------------------------------------------------------------- margin and trading


def test_deposit_and_withdraw_move_tokens_exactly(chain):
    fund_margin(chain, ALICE, 1000)
    perp, usdc = chain.perp, chain.token("USDC")
    assert perp.functions.margin(ALICE).call() == 1000 * USDC
    chain.transact(perp.functions.withdrawMargin(400 * USDC), ALICE)
    assert perp.functions.margin(ALICE).call() == 600 * USDC
    assert usdc.functions.balanceOf(ALICE).call() == 400 * USDC
    assert revert_of(perp.functions.withdrawMargin(601 * USDC), ALICE).name == "InsufficientMargin"


def test_fill_price_fee_and_entry_follow_the_documented_formulas(chain):
    fund_margin(chain, ALICE, 100_000)
    p = params(chain)
    price = 3000 * WAD
    size = 10 * WAD
    expected_fill = ref.fill_price(price, 0, size, p["skew_scale"])
    assert chain.perp.functions.fillPrice(ETH, size).call() == expected_fill
    receipt = open_position(chain, ALICE, size)
    event = events(chain.perp, "PositionModified", receipt)[0]
    assert event["fillPrice"] == expected_fill
    fee = ref.trading_fee(size, expected_fill, p["trading_fee"])
    assert event["fee"] == fee
    assert chain.perp.functions.margin(ALICE).call() == 100_000 * USDC + ref.settle_tokens(-fee, MARGIN_SCALE)
    pos_size, entry, cost, pnl, _ = chain.perp.functions.getPosition(ALICE, ETH).call()
    assert (pos_size, cost) == (size, ref.tdiv(size * expected_fill, WAD))
    assert entry == ref.tdiv(cost * WAD, size)
    assert pnl == ref.position_value(size, cost, price)
    # a second trade on the same side sees the skew the first one left
    assert chain.perp.functions.fillPrice(ETH, size).call() == ref.fill_price(price, size, size, p["skew_scale"])


def test_acceptable_price_is_enforced_both_ways(chain):
    fund_margin(chain, ALICE, 100_000)
    fill = chain.perp.functions.fillPrice(ETH, 5 * WAD).call()
    reason = revert_of(chain.perp.functions.modifyPosition(ETH, 5 * WAD, fill - 1), ALICE)
    assert reason.name == "AcceptablePriceExceeded" and reason.args["fillPrice"] == fill
    short_fill = chain.perp.functions.fillPrice(ETH, -5 * WAD).call()
    assert revert_of(chain.perp.functions.modifyPosition(ETH, -5 * WAD, short_fill + 1), ALICE).name == (
        "AcceptablePriceExceeded"
    )
    open_position(chain, ALICE, 5 * WAD, acceptable=fill)


def test_initial_margin_caps_leverage_and_reductions_stay_allowed(chain):
    fund_margin(chain, ALICE, 3_000)  # $3,000 at 10% initial margin: at most ~$30,000 notional
    assert revert_of(chain.perp.functions.modifyPosition(ETH, 10 * WAD, 2**256 - 1), ALICE).name == (
        "InsufficientMargin"
    )
    open_position(chain, ALICE, 9 * WAD)
    assert revert_of(chain.perp.functions.withdrawMargin(1_000 * USDC), ALICE).name == "InsufficientMargin"
    open_position(chain, ALICE, -4 * WAD)  # reducing is always allowed while not liquidatable
    assert chain.perp.functions.getPosition(ALICE, ETH).call()[0] == 5 * WAD


def with_params(chain, market_id, **changes):
    p = {**params(chain, market_id), **changes}
    chain.transact(chain.perp.functions.setMarketParams(market_id, tuple(p.values())))
    return p


def test_open_interest_cap(chain):
    fund_margin(chain, ALICE, 100_000)
    cap = with_params(chain, ETH, max_open_interest=10 * WAD)["max_open_interest"]
    open_position(chain, ALICE, cap)
    reason = revert_of(chain.perp.functions.modifyPosition(ETH, WAD, 2**256 - 1), ALICE)
    assert reason.name == "MaxOpenInterestExceeded"
    open_position(chain, ALICE, -WAD)  # shrinking the capped side is fine


def test_realized_pnl_on_partial_close_and_flip(chain):
    fund_margin(chain, ALICE, 200_000)
    fund_margin(chain, BOB, 200_000)
    p = params(chain)
    open_position(chain, ALICE, 20 * WAD)
    cost = chain.perp.functions.getPosition(ALICE, ETH).call()[2]
    set_price(chain, "ETH/USD", 3300)
    skew = chain.perp.functions.marketSummary(ETH).call()[1]
    fill = ref.fill_price(3300 * WAD, skew, -30 * WAD, p["skew_scale"])
    receipt = open_position(chain, ALICE, -30 * WAD)  # close 20 long, open 10 short
    event = events(chain.perp, "PositionModified", receipt)[0]
    assert event["fillPrice"] == fill
    assert event["realizedPnl"] == ref.tdiv(20 * WAD * fill, WAD) - cost
    size, _, new_cost, _, _ = chain.perp.functions.getPosition(ALICE, ETH).call()
    assert size == -10 * WAD and new_cost == ref.tdiv(-10 * WAD * fill, WAD)


# ---------------------------------------------------------------- funding


def test_funding_accrues_per_second_exactly_as_documented(chain):
    fund_margin(chain, ALICE, 500_000)
    fund_margin(chain, BOB, 500_000)
    p = params(chain)
    bob_opened_at = chain.w3.eth.get_block(open_position(chain, BOB, -100 * WAD)["blockNumber"])["timestamp"]
    open_position(chain, ALICE, 300 * WAD)
    skew = 200 * WAD
    opened_at = chain.now()
    rate = ref.funding_rate_per_hour(skew, p["skew_scale"], p["max_funding_rate_per_hour"])
    assert chain.perp.functions.currentFundingRate(ETH).call() == rate
    assert rate > 0  # more longs than shorts: longs pay

    elapsed = 5 * 3600 + 17  # an uneven interval on purpose
    chain.node.set_next_block_timestamp(opened_at + elapsed)
    price = set_price(chain, "ETH/USD", 3000) * 10**10  # keep the oracle fresh at the same price
    delta = ref.funding_index_delta(rate, price, elapsed)
    alice_owes = chain.perp.functions.getPosition(ALICE, ETH).call()[4]
    bob_owes = chain.perp.functions.getPosition(BOB, ETH).call()[4]
    assert alice_owes == ref.funding_owed(300 * WAD, delta) > 0
    # Bob also owes (receives) for the seconds, if any, between his trade and Alice's, at a -100 skew
    rate_before = ref.funding_rate_per_hour(-100 * WAD, p["skew_scale"], p["max_funding_rate_per_hour"])
    before = ref.funding_index_delta(rate_before, price, opened_at - bob_opened_at)
    assert bob_owes == ref.funding_owed(-100 * WAD, before + delta) < 0

    # closing settles the funding of the whole interval, up to the closing block, into margin
    margin_before = chain.perp.functions.margin(ALICE).call()
    receipt = chain.transact(chain.perp.functions.closePosition(ETH, 0), ALICE)
    closed_at = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    event = events(chain.perp, "PositionModified", receipt)[0]
    assert event["fundingPaid"] == ref.funding_owed(
        300 * WAD, ref.funding_index_delta(rate, price, closed_at - opened_at)
    )
    net = event["realizedPnl"] - event["fundingPaid"] - event["fee"]
    assert chain.perp.functions.margin(ALICE).call() - margin_before == ref.settle_tokens(net, MARGIN_SCALE)


def test_funding_rate_saturates_at_the_skew_scale(chain):
    fund_margin(chain, ALICE, 50_000_000)
    p = with_params(chain, 2, skew_scale=2 * WAD)  # BTC, with a 2 BTC skew scale
    open_position(chain, ALICE, -22 * WAD // 10, market_id=2)  # a 2.2 BTC short skew: 110% of the scale
    assert chain.perp.functions.currentFundingRate(2).call() == -p["max_funding_rate_per_hour"]


# ---------------------------------------------------------------- liquidation


def _liquidatable_at(chain, answer: int) -> bool:
    chain.transact(chain.feed("ETH/USD").functions.setAnswer(answer))
    return chain.perp.functions.isLiquidatable(ALICE).call()


def test_liquidation_exactly_at_the_threshold_and_not_a_wei_before(chain):
    fund_margin(chain, BOB, 100_000)
    open_position(chain, BOB, -9 * WAD)  # balances the skew: no funding accrues while we search
    fund_margin(chain, ALICE, 3_000)
    open_position(chain, ALICE, 9 * WAD)  # ~9x long
    p = params(chain)
    predicted = chain.perp.functions.liquidationPrice(ALICE, ETH).call()
    assert 2600 * WAD < predicted < 2900 * WAD

    lo, hi = 2000 * PRICE_UNIT, 3000 * PRICE_UNIT  # liquidatable at lo, not at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _liquidatable_at(chain, mid) else (lo, mid)
    threshold = lo
    assert abs(threshold * 10**10 - predicted) <= PRICE_UNIT * 10**10 // 10**6  # the view agrees to 1e-6 USD

    size, _, cost, _, _ = chain.perp.functions.getPosition(ALICE, ETH).call()
    margin = chain.perp.functions.margin(ALICE).call()
    for answer, liquidatable in ((threshold, True), (threshold + 1, False)):
        price = answer * 10**10
        equity = margin * MARGIN_SCALE + ref.position_value(size, cost, price)
        assert (equity <= ref.requirement(size, price, p["mmr"])) is liquidatable
        assert _liquidatable_at(chain, answer) is liquidatable

    assert revert_of(chain.perp.functions.liquidate(ALICE), KEEPER).name == "NotLiquidatable"
    _liquidatable_at(chain, threshold)
    keeper_before = chain.token("USDC").functions.balanceOf(KEEPER).call()
    receipt = chain.transact(chain.perp.functions.liquidate(ALICE), KEEPER)
    event = events(chain.perp, "AccountLiquidated", receipt)[0]
    notional = size * threshold * 10**10 // WAD
    remaining = margin + ref.settle_tokens(ref.position_value(size, cost, threshold * 10**10), MARGIN_SCALE)
    reward = min(notional * p["liquidation_reward"] // WAD // MARGIN_SCALE, remaining)
    assert event["reward"] == reward
    assert chain.token("USDC").functions.balanceOf(KEEPER).call() - keeper_before == reward
    assert chain.perp.functions.getPosition(ALICE, ETH).call()[0] == 0
    assert chain.perp.functions.openMarkets(ALICE).call() == []


def test_a_liquidatable_account_cannot_trade(chain):
    fund_margin(chain, ALICE, 3_000)
    open_position(chain, ALICE, 9 * WAD)
    set_price(chain, "ETH/USD", 2500)
    assert chain.perp.functions.isLiquidatable(ALICE).call()
    assert revert_of(chain.perp.functions.modifyPosition(ETH, -WAD, 0), ALICE).name == "AccountLiquidatable"


# ---------------------------------------------------------------- oracle


def test_stale_or_non_positive_price_reverts(chain):
    fund_margin(chain, ALICE, 100_000)
    feed = chain.feed("ETH/USD")
    max_age = params(chain)["max_price_age"]
    now = chain.now()
    chain.transact(feed.functions.setUpdatedAt(now + 10 - max_age))
    chain.node.set_next_block_timestamp(now + 10)  # the trade sees a price exactly max_age old
    open_position(chain, ALICE, WAD)
    chain.transact(feed.functions.setUpdatedAt(chain.now() - max_age - 100))
    reason = revert_of(chain.perp.functions.modifyPosition(ETH, WAD, 2**256 - 1), ALICE)
    assert reason.name == "StalePrice" and reason.args["maxPriceAge"] == max_age
    chain.transact(feed.functions.setUpdatedAt(chain.now() + 100))  # future-dated: also unusable
    assert revert_of(chain.perp.functions.indexPrice(ETH), ALICE).name == "StalePrice"
    for bad in (0, -1):
        chain.transact(feed.functions.setAnswer(bad))
        assert revert_of(chain.perp.functions.modifyPosition(ETH, WAD, 2**256 - 1), ALICE).name == "InvalidPrice"


# ---------------------------------------------------------------- asynchronous orders


def _commit(chain, account, size, acceptable=None):
    acceptable = acceptable if acceptable is not None else (2**256 - 1 if size > 0 else 0)
    receipt = chain.transact(chain.perp.functions.commitOrder(ETH, size, acceptable), account)
    return events(chain.perp, "OrderCommitted", receipt)[0]


def test_async_order_waits_for_its_delay_then_settles_and_pays_the_keeper(chain):
    fund_margin(chain, ALICE, 100_000)
    perp, usdc = chain.perp, chain.token("USDC")
    fee, delay = perp.functions.keeperFee().call(), perp.functions.minOrderDelay().call()
    order = _commit(chain, ALICE, 5 * WAD)
    assert perp.functions.margin(ALICE).call() == 100_000 * USDC - fee
    assert perp.functions.reservedKeeperFees().call() == fee
    assert revert_of(perp.functions.commitOrder(ETH, WAD, 2**256 - 1), ALICE).name == "OrderAlreadyPending"
    committed_at = perp.functions.pendingOrder(ALICE, ETH).call()[3]

    chain.node.set_next_block_timestamp(committed_at + delay - 1)
    chain.node.mine()
    reason = revert_of(perp.functions.settleOrder(ALICE, ETH), KEEPER)
    assert reason.name == "OrderNotReady" and reason.args["readyAt"] == committed_at + delay

    at_time(chain, committed_at + delay)  # simulations run against the latest block's time
    keeper_before = usdc.functions.balanceOf(KEEPER).call()
    receipt = chain.transact(perp.functions.settleOrder(ALICE, ETH), KEEPER)
    assert events(perp, "OrderSettled", receipt)[0]["orderId"] == order["orderId"]
    assert perp.functions.getPosition(ALICE, ETH).call()[0] == 5 * WAD
    assert usdc.functions.balanceOf(KEEPER).call() - keeper_before == fee
    assert perp.functions.pendingOrder(ALICE, ETH).call()[3] == 0


def test_async_order_expires_and_only_then_can_be_cancelled_by_others(chain):
    fund_margin(chain, ALICE, 100_000)
    perp = chain.perp
    expiry = perp.functions.orderExpiry().call()
    _commit(chain, ALICE, 5 * WAD)
    committed_at = perp.functions.pendingOrder(ALICE, ETH).call()[3]
    assert revert_of(perp.functions.cancelOrder(ALICE, ETH), KEEPER).name == "OrderNotExpired"
    chain.node.set_next_block_timestamp(committed_at + expiry + 1)
    set_price(chain, "ETH/USD", 3000)
    reason = revert_of(perp.functions.settleOrder(ALICE, ETH), KEEPER)
    assert reason.name == "OrderExpired" and reason.args["expiredAt"] == committed_at + expiry
    receipt = chain.transact(perp.functions.cancelOrder(ALICE, ETH), KEEPER)
    cancelled = events(perp, "OrderCancelled", receipt)[0]
    assert decode_revert(cancelled["reason"], ALL_ABIS).name == "OrderExpired"
    assert perp.functions.getPosition(ALICE, ETH).call()[0] == 0


def test_the_account_cancels_its_own_order_and_gets_the_fee_back(chain):
    fund_margin(chain, ALICE, 100_000)
    _commit(chain, ALICE, -5 * WAD)
    receipt = chain.transact(chain.perp.functions.cancelOrder(ALICE, ETH), ALICE)
    cancelled = events(chain.perp, "OrderCancelled", receipt)[0]
    assert decode_revert(cancelled["reason"], ALL_ABIS).name == "OrderCancelledByAccount"
    assert chain.perp.functions.margin(ALICE).call() == 100_000 * USDC
    assert chain.perp.functions.reservedKeeperFees().call() == 0


def test_a_settlement_that_misses_the_acceptable_price_cancels_with_the_reason(chain):
    fund_margin(chain, ALICE, 100_000)
    perp = chain.perp
    fill_now = perp.functions.fillPrice(ETH, 5 * WAD).call()
    _commit(chain, ALICE, 5 * WAD, acceptable=fill_now)
    chain.node.increase_time(perp.functions.minOrderDelay().call(), mine=False)
    set_price(chain, "ETH/USD", 3100)  # the price moved against the order
    receipt = chain.transact(perp.functions.settleOrder(ALICE, ETH), KEEPER)
    cancelled = events(perp, "OrderCancelled", receipt)[0]
    reason = decode_revert(cancelled["reason"], ALL_ABIS)
    assert reason.name == "AcceptablePriceExceeded" and reason.args["acceptablePrice"] == fill_now
    assert perp.functions.getPosition(ALICE, ETH).call()[0] == 0


def test_settlement_with_a_stale_oracle_reverts_and_keeps_the_order(chain):
    fund_margin(chain, ALICE, 100_000)
    perp = chain.perp
    _commit(chain, ALICE, 5 * WAD)
    chain.node.increase_time(perp.functions.minOrderDelay().call())
    chain.transact(chain.feed("ETH/USD").functions.setUpdatedAt(chain.now() - 4000))
    assert revert_of(perp.functions.settleOrder(ALICE, ETH), KEEPER).name == "StalePrice"
    assert perp.functions.pendingOrder(ALICE, ETH).call()[3] != 0


# ---------------------------------------------------------------- conservation


def test_every_token_is_accounted_for_through_trades_funding_orders_and_liquidations(chain):
    rng = random.Random(7)
    traders = [ALICE, BOB, CAROL]
    for trader in traders:
        fund_margin(chain, trader, 20_000)
    perp = chain.perp
    price = Decimal(3000)
    for step in range(40):
        trader = rng.choice(traders)
        action = rng.random()
        if action < 0.45:
            size = rng.choice([-1, 1]) * rng.randint(1, 40) * WAD // 10
            with contextlib.suppress(ContractCustomError):  # a rejected trade moves nothing
                open_position(chain, trader, size)
        elif action < 0.6:
            if perp.functions.pendingOrder(trader, ETH).call()[3] == 0:
                _commit(chain, trader, rng.choice([-1, 1]) * WAD)
            else:
                chain.node.increase_time(10, mine=False)
                set_price(chain, "ETH/USD", price)
                chain.transact(perp.functions.settleOrder(trader, ETH), KEEPER)
        elif action < 0.85:
            price = max(Decimal(1500), price + Decimal(rng.randint(-150, 150)))
            chain.node.increase_time(rng.randint(60, 1800), mine=False)
            set_price(chain, "ETH/USD", price)
        else:
            for account in traders:
                if perp.functions.isLiquidatable(account).call():
                    chain.transact(perp.functions.liquidate(account), KEEPER)
        held, accounted = conserved(chain, [*traders, KEEPER])
        assert held == accounted, f"step {step}: {held} held, {accounted} accounted"
