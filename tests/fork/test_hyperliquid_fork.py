"""The Hyperliquid adapter against HyperEVM's real read precompiles. Skipped unless HEDGER_RPC_HYPEREVM
is set.

Not through an Anvil fork: the precompiles at 0x…0800 are HyperCore state served by Hyperliquid's own
nodes, not EVM code, so a local fork cannot execute them. These tests read the live chain instead, at
its latest block, and send nothing. HEDGER_HYPEREVM_ACCOUNT picks the account read (default: the HLP
vault, which always has an account on HyperCore).
"""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

from hedger.chain.connect import Chain, connect
from hedger.chain.multicall import latest_block, run_steps
from hedger.settings import load_network
from hedger.venues.hyperliquid import HyperliquidVenue

RPC_URL = os.environ.get("HEDGER_RPC_HYPEREVM")
ACCOUNT = os.environ.get("HEDGER_HYPEREVM_ACCOUNT", "0xdfc24b077bc1425AD1DEA75bCB6f8158E10Df303")
HYPEREVM = 999

pytestmark = [
    pytest.mark.fork,
    pytest.mark.skipif(not RPC_URL, reason="set HEDGER_RPC_HYPEREVM to read the live HyperEVM precompiles"),
]


def test_live_precompiles_read_through_the_adapter_are_sane():
    network = load_network("hyperevm")
    w3 = connect(RPC_URL, HYPEREVM)
    venue = HyperliquidVenue(w3, network, network.venues["hyperliquid"])
    rpc = Chain.of(w3).rpc
    block = latest_block(rpc)
    (state,) = run_steps(rpc, [venue.read(ACCOUNT, block)], "latest", network.multicall)  # HyperEVM: head only
    assert state.markets[0].extra["l1_block"] > 0 and state.markets[0].extra["evm_block"] >= block.number
    # coin and szDecimals matched the network file, or the market would be missing
    assert {m.symbol: m.extra["sz_decimals"] for m in state.markets} == {"BTC": 5, "ETH": 4}
    prices = {}
    for funding in state.funding:
        assert funding.rate is None and funding.interval_s == 3600  # no funding on-chain
        assert funding.mark_price > 0 and abs(funding.mark_price / funding.index_price - 1) < Decimal("0.05")
        prices[funding.symbol] = funding.index_price
    assert prices["BTC"] > prices["ETH"] > 100
    for position in state.positions:
        assert position.contracts > 0 and position.entry_price > 0 and position.unrealized_pnl_usd is not None
    assert state.margin is not None and state.margin.equity_usd >= 0
    assert [e for e in state.errors if "funding unknown" not in e] == []
