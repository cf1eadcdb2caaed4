"""The gTrade v10 adapter against hedger's ABI-faithful GNSMultiCollatDiamond stand-in on Anvil: exact numbers
read, exact arguments sent, market orders filled (or cancelled) by the oracle's callback.

A gold pair (XAU/USD, gTrade pair 90) with USDC collateral at $1: leverage 1.1×–150×, $1,500 minimum position,
0.03 % spread, 0.06 % position fee; XAU/USD at $2,500 on its Chainlink feed."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal

import pytest
from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector
from eth_utils.abi import collapse_if_tuple

from hedger.chain.anvil import DEV_ACCOUNTS
from hedger.chain.connect import connect
from hedger.chain.multicall import latest_block, run_steps
from hedger.chain.toolchain import find_node, project_root
from hedger.model import MarginMode, Side, Verdict
from hedger.testing import chain_state_for
from hedger.venues._abi import ABI_DIR
from hedger.venues.base import OrderIntent, UnsupportedOrder, VenueState
from tests.support.gtrade import (
    COLLATERAL_INDEX,
    GTRADE_VENUE,
    LEV,
    PRICE,
    TOKEN,
    XAU_PAIR,
    deploy_gtrade,
    oracle_fills,
    stand_in_abi,
)

pytestmark = pytest.mark.integration

ALICE = DEV_ACCOUNTS[2][0]
USDC = 10**6
# Opening 4 XAU short ($10,000 at the $2,500 reference) on 1,000 USDC: 10× leverage; the collateral sent is grossed
# up by the 0.06 % opening fee at that leverage, 1,000 / (1 − 10 × 0.0006), so that 1,000 is left after the fee.
SENT = -(-1000 * USDC * 1000 // 994)  # 1,006.036218 USDC, rounded up
AFTER = SENT - SENT * 10 * 6 * 10**8 // 10**10 // 100  # less the fee the diamond takes: 1,000.000001 USDC
OURS = AFTER * 10 * 10**12 * PRICE // (2490 * PRICE)  # tokens (1e18) at the $2,490 fill
SDK_FACTORY = "node_modules/@gainsnetwork/sdk/lib/contracts/types/generated/factories/GNSMultiCollatDiamond__factory.js"


def signatures(abi: list[dict]) -> dict[str, str]:
    out = {}
    for e in abi:
        inputs = ",".join(collapse_if_tuple(i) for i in e.get("inputs", []))
        if e["type"] == "function":
            out[f"{e['name']}({inputs})"] = "(" + ",".join(collapse_if_tuple(o) for o in e["outputs"]) + ")"
        elif e["type"] == "event":
            out[f"event {e['name']}({inputs})"] = str([i["indexed"] for i in e["inputs"]])
    return out


@pytest.fixture(scope="module")
def gtrade(anvil, universe):
    with chain_state_for(anvil, universe) as chain:
        yield deploy_gtrade(chain)


@pytest.fixture
def venue(chain, gtrade):
    chain.transact(chain.token("USDC").functions.mint(ALICE, 10_000 * USDC))
    return gtrade.venue(chain)


def read(chain, venue, account=ALICE) -> VenueState:
    rpc = connect(chain.anvil.url, chain.w3.eth.chain_id).rpc
    block = latest_block(rpc)
    (state,) = run_steps(rpc, [venue.read(account, block)], block.number)
    return state


def send(chain, account, tx) -> dict:
    tx_hash = chain.w3.eth.send_transaction({"from": account, "to": tx.to, "data": tx.data, "value": tx.value})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    return receipt


def open_short(chain, gtrade, venue, tokens=4, collateral=1000, fill=Decimal(2490)) -> str:
    """Short `tokens` XAU at the $2,500 reference with `collateral` USDC (1 % slippage), filled at `fill`."""
    state = read(chain, venue)
    (market,) = state.markets
    intent = OrderIntent(market, Decimal(-tokens), Decimal(2475), collateral_delta=Decimal(collateral),
                         reference_price=Decimal(2500))  # fmt: skip
    (approval,) = venue.approvals(ALICE, intent, intent.collateral_delta)
    chain.transact(chain.token("USDC").functions.approve(approval.spender, approval.amount), ALICE)
    (tx,) = venue.encode_order(ALICE, intent)
    order_id = venue.order_id_from_receipt(send(chain, ALICE, tx))
    oracle_fills(chain, gtrade, "openTradeMarketCallback", order_id, fill)
    return order_id


# ---------------------------------------------------------------------- the interface itself


def test_the_stand_in_and_the_shipped_abi_are_the_sdks_diamond_abi():
    """Every function and event hedger ships is, signature and return types, the SDK's; the stand-in has them all."""
    factory = str(project_root() / SDK_FACTORY)
    script = f"process.stdout.write(JSON.stringify(require({factory!r}).GNSMultiCollatDiamond__factory.abi))"
    sdk = json.loads(
        subprocess.run([str(find_node()), "-e", script], capture_output=True, check=True, text=True).stdout
    )
    shipped = json.loads((ABI_DIR / "gtrade.json").read_text())["GNSMultiCollatDiamond"]
    sdk_signatures, shipped_signatures = signatures(sdk), signatures(shipped)
    assert {s: sdk_signatures[s] for s in shipped_signatures} == shipped_signatures
    stand_in = signatures(stand_in_abi())
    used = {
        s: v
        for s, v in shipped_signatures.items()
        if not s.startswith("event Position") and "LeverageUpdateExecuted" not in s
    }
    assert {s: stand_in.get(s) for s in used} == used


