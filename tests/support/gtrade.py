"""Deploy hedger's gTrade diamond stand-in on a local chain with a gold pair, and a network configuration that
points the gTrade venue at it: an XAU/USD feed, a PAXG token (gold exposure) and the `gtrade` venue."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_utils import function_abi_to_4byte_selector
from web3.contract import Contract

from hedger.chain.contracts import deploy, load_artifact
from hedger.chain.universe import network_document, to_units
from hedger.settings import NetworkConfig, parse_network
from hedger.testing import LocalChain
from hedger.venues.gtrade import GTradeVenue

GTRADE_VENUE = "gtrade"
XAU_PAIR = 90  # XAU/USD on gTrade (Gains Network SDK PairIndex.XAUUSD)
COLLATERAL_INDEX = 1  # the stand-in's first collateral (USDC here; USDC is 3 on Arbitrum)
GOLD_PRICE = Decimal(2500)
PRICE = 10**10  # gTrade prices: 1e10
LEV = 10**3  # gTrade leverage: 1e3
TOKEN = 10**18  # positionSizeToken: 1e18
FACETS = ("GTradeViewsFacet", "GTradeTradingFacet")


@dataclass
class GTradeStandIns:
    diamond: Contract
    xau_feed: Contract
    paxg: Contract
    document: dict[str, Any]

    @property
    def network(self) -> NetworkConfig:
        return parse_network(self.document, "<gtrade stand-ins>")

    def venue(self, chain: LocalChain) -> GTradeVenue:
        network = self.network
        return GTradeVenue(chain.w3, network, network.venues[GTRADE_VENUE])


def deploy_gtrade(chain: LocalChain) -> GTradeStandIns:
    """The diamond stand-in with USDC as collateral 1 at $1 and the XAU/USD pair: leverage 1.1×–150×, $1,500
    minimum position, 0.03 % spread, 0.06 % position fee; an XAU/USD feed at $2,500 and a PAXG token."""
    w3, owner = chain.w3, chain.universe.deployer
    diamond = deploy_diamond(chain)
    usdc = chain.universe.tokens["USDC"]
    chain.transact(diamond.functions.addCollateralStandIn(usdc, 6, 10**8))
    params = (1_100, 150_000, 1_500 * 10**18, 3 * 10**8, 6 * 10**8)  # 1.1x, 150x, $1,500, 0.03 %, 0.06 %
    chain.transact(diamond.functions.setPairParams(XAU_PAIR, params))
    feed = deploy(w3, "ChainlinkFeed", 8, "XAU/USD", to_units(GOLD_PRICE, 8), sender=owner)
    paxg = deploy(w3, "TestToken", "Test PAXG", "PAXG", 18, sender=owner)
    doc = network_document(chain.universe)
    doc["feeds"]["XAU/USD"] = {
        "address": feed.address,
        "asset": "XAU",
        "decimals": 8,
        "heartbeat_s": 86_400,
        "min_price": "100",
        "max_price": "100000",
    }
    doc["tokens"]["PAXG"] = {"address": paxg.address, "decimals": 18, "asset": "XAU", "feed": "XAU/USD"}
    doc["venues"] = {
        GTRADE_VENUE: {
            "kind": "gtrade",
            "diamond": diamond.address,
            "collateral_token": "USDC",
            "collateral_index": COLLATERAL_INDEX,
            "markets": {"XAU": {"asset": "XAU", "pair_index": XAU_PAIR, "feed": "XAU/USD"}},
        }
    }
    return GTradeStandIns(diamond, feed, paxg, doc)


def stand_in_abi() -> list[dict]:
    """The diamond's ABI as its facets serve it (with the diamond's own error and lookup)."""
    entries = (e for name in (*FACETS, "GTradeDiamondStandIn") for e in load_artifact(name).abi)
    unique = {json.dumps(e, sort_keys=True): e for e in entries if e["type"] not in ("constructor", "fallback")}
    return list(unique.values())


def deploy_diamond(chain: LocalChain) -> Contract:
    """The facets, then the diamond that routes each facet's selectors to it."""
    w3, owner = chain.w3, chain.universe.deployer
    facets = [deploy(w3, name, sender=owner) for name in FACETS]
    selectors = [
        [function_abi_to_4byte_selector(e) for e in load_artifact(name).abi if e["type"] == "function"]
        for name in FACETS
    ]
    diamond = deploy(w3, "GTradeDiamondStandIn", [f.address for f in facets], selectors, sender=owner)
    return w3.eth.contract(address=diamond.address, abi=stand_in_abi())


def oracle_fills(chain: LocalChain, gtrade: GTradeStandIns, callback: str, order_id: str, price: Decimal) -> dict:
    """What gTrade's oracle network does with a pending market order: call the diamond back with the price."""
    trader, _, index = order_id.partition(":")
    answer = ((trader, int(index)), 0, 0, 0, to_units(price, 10))
    return chain.transact(getattr(gtrade.diamond.functions, callback)(answer))
