"""gTrade v10 on an Anvil fork of Arbitrum One at a pinned block: the adapter against the real
GNSMultiCollatDiamond and Chainlink feeds. Skipped unless HEDGER_RPC_ARBITRUM is set.

HEDGER_FORK_BLOCK_ARBITRUM pins the block (default 402,000,000, as the GMX fork tests: after gTrade's v10
upgrade). The assertions are about shapes and precisions, so they hold at any v10 block; they check what the
stand-in cannot: that the real diamond answers the SDK's ABI in the precisions hedger assumes."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

from hedger.chain.anvil import DEV_ACCOUNTS, Anvil, AnvilConfig
from hedger.chain.connect import Chain, connect
from hedger.chain.multicall import latest_block, run_steps
from hedger.settings import load_network
from hedger.venues.gtrade import GTradeVenue

RPC_URL = os.environ.get("HEDGER_RPC_ARBITRUM")
FORK_BLOCK = int(os.environ.get("HEDGER_FORK_BLOCK_ARBITRUM", "402000000"))
ARBITRUM = 42161
TRADER = DEV_ACCOUNTS[2][0]

pytestmark = [
    pytest.mark.fork,
    pytest.mark.skipif(not RPC_URL, reason="set HEDGER_RPC_ARBITRUM to run the gTrade fork tests"),
]


@pytest.fixture(scope="module")
def fork():
    node = Anvil.launch(AnvilConfig(fork_url=RPC_URL, fork_block=FORK_BLOCK, chain_id=ARBITRUM), timeout_s=120)
    yield node
    node.stop()


def test_gold_and_euro_pairs_read_from_the_real_diamond_are_sane(fork):
    network = load_network("arbitrum-one")
    w3 = connect(fork.url, ARBITRUM)
    venue = GTradeVenue(w3, network, network.venues["gtrade"])
    rpc = Chain.of(w3).rpc
    block = latest_block(rpc)
    (state,) = run_steps(rpc, [venue.read(TRADER, block)], block.number)
    assert state.errors == () and state.positions == () and state.pending_orders == ()
    assert {m.symbol for m in state.markets} == {"XAU", "EUR"}
    for market in state.markets:
        assert 1 <= market.extra["min_leverage"] < market.extra["max_leverage"] <= 1000  # 1e3 precision
        assert 0 < market.taker_fee < Decimal("0.01")  # 1e10 percent
        assert 1 <= market.min_notional_usd <= 100_000  # 1e18 USD
        assert 0 <= market.extra["spread"] < Decimal("0.01")
        assert market.extra["collateral_price_usd"] == pytest.approx(Decimal(1), abs=Decimal("0.02"))  # USDC
    for funding in state.funding:
        assert funding.known and funding.interval_s == 3600
        assert abs(funding.rate) < Decimal("0.001") and abs(funding.short_rate) < Decimal("0.01")  # per hour
        assert 0 <= funding.borrowing_long_per_hour < Decimal("0.001")