# ---------------------------------------------------------------------- reading


def test_pair_parameters_are_read_in_gtrades_precisions(chain, venue):
    state = read(chain, venue)
    assert state.errors == ()
    (market,) = state.markets
    assert (market.venue, market.symbol, market.asset, market.market_id) == (GTRADE_VENUE, "XAU", "XAU", "90")
    assert market.margin_mode is MarginMode.ISOLATED and market.async_orders and market.collateral_token == "USDC"
    assert market.initial_margin_ratio == 1 / Decimal(150)  # pairMaxLeverage 150,000 at 1e3
    assert market.taker_fee == Decimal("0.0006")  # pairTotalPositionSizeFeeP 6e8 at 1e10 percent
    assert market.min_notional_usd == 1500  # pairMinPositionSizeUsd 1,500e18
    assert (market.extra["min_leverage"], market.extra["max_leverage"]) == (Decimal("1.1"), 150)
    assert market.extra["spread"] == Decimal("0.0003") and market.extra["collateral_price_usd"] == 1
    (funding,) = state.funding
    assert (funding.rate, funding.interval_s, funding.index_price) == (0, 3600, 2500)  # funding not enabled yet


def test_a_short_opens_through_the_oracle_callback_and_reads_back_exactly(chain, gtrade, venue):
    state = read(chain, venue)
    (market,) = state.markets
    intent = OrderIntent(
        market, Decimal(-4), Decimal(2475), collateral_delta=Decimal(1000), reference_price=Decimal(2500)
    )
    (tx,) = venue.encode_order(ALICE, intent)
    selector = function_signature_to_4byte_selector(
        "openTrade((address,uint32,uint16,uint24,bool,bool,uint8,uint8,uint120,uint64,uint64,uint64,bool,uint160,uint24),uint16,address)"
    )
    assert (tx.to, tx.data[:4]) == (gtrade.diamond.address, selector)
    trade, slippage, referrer = abi_decode(
        [
            "(address,uint32,uint16,uint24,bool,bool,uint8,uint8,uint120,uint64,uint64,uint64,bool,uint160,uint24)",
            "uint16",
            "address",
        ],
        tx.data[4:],
    )
    # $10,000 short on 1,000 USDC: 10× leverage; expected price $2,500; 1 % = 1,000 at 1e3 percent
    assert trade[2:10] == (XAU_PAIR, 10 * LEV, False, True, COLLATERAL_INDEX, 0, SENT, 2500 * PRICE)
    assert (slippage, referrer) == (1000, "0x0000000000000000000000000000000000000000")

    (approval,) = venue.approvals(ALICE, intent, intent.collateral_delta)
    assert (approval.token, approval.spender, approval.amount) == (
        chain.universe.tokens["USDC"],
        gtrade.diamond.address,
        SENT,
    )
    chain.transact(chain.token("USDC").functions.approve(approval.spender, approval.amount), ALICE)
    order_id = venue.order_id_from_receipt(send(chain, ALICE, tx))
    assert order_id == f"{ALICE}:0"
    (pending,) = read(chain, venue).pending_orders
    assert (pending.order_id, pending.collateral_delta) == (order_id, Decimal(SENT).scaleb(-6))
    assert pending.size_delta == pytest.approx(Decimal(-4), abs=Decimal("1e-8"))  # net of the opening fee
    assert venue.order_outcome(order_id, 0).status == "pending"

    oracle_fills(chain, gtrade, "openTradeMarketCallback", order_id, Decimal(2490))
    assert venue.order_outcome(order_id, 0).status == "executed"
    state = read(chain, venue)
    assert state.pending_orders == () and state.errors == ()
    (position,) = state.positions
    # the 0.06 % fee on $10,000 (6 USDC) comes out of the collateral at unchanged 10× leverage:
    # what is left after the fee, at 10×, in tokens at the $2,490 fill: a hair over 4 XAU × 2,500 / 2,490
    tokens = OURS
    assert position.contracts == Decimal(tokens).scaleb(-18) and position.side is Side.SHORT
    assert (position.extra["contracts_version"], position.extra["max_slippage_p"]) == (2, 1)  # v10 TradeInfo
    assert (position.entry_price, position.mark_price, position.collateral_amount) == (
        2490,
        2500,
        Decimal(AFTER).scaleb(-6),
    )
    assert position.unrealized_pnl_usd == -10 * Decimal(tokens).scaleb(-18)
    closing_fee = Decimal(tokens).scaleb(-18) * 2500 * Decimal("0.0006")
    assert position.closing_costs_usd == closing_fee  # no holding fees accrued yet
    # liquidated at a 90 % loss of collateral: 2,490 + (0.9 × collateral − closing fee) / tokens
    cushion = Decimal("0.9") * Decimal(AFTER).scaleb(-6) - closing_fee
    assert position.liquidation_price == 2490 + cushion / Decimal(tokens).scaleb(-18)


