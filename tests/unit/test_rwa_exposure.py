"""Real-world-asset holdings: tokenized gold is gold exposure, a euro stablecoin is euro (FX) exposure and not a
dollar, each priced by its own feed and hedged with the perp on its asset."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from hedger.errors import ConfigError
from hedger.model import Balance, Source
from hedger.settings import parse_network
from hedger.strategy.plan import build_plan
from hedger.strategy.state import PlannerState
from hedger.wallet import exposures
from tests.unit.strategy import factory as f

ADDRESS = {name: "0x" + f"{i:040x}" for i, name in enumerate(["XAU", "EUR", "USDC", "PAXG", "EURC", "DIAMOND"], 1)}


def feed(asset: str, low: str, high: str) -> dict:
    return {"address": ADDRESS[asset], "asset": asset, "decimals": 8, "heartbeat_s": 3600, "min_price": low,
            "max_price": high}  # fmt: skip


DOC = {
    "network": {"name": "rwa", "chain_id": 42161, "multicall": "0xcA11bde05977b3631167028862bE2a173976CA11"},
    "feeds": {"XAU/USD": feed("XAU", "500", "20000"), "EUR/USD": feed("EUR", "0.5", "2"),
              "USDC/USD": feed("USDC", "0.5", "2")},
    "tokens": {
        "USDC": {"address": ADDRESS["USDC"], "decimals": 6, "asset": "USDC", "feed": "USDC/USD", "stablecoin": True},
        "PAXG": {"address": ADDRESS["PAXG"], "decimals": 18, "asset": "XAU", "feed": "XAU/USD"},
        "EURC": {"address": ADDRESS["EURC"], "decimals": 6, "asset": "EUR", "feed": "EUR/USD", "stablecoin": True,
                 "peg": "EUR"},
    },
}  # fmt: skip


def test_a_euro_stablecoin_is_euro_exposure_and_tokenized_gold_is_gold():
    network = parse_network(DOC, "<rwa>")
    assert network.tokens["USDC"].stablecoin and network.tokens["USDC"].peg == "USD"
    eurc = network.tokens["EURC"]
    assert (eurc.asset, eurc.peg, eurc.stablecoin) == ("EUR", "EUR", False)  # not a dollar: never margin at $1
    assert network.tokens["PAXG"].asset == "XAU"


def test_a_euro_stablecoin_must_say_its_exposure_is_euro():
    doc = {**DOC, "tokens": {**DOC["tokens"], "EURC": {**DOC["tokens"]["EURC"], "asset": "USD"}}}
    with pytest.raises(ConfigError, match="exposure is EUR"):
        parse_network(doc, "<rwa>")


def test_holdings_become_exposures_at_their_feed_prices_and_are_hedged_on_their_perps():
    network = parse_network(DOC, "<rwa>")
    source = Source("0x", 1, f.NOW)
    balances = tuple(
        Balance(t.symbol, t.asset, raw, t.decimals, source, t.address, t.stablecoin)
        for t, raw in ((network.tokens["PAXG"], 2 * 10**18), (network.tokens["EURC"], 10_000 * 10**6),
                       (network.tokens["USDC"], 50_000 * 10**6))
    )  # fmt: skip
    oracles = (f.reading("XAU", 2500), f.reading("EUR", "1.08"), f.reading("USDC", 1, heartbeat_s=86_400))
    euro, dollar, gold = exposures(balances, (), oracles)  # sorted by asset
    assert (gold.asset, gold.spot, gold.spot_usd) == ("XAU", 2, 5000)
    assert (euro.asset, euro.spot, euro.spot_usd) == ("EUR", 10_000, D("10800.00"))  # FX exposure, not $10,000
    assert dollar.asset == "USDC"

    markets = (f.isolated_market("XAU", "gtrade"), f.isolated_market("EUR", "gtrade"))
    snapshot = replace(
        f.snapshot(hedge=None, markets=markets, oracles=oracles, margins=()),
        balances=balances,
        exposures=exposures(balances, (), oracles),
    )
    plan = build_plan(snapshot, state=PlannerState())
    orders = {a.symbol: a.size_delta for a in plan.actions}
    assert orders == {"XAU": -2, "EUR": -10_000}  # each holding shorted on the perp of its own asset
