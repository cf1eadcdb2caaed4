"""One-block snapshots of the reference universe: exact values, failures isolated, constant round trips."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hedger.chain.connect import connect
from hedger.chain.nodes import DEV_ACCOUNTS
from hedger.errors import ChainIdMismatch
from hedger.model import Side
from hedger.snapshot import SnapshotReader
from tests.support.chain_helpers import WAD, fund_margin

pytestmark = pytest.mark.integration

ALICE = DEV_ACCOUNTS[2][0]
ETH, BTC = 1, 2


def reader(chain) -> SnapshotReader:
    network = chain.network
    return SnapshotReader(connect(chain.node.url, network.chain_id), network)


def short_eth(chain, account, size_wad=10 * WAD):
    fund_margin(chain, account, 10_000)
    chain.transact(chain.perp.functions.modifyPosition(ETH, -size_wad, 0), account)


def test_balances_exposure_and_position_are_exact(chain):
    demo = chain.universe.demo_account
    short_eth(chain, demo, 4 * WAD)
    snap = reader(chain).take(demo)
    balances = {b.token: b for b in snap.balances}
    assert balances["WETH"].raw == 10 * 10**18 and balances["WETH"].amount == Decimal(10)
    native = Decimal(chain.w3.eth.get_balance(demo, snap.block_number)).scaleb(-18)  # 1 ETH less the gas spent
    assert balances["WBTC"].amount == Decimal("0.5") and balances["ETH"].amount == native
    (position,) = snap.positions
    size, _, cost, pnl, _ = chain.perp.functions.getPosition(demo, ETH).call()
    assert position.side is Side.SHORT and position.contracts == Decimal(4)
    assert position.entry_price == Decimal(cost) / Decimal(size)
    assert position.unrealized_pnl_usd == Decimal(pnl).scaleb(-18)
    assert position.mark_price == Decimal(3000)
    on_chain_liquidation = Decimal(chain.perp.functions.liquidationPrice(demo, ETH).call()).scaleb(-18)
    assert abs(position.liquidation_price - on_chain_liquidation) < Decimal("1e-9")  # same formula, client-side
    eth = snap.exposure("ETH")
    spot = 10 + native
    assert (eth.spot, eth.perp, eth.net, eth.hedge_ratio) == (spot, Decimal(-4), spot - 4, Decimal(4) / spot)
    assert snap.exposure("BTC").net_usd == Decimal(30000)
    margin = snap.margin("reference")
    summary = chain.perp.functions.accountSummary(demo).call()
    assert margin.collateral == Decimal(summary[0]).scaleb(-6) and margin.equity_usd == Decimal(summary[1]).scaleb(-18)


def test_every_value_comes_from_one_block_in_three_round_trips(chain):
    short_eth(chain, ALICE)
    for name in chain.universe.feeds:  # a second round on every feed: its previous round is read too
        feed = chain.feed(name)
        chain.transact(feed.functions.setAnswer(feed.functions.latestRoundData().call()[1]))
    snap = reader(chain).take(ALICE)
    sources = [b.source for b in snap.balances] + [o.source for o in snap.oracles]
    sources += [f.source for f in snap.funding] + [p.source for p in snap.positions] + [snap.sequencer.source]
    assert {s.block_number for s in sources} == {snap.block_number}
    assert {s.block_timestamp for s in sources} == {snap.block_timestamp}
    assert snap.rpc_round_trips == 3


def test_funding_carries_its_interval_sign_and_annualisation(chain):
    short_eth(chain, ALICE)
    snap = reader(chain).take(ALICE)
    funding = snap.funding_of("reference", "ETH")
    on_chain = chain.perp.functions.currentFundingRate(ETH).call()
    assert on_chain < 0  # shorts dominate: shorts pay, longs receive
    assert funding.rate == Decimal(on_chain).scaleb(-18) and funding.interval_s == 3600
    assert funding.per_hour == funding.rate and funding.annualized == funding.rate * 8760
    assert funding.paid_per_hour(Side.SHORT) == -funding.rate
    assert funding.index_price == Decimal(3000)
    assert funding.mark_price == Decimal(chain.perp.functions.fillPrice(ETH, 0).call()).scaleb(-18) < 3000


def test_oracle_readings_carry_rounds_times_and_configuration(chain):
    feed = chain.feed("ETH/USD")
    receipt = chain.transact(feed.functions.setAnswer(3100 * 10**8))
    updated = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    reading = reader(chain).take(ALICE).oracle("ETH")
    assert (reading.round_id, reading.answer, reading.updated_at, reading.started_at) == (
        2,
        3100 * 10**8,
        updated,
        updated,
    )
    assert (reading.previous_answer, reading.price, reading.previous_price) == (
        3000 * 10**8,
        Decimal(3100),
        Decimal(3000),
    )
    assert reading.heartbeat_s == 3600 and reading.decimals == 8 and reading.error is None


def test_a_failing_feed_becomes_a_failed_reading_and_hides_nothing_else(chain):
    chain.transact(chain.feed("BTC/USD").functions.setReverting(True))
    snap = reader(chain).take(ALICE)
    btc, eth = snap.oracle("BTC"), snap.oracle("ETH")
    assert not btc.ok and "reverted" in btc.error and btc.answer is None
    assert eth.ok and eth.price == Decimal(3000)
    btc_funding = snap.funding_of("reference", "BTC")
    assert btc_funding.index_price is None and btc_funding.rate == 0  # the rate needs no price
    assert snap.funding_of("reference", "ETH").index_price == Decimal(3000)


def test_a_garbled_answer_is_a_failed_reading(chain):
    chain.node.set_code(chain.universe.feeds["USDC/USD"], "0x60016000f3")  # returns a single byte
    reading = reader(chain).take(ALICE).oracle("USDC")
    assert not reading.ok and "undecodable" in reading.error


def test_a_stale_oracle_still_shows_the_position_size(chain):
    short_eth(chain, ALICE)
    chain.transact(chain.feed("ETH/USD").functions.setUpdatedAt(chain.now() - 7200))
    snap = reader(chain).take(ALICE)
    (position,) = snap.positions
    assert position.contracts == Decimal(10) and position.mark_price is None and position.unrealized_pnl_usd is None
    assert snap.oracle("ETH").age_s >= 7200


def test_pending_orders_and_sequencer_status(chain):
    fund_margin(chain, ALICE, 10_000)
    receipt = chain.transact(chain.perp.functions.commitOrder(ETH, -WAD, 0), ALICE)
    committed = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    chain.transact(chain.sequencer.functions.setDown(True))
    snap = reader(chain).take(ALICE)
    (order,) = snap.pending_orders
    assert (order.symbol, order.size_delta, order.created_at) == ("ETH", Decimal(-1), committed)
    assert (order.ready_at, order.expires_at) == (committed + 5, committed + 300)
    assert snap.sequencer.up is False and snap.sequencer.grace_period_s == 3600


def test_the_rpc_must_serve_the_configured_chain(chain):
    with pytest.raises(ChainIdMismatch, match="expects 42161, the RPC serves 31337"):
        connect(chain.node.url, 42161)
