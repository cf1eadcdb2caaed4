"""GMX v2 (gmx-synthetics) on Arbitrum behind the Venue protocol: the reading and the order halves put
together with the contracts and markets of the network file. See docs/venues.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hedger.chain.connect import Chain
from hedger.chain.multicall import AbiContract
from hedger.settings import NetworkConfig, VenueConfig
from hedger.venues._abi import load_abi
from hedger.venues.gmx_v2.config import execution_fee_wei, market_of, token_of
from hedger.venues.gmx_v2.orders import GmxOrders
from hedger.venues.gmx_v2.read import GmxReading

if TYPE_CHECKING:
    from web3 import Web3


class GmxV2Venue(GmxReading, GmxOrders):
    """GMX v2 behind the Venue protocol (hedger.venues.base)."""

    kind = "gmx_v2"

    def __init__(self, chain: Chain | Web3, network: NetworkConfig, config: VenueConfig):
        self.name = config.name
        self.config = config
        self.chain = Chain.of(chain)  # a Web3 is accepted (tests, scripts): reads still go through chain.rpc
        self.reader = AbiContract(config.require("reader"), load_abi("gmx_v2", "Reader"))
        self.data_store = AbiContract(config.require("data_store"), load_abi("gmx_v2", "DataStore"))
        self._get_uint = self.data_store.fn["getUint"]  # built per key and market: the fast path
        self.exchange_router = AbiContract(config.require("exchange_router"), load_abi("gmx_v2", "ExchangeRouter"))
        self.router = config.require("router")
        self.order_vault = config.require("order_vault")
        self.referral_storage = config.require("referral_storage")
        self.event_emitter = config.require("event_emitter")
        self.wnt = token_of(network, config, config.require("wrapped_native_token"), "wrapped_native_token")
        self.collateral_token = token_of(network, config, config.require("collateral_token"), "collateral_token")
        self.execution_fee_wei = execution_fee_wei(config)
        self.markets = {s: market_of(network, m, self.collateral_token) for s, m in config.markets.items()}
        self._by_address = {m.address: m for m in self.markets.values()}
        self.tokens = list({t.address: t for m in self.markets.values() for t in m.priced_tokens}.values())
        self.feeds = list({t.feed.name: t.feed for t in self.tokens}.values())
