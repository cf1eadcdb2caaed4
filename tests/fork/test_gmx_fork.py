"""GMX v2 on an Anvil fork of Arbitrum One at a pinned block: the adapter against the real Reader,
DataStore, ExchangeRouter and Chainlink feeds. Skipped unless HEDGER_RPC_ARBITRUM is set.

HEDGER_FORK_BLOCK_ARBITRUM pins another block (the default is shortly after the Reader and
ExchangeRouter in networks/arbitrum-one.toml were deployed, at blocks 401,120,009 and 401,119,771).
The assertions hold for any block at which those contracts are GMX's live ones.
"""

from __future__ import annotations

import copy
import os
import tomllib
from decimal import Decimal

import pytest

from hedger.chain.anvil import DEV_ACCOUNTS, Anvil, AnvilConfig
from hedger.chain.connect import Chain, connect
from hedger.chain.multicall import latest_block, run_steps
from hedger.chain.toolchain import project_root
from hedger.settings import load_network, parse_network
from hedger.snapshot import SnapshotReader
from hedger.venues.base import OrderIntent
from hedger.venues.gmx_v2 import GmxV2Venue

RPC_URL = os.environ.get("HEDGER_RPC_ARBITRUM")
FORK_BLOCK = int(os.environ.get("HEDGER_FORK_BLOCK_ARBITRUM", "402000000"))
ARBITRUM = 42161
TRADER = DEV_ACCOUNTS[2][0]  # Anvil funds its dev accounts with ETH on a fork too

pytestmark = [
    pytest.mark.fork,
    pytest.mark.skipif(not RPC_URL, reason="set HEDGER_RPC_ARBITRUM to run the GMX fork tests"),
]


@pytest.fixture(scope="module")
def fork():
    node = Anvil.launch(AnvilConfig(fork_url=RPC_URL, fork_block=FORK_BLOCK, chain_id=ARBITRUM), timeout_s=120)
    yield node
    node.stop()


def network_with_weth_collateral():
    """networks/arbitrum-one.toml with WETH as the ETH market's collateral (the trader holds only ETH)."""
    doc = tomllib.loads((project_root() / "networks" / "arbitrum-one.toml").read_text())
    doc = copy.deepcopy(doc)
    doc["venues"]["gmx"]["markets"]["ETH"]["collateral_token"] = "WETH"
    return parse_network(doc, "arbitrum-one.toml (WETH collateral)")


def read(w3, venue, account):
    rpc = Chain.of(w3).rpc
    block = latest_block(rpc)
    (state,) = run_steps(rpc, [venue.read(account, block)], block.number)
    return state


def test_markets_funding_and_prices_read_from_real_gmx_are_sane(fork):
    network = load_network("arbitrum-one")
    w3 = connect(fork.url, ARBITRUM)
    snapshot = SnapshotReader(w3, network).take(TRADER)
    assert snapshot.rpc_round_trips <= 3
    gmx_markets = [m for m in snapshot.markets if m.venue == "gmx"]  # the file also has gTrade's XAU and EUR
    assert {m.symbol for m in gmx_markets} == {"ETH", "BTC"}
    for market in gmx_markets:
        assert 0 < market.maintenance_margin_ratio <= market.initial_margin_ratio < 1
        assert 0 < market.taker_fee < Decimal("0.01") and market.min_notional_usd > 0
        assert market.extra["open_interest_long_usd"] > 0 and market.extra["open_interest_short_usd"] > 0
    for funding in (f for f in snapshot.funding if f.venue == "gmx"):
        feed = network.feeds["ETH/USD" if funding.symbol == "ETH" else "BTC/USD"]
        assert funding.known and funding.interval_s == 3600
        assert feed.min_price < funding.index_price < feed.max_price and funding.mark_price == funding.index_price
        assert funding.index_price == snapshot.oracle(funding.symbol).price
        assert funding.rate * funding.short_rate <= 0  # one side pays what the other receives
        assert abs(funding.rate) < Decimal("0.001") and abs(funding.short_rate) < Decimal("0.001")  # per hour
        assert 0 <= funding.borrowing_long_per_hour < Decimal("0.001")
        assert 0 <= funding.borrowing_short_per_hour < Decimal("0.001")
    state = read(w3, GmxV2Venue(w3, network, network.venues["gmx"]), TRADER)
    assert state.errors == () and state.positions == ()


def test_an_encoded_order_is_accepted_by_the_real_exchange_router_then_cancelled(fork):
    network = network_with_weth_collateral()
    w3 = connect(fork.url, ARBITRUM)
    venue = GmxV2Venue(w3, network, network.venues["gmx"])
    state = read(w3, venue, TRADER)
    market = next(m for m in state.markets if m.symbol == "ETH")
    price = next(f for f in state.funding if f.symbol == "ETH").index_price
    intent = OrderIntent(
        market, Decimal("-0.01"), price * Decimal("0.99"), collateral_delta=Decimal("0.01"), reference_price=price
    )
    (tx,) = venue.encode_order(TRADER, intent)
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    # no priority fee: GMX wants executionFee ≥ its gas estimate × the transaction's gas price
    fees = {"maxFeePerGas": 2 * base_fee, "maxPriorityFeePerGas": 0}
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": TRADER, "to": tx.to, "data": tx.data, "value": tx.value, **fees})
    )
    assert receipt["status"] == 1
    order_id = venue.order_id_from_receipt(receipt)
    (order,) = [o for o in read(w3, venue, TRADER).pending_orders if o.order_id == order_id]
    assert order.extra["order_type"] == 2 and order.extra["is_long"] is False
    assert order.extra["size_delta_usd"] == Decimal("0.01") * price and order.size_delta == Decimal("-0.01")
    assert venue.order_outcome(order_id, receipt["blockNumber"]).status == "pending"

    fork.increase_time(3600)  # GMX lets an account cancel a market order once its request expired
    cancel = venue.encode_cancel(TRADER, order)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": TRADER, "to": cancel.to, "data": cancel.data, **fees})
    )
    assert receipt["status"] == 1
    assert venue.order_outcome(order_id, receipt["blockNumber"] - 1).status == "cancelled"