def test_funding_and_borrowing_are_read_as_gtrade_v10_computes_them(chain, gtrade, venue):
    open_short(chain, gtrade, venue)
    d = gtrade.diamond.functions
    ours = OURS
    chain.transact(d.setPairOiToken(COLLATERAL_INDEX, XAU_PAIR, (100 * TOKEN, 20 * TOKEN + ours)))
    # skew coefficient 1e19 (1e26 precision), velocity cap 1 (1e7), rate cap 1e-5 % per second (1e10), theta $0
    chain.transact(d.setFundingFeeParams(COLLATERAL_INDEX, XAU_PAIR, (10**19, 10**7, 10**5, 0, True, True, 0)))
    start = chain.now()
    chain.transact(d.setPairFundingFeeData(COLLATERAL_INDEX, XAU_PAIR, (0, 0, 2 * 10**11, start, 0)))  # 2e-7 %/s
    chain.transact(d.setBorrowingFeeParams(COLLATERAL_INDEX, XAU_PAIR, (1000, 0)))  # 1e-7 % per second
    chain.transact(d.setPairBorrowingFeeData(COLLATERAL_INDEX, XAU_PAIR, (0, start, 0)))
    chain.anvil.set_next_block_timestamp(start + 3600)
    chain.anvil.mine()

    state = read(chain, venue)
    net = 100 * TOKEN - (20 * TOKEN + ours)
    velocity = net * 10**19 // 10**34  # 1e10 percent per second, per year
    rate = 2 * 10**11 + 3600 * velocity * 10**8 // (365 * 86400)  # 1e18 percent per second
    (funding,) = state.funding
    per_hour = Decimal(rate).scaleb(-18) / 100 * 3600
    assert funding.rate == per_hour  # longs (the larger side) pay
    multiplier = 100 * TOKEN * 10**20 // (20 * TOKEN + ours)  # the APR multiplier, 1e20
    assert funding.short_rate == -per_hour * Decimal(multiplier).scaleb(-20)
    assert funding.borrowing_long_per_hour == funding.borrowing_short_per_hour == Decimal("0.0000036")

    average = (2 * 10**11 + rate) // 2
    delta = average * 3600 * 2500 * PRICE // 10**8  # 1e20
    acc_short = -(delta * multiplier // 10**20)
    size = AFTER * 10 * LEV // LEV
    funding_fee = -((size * -acc_short // (2490 * PRICE)) // 100 // PRICE)  # the short earns
    borrowing_fee = size * (1000 * 3600 * 2500 * PRICE) // (2490 * PRICE) // 100 // PRICE
    (position,) = state.positions
    assert (position.extra["funding_fee_collateral_raw"], position.extra["borrowing_fee_collateral_raw"]) == (
        funding_fee, borrowing_fee,
    )  # fmt: skip
    assert position.accrued_funding_usd == Decimal(funding_fee).scaleb(-6)
    closing_fee = Decimal(ours).scaleb(-18) * 2500 * Decimal("0.0006")
    assert position.closing_costs_usd == Decimal(funding_fee + borrowing_fee).scaleb(-6) + closing_fee


# ---------------------------------------------------------------------- orders on an open trade


def test_decrease_close_and_collateral_orders_encode_gtrades_calls(chain, gtrade, venue):
    open_short(chain, gtrade, venue)
    (position,) = read(chain, venue).positions
    (market,) = read(chain, venue).markets
    half = OrderIntent(market, position.contracts / 2, Decimal(2525), reduce_only=True, position=position)
    (tx,) = venue.encode_order(ALICE, half)
    assert tx.data[:4] == function_signature_to_4byte_selector("decreasePositionSize(uint32,uint120,uint24,uint64)")
    out = AFTER // 2  # half the collateral, rounded down, at unchanged leverage (leverageDelta 0)
    assert abi_decode(["uint32", "uint120", "uint24", "uint64"], tx.data[4:]) == (0, out, 0, 2525 * PRICE)
    order_id = venue.order_id_from_receipt(send(chain, ALICE, tx))
    oracle_fills(chain, gtrade, "decreasePositionSizeMarketCallback", order_id, Decimal(2500))
    (smaller,) = read(chain, venue).positions
    tokens = OURS - OURS * out // AFTER  # the diamond removes the same share of positionSizeToken
    assert (smaller.contracts, smaller.collateral_amount) == (
        Decimal(tokens).scaleb(-18),
        Decimal(AFTER - out).scaleb(-6),
    )

    top_up = OrderIntent(market, Decimal(0), Decimal(2525), collateral_delta=Decimal(500), position=smaller)
    (tx,) = venue.encode_order(ALICE, top_up)
    size = (AFTER - out) * 10 * LEV  # collateral × leverage (1e3)
    leverage = -(-size // (AFTER - out + 500 * USDC))  # rounded up: never pulls more than the 500 USDC asked
    assert abi_decode(["uint32", "uint24"], tx.data[4:]) == (0, leverage) and leverage == 5001
    chain.transact(chain.token("USDC").functions.approve(gtrade.diamond.address, 500 * USDC), ALICE)
    order_id = venue.order_id_from_receipt(send(chain, ALICE, tx))
    oracle_fills(chain, gtrade, "updateLeverageCallback", order_id, Decimal(2500))
    (safer,) = read(chain, venue).positions
    collateral = size // leverage
    assert (safer.contracts, safer.collateral_amount) == (smaller.contracts, Decimal(collateral).scaleb(-6))
    assert safer.extra["leverage"] == Decimal("5.001")

    close = OrderIntent(market, safer.contracts, Decimal(2525), reduce_only=True, position=safer)
    (tx,) = venue.encode_order(ALICE, close)
    assert tx.data[:4] == function_signature_to_4byte_selector("closeTradeMarket(uint32,uint64)")
    before = chain.token("USDC").functions.balanceOf(ALICE).call()
    order_id = venue.order_id_from_receipt(send(chain, ALICE, tx))
    oracle_fills(chain, gtrade, "closeTradeMarketCallback", order_id, Decimal(2500))
    assert read(chain, venue).positions == ()
    # the collateral − the $10 loss per token (2,500 − 2,490) − the 0.06 % closing fee on collateral × 5.001
    loss = tokens * 10 // 10**12  # 1e18 USD to 6-decimal USDC at $1
    fee = collateral * leverage // LEV * 6 * 10**8 // 10**10 // 100
    assert chain.token("USDC").functions.balanceOf(ALICE).call() - before == collateral - loss - fee


def test_oracle_cancellations_come_back_with_gtrades_reason(chain, gtrade, venue):
    balance = chain.token("USDC").functions.balanceOf(ALICE).call()
    slipped = open_short(chain, gtrade, venue, fill=Decimal(2470))  # below $2,475: more than 1 % worse for a short
    assert venue.order_outcome(slipped, 0).status == "cancelled"
    assert venue.order_outcome(slipped, 0).reason == "MarketOpenCanceled: SLIPPAGE"
    assert chain.token("USDC").functions.balanceOf(ALICE).call() == balance  # the collateral came back
    chain.transact(gtrade.diamond.functions.setPairClosed(XAU_PAIR, True))
    closed = open_short(chain, gtrade, venue)
    assert venue.order_outcome(closed, 0).reason == "MarketOpenCanceled: MARKET_CLOSED"
    assert read(chain, venue).positions == ()


def test_orders_the_venue_cannot_express_are_refused(chain, gtrade, venue):
    (market,) = read(chain, venue).markets
    too_much = OrderIntent(
        market, Decimal(-4), Decimal(2475), collateral_delta=Decimal(50), reference_price=Decimal(2500)
    )
    with pytest.raises(UnsupportedOrder, match="outside gTrade's"):
        venue.encode_order(ALICE, too_much)  # 200×
    no_collateral = OrderIntent(market, Decimal(-4), Decimal(2475), reference_price=Decimal(2500))
    with pytest.raises(UnsupportedOrder, match="carries its own collateral"):
        venue.encode_order(ALICE, no_collateral)
    with pytest.raises(UnsupportedOrder, match="per trade"):
        venue.encode_collateral(ALICE, Decimal(100))


# ---------------------------------------------------------------------- hedging end to end


TRADER, TRADER_KEY = DEV_ACCOUNTS[5]


@pytest.fixture
def session(chain, gtrade, tmp_path, monkeypatch):
    """A Session on the gTrade stand-in for an account holding 4 PAXG (gold) and 10,000 USDC, and gas."""
    from hedger.app.session import Session

    chain.anvil.set_balance(TRADER, 10**17)  # 0.1 ETH of gas: too little ETH exposure to size a hedge
    chain.transact(gtrade.paxg.functions.mint(TRADER, 4 * TOKEN))
    chain.transact(chain.token("USDC").functions.mint(TRADER, 10_000 * USDC))
    monkeypatch.setenv("HEDGER_PRIVATE_KEY", TRADER_KEY)
    opened = Session(gtrade.network, chain.w3, TRADER, chain.anvil.url, tmp_path / "journal.sqlite")
    yield opened
    opened.close()


def test_paxg_is_hedged_with_the_gold_perp_read_planned_and_executed(chain, gtrade, session):
    from hedger.model import ActionKind
    from hedger.strategy.state import PlannerState

    snapshot = session.snapshot()
    gold = snapshot.exposure("XAU")
    assert (gold.spot, gold.perp, gold.price) == (4, 0, 2500)  # 4 PAXG are gold exposure, priced by XAU/USD
    plan = session.plan(snapshot, PlannerState())
    (order,) = [a for a in plan.actions if a.venue == GTRADE_VENUE]
    assert (order.kind, order.symbol, order.size_delta) == (ActionKind.OPEN, "XAU", -4)
    assert order.collateral_delta > 0
    (outcome,) = session.executor().execute(plan, snapshot).outcomes
    assert outcome.status == "order_pending", outcome.detail
    intent = session.journal.intents()[-1]
    (pending,) = session.snapshot().pending_orders
    assert pending.order_id == intent.order_id
    assert pending.size_delta == pytest.approx(Decimal(-4), abs=Decimal("1e-8"))

    oracle_fills(chain, gtrade, "openTradeMarketCallback", intent.order_id, Decimal(2500))
    (note,) = session.executor().reconcile()  # the executor follows the order to gTrade's MarketExecuted
    assert note == f"{intent.id[:8]} open gtrade:XAU: order {intent.order_id} executed"
    assert session.journal.intents()[-1].status.value == "done"
    after = session.snapshot()
    (position,) = after.positions
    # the collateral sent covered the opening fee: 4 XAU short, less the rounding of leverage and units
    assert position.side is Side.SHORT and position.contracts == pytest.approx(Decimal(4), abs=Decimal("1e-5"))
    assert abs(after.exposure("XAU").net) < Decimal("1e-5")


# ---------------------------------------------------------------------- market hours on the chain

METALS = {
    "timezone": "America/New_York",
    "weekly": ["sun 18:10-24:00", "mon-thu 00:00-17:00", "mon-thu 18:10-24:00", "fri 00:00-17:00"],
    "reopen_jump_rel": "0.1",
}


def next_weekday_at(now: int, weekday: int, hour: int, minute: int) -> int:
    """The first UTC time after `now` on `weekday` (0 = Monday) at hour:minute."""
    from datetime import UTC, datetime, timedelta

    day = datetime.fromtimestamp(now, UTC).replace(hour=hour, minute=minute, second=0)
    if day.timestamp() <= now:
        day += timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return int(day.timestamp())


@pytest.fixture
def hours_session(chain, gtrade, tmp_path, monkeypatch):
    """The PAXG account on a network file whose XAU market keeps metals hours (gTrade's commodities schedule)."""
    from hedger.app.session import Session
    from hedger.settings import parse_network

    chain.anvil.set_balance(TRADER, 10**17)
    chain.transact(gtrade.paxg.functions.mint(TRADER, 4 * TOKEN))
    chain.transact(chain.token("USDC").functions.mint(TRADER, 10_000 * USDC))
    monkeypatch.setenv("HEDGER_PRIVATE_KEY", TRADER_KEY)
    document = {
        **gtrade.document,
        "strategy": {"market_hours": {"calendars": {"metals": METALS}, "assets": {"XAU": "metals"}}},
    }
    opened = Session(
        parse_network(document, "<gtrade with hours>"), chain.w3, TRADER, chain.anvil.url, tmp_path / "j.sqlite"
    )
    yield opened
    opened.close()


def at_time(chain, timestamp: int) -> None:
    """Mine a block at `timestamp`, then republish the 24/7 feeds (crypto and USDC never stop printing)."""
    chain.anvil.set_next_block_timestamp(timestamp)
    chain.anvil.mine()
    for feed in chain.universe.spec.feeds:
        chain.transact(chain.feed(feed.name).functions.setAnswer(int(feed.price * 10**8)))


def test_a_closed_gold_market_gets_no_order_and_no_halt_and_reopening_waits_for_a_fresh_price(
    chain, gtrade, hours_session
):
    from hedger.strategy.state import PlannerState

    friday = next_weekday_at(chain.now(), 4, 21, 58)  # Friday 16:58 in New York (UTC−5 in winter, −4 in summer)
    at_time(chain, friday - (3600 if _summer(friday) else 0))
    chain.transact(gtrade.xau_feed.functions.setAnswer(2500 * 10**8))  # the last gold price of the week
    at_time(chain, friday + 14 * 3600)  # Saturday, about noon
    closed = hours_session.plan(hours_session.snapshot(), PlannerState())
    assert closed.verdict is not Verdict.HALT and [a for a in closed.actions if a.venue == GTRADE_VENUE] == []
    codes = {r.code for r in closed.reasons}
    assert "market_closed" in codes and "oracle_stale" not in codes

    sunday_open = next_weekday_at(chain.now(), 6, 23, 10) - (3600 if _summer(friday) else 0)  # Sunday 18:10
    at_time(chain, sunday_open + 600)
    waiting = hours_session.plan(hours_session.snapshot(), PlannerState())
    assert waiting.verdict is not Verdict.HALT and [a for a in waiting.actions if a.venue == GTRADE_VENUE] == []
    assert "awaiting_fresh_price" in {r.code for r in waiting.reasons}

    chain.transact(gtrade.xau_feed.functions.setAnswer(2540 * 10**8))  # +1.6 % over the weekend: a normal gap
    fresh = hours_session.plan(hours_session.snapshot(), PlannerState())
    (order,) = [a for a in fresh.actions if a.venue == GTRADE_VENUE]
    assert (order.symbol, order.size_delta) == ("XAU", -4) and fresh.verdict is not Verdict.HALT


def _summer(timestamp: int) -> bool:
    """Whether New York is on daylight time then (UTC−4)."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    offset = datetime.fromtimestamp(timestamp, UTC).astimezone(ZoneInfo("America/New_York")).utcoffset()
    return offset is not None and offset.total_seconds() == -4 * 3600


def test_the_stand_ins_funding_math_and_hedgers_model_agree_to_the_unit(chain, gtrade):
    """The diamond stand-in (Solidity) and hedger.venues.gtrade's pure model (Python) compute gTrade v10's pending
    funding independently; over random skews, rates, caps and periods (sign changes and caps included) they agree
    exactly, and borrowing too."""
    import random

    from hedger.venues.gtrade import FundingData, FundingParams, pending_acc_borrowing, pending_acc_funding

    d, rng = gtrade.diamond.functions, random.Random(14)
    for _ in range(12):
        params = (rng.randrange(10**17, 10**21), rng.randrange(1, 10**7), rng.randrange(1, 10**6),
                  rng.choice([0, 1000, 10**6]), True, rng.random() < 0.7, 0)  # fmt: skip
        oi = (rng.randrange(0, 500) * TOKEN // 7, rng.randrange(0, 500) * TOKEN // 3)
        now = chain.now() + 1  # the block the next view sees is mined after the setters
        data = (rng.randrange(-(10**20), 10**20), rng.randrange(-(10**20), 10**20),
                rng.randrange(-(10**13), 10**13), now - rng.randrange(0, 30 * 86400), 0)  # fmt: skip
        price = rng.randrange(1, 10**5) * PRICE // 10
        borrowing = (rng.randrange(0, 10**5), 0)
        for call in (d.setFundingFeeParams(COLLATERAL_INDEX, XAU_PAIR, params),
                     d.setPairOiToken(COLLATERAL_INDEX, XAU_PAIR, oi),
                     d.setPairFundingFeeData(COLLATERAL_INDEX, XAU_PAIR, data),
                     d.setBorrowingFeeParams(COLLATERAL_INDEX, XAU_PAIR, borrowing),
                     d.setPairBorrowingFeeData(COLLATERAL_INDEX, XAU_PAIR, (10**18, data[3], 0))):  # fmt: skip
            chain.transact(call)
        block = chain.w3.eth.get_block("latest")
        on_chain = d.getPairPendingAccFundingFees(COLLATERAL_INDEX, XAU_PAIR, price).call(block_identifier=block.number)
        model = pending_acc_funding(FundingParams(*params[:6]), FundingData(*data[:4]), *oi, price, block.timestamp)
        assert tuple(on_chain) == model, (params, oi, data, price)
        acc = d.getPairPendingAccBorrowingFees(COLLATERAL_INDEX, XAU_PAIR, price).call(block_identifier=block.number)
        assert acc == pending_acc_borrowing(borrowing[0], 10**18, data[3], price, block.timestamp)
