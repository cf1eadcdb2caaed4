"""The reference universe: everything hedger needs on a fresh local chain, deployed in one call.

Tokens (a 6-decimal stablecoin, WETH with 18 and WBTC with 8 decimals), Chainlink-compatible
feeds (a primary and a secondary source per asset, and the stablecoin's), an L2 sequencer uptime
feed, the Multicall3-compatible batcher at the canonical address, and the reference PerpMarket
with ETH and BTC markets and a funded liquidity pool; plus a demo account holding tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import tomli_w
from web3 import Web3
from web3.contract.contract import ContractFunction

from hedger.chain.contracts import at, compile_contracts, deploy, load_artifact
from hedger.chain.history_seed import HistorySeed, write_history
from hedger.chain.multicall import MULTICALL3_ADDRESS
from hedger.chain.nodes import DEV_ACCOUNTS, LocalNode

WAD = 10**18
FEED_DECIMALS = 8


@dataclass(frozen=True)
class TokenSpec:
    symbol: str
    decimals: int
    asset: str
    demo_amount: Decimal
    stablecoin: bool = False


@dataclass(frozen=True)
class FeedSpec:
    name: str
    asset: str
    price: Decimal
    heartbeat_s: int
    min_price: Decimal
    max_price: Decimal
    role: str = "primary"  # or "secondary": an independent second source for the same asset


@dataclass(frozen=True)
class MarketSpec:
    """A PerpMarket market; ratios are fractions, sizes in base units."""

    symbol: str
    feed: str
    skew_scale: Decimal
    trading_fee: Decimal = Decimal("0.0005")
    max_funding_rate_per_hour: Decimal = Decimal("0.001")
    initial_margin_ratio: Decimal = Decimal("0.1")
    maintenance_margin_ratio: Decimal = Decimal("0.05")
    liquidation_reward_ratio: Decimal = Decimal("0.01")
    max_open_interest: Decimal = Decimal(0)
    max_price_age_s: int = 3600


@dataclass(frozen=True)
class UniverseSpec:
    tokens: tuple[TokenSpec, ...] = (
        TokenSpec("USDC", 6, "USDC", Decimal(50_000), stablecoin=True),
        TokenSpec("WETH", 18, "ETH", Decimal(10)),
        TokenSpec("WBTC", 8, "BTC", Decimal("0.5")),
    )
    feeds: tuple[FeedSpec, ...] = (
        FeedSpec("ETH/USD", "ETH", Decimal(3000), 3600, Decimal(10), Decimal(1_000_000)),
        FeedSpec("BTC/USD", "BTC", Decimal(60000), 3600, Decimal(100), Decimal(10_000_000)),
        FeedSpec("USDC/USD", "USDC", Decimal(1), 86400, Decimal("0.5"), Decimal(2)),
        FeedSpec("ETH/USD-2", "ETH", Decimal(3000), 3600, Decimal(10), Decimal(1_000_000), role="secondary"),
        FeedSpec("BTC/USD-2", "BTC", Decimal(60000), 3600, Decimal(100), Decimal(10_000_000), role="secondary"),
    )
    markets: tuple[MarketSpec, ...] = (
        MarketSpec("ETH", "ETH/USD", skew_scale=Decimal(10_000), max_open_interest=Decimal(5_000)),
        MarketSpec("BTC", "BTC/USD", skew_scale=Decimal(500), max_open_interest=Decimal(250)),
    )
    demo_native: Decimal = Decimal(1)
    margin_token: str = "USDC"
    pool_liquidity: Decimal = Decimal(10_000_000)
    min_order_delay_s: int = 5
    order_expiry_s: int = 300
    keeper_fee: Decimal = Decimal("0.5")
    sequencer_grace_s: int = 3600


@dataclass
class Universe:
    """Addresses of a deployed reference universe, and the accounts that own and use it."""

    chain_id: int
    rpc_url: str
    deployer: str
    demo_account: str
    tokens: dict[str, str] = field(default_factory=dict)
    feeds: dict[str, str] = field(default_factory=dict)
    sequencer_feed: str = ""
    multicall: str = MULTICALL3_ADDRESS
    perp_market: str = ""
    market_ids: dict[str, int] = field(default_factory=dict)
    spec: UniverseSpec = field(default_factory=UniverseSpec)
    history: str = ""
    """Where the feeds' seeded round history came from ("" when only the deploy-time round exists)."""


def to_units(amount: Decimal, decimals: int) -> int:
    """An exact decimal amount as an integer of `decimals` units; refuses to round silently."""
    scaled = amount.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than {decimals} decimals")
    return int(scaled)


def deploy_universe(
    node: LocalNode,
    spec: UniverseSpec | None = None,
    demo_account: str | None = None,
    history: HistorySeed | None = None,
) -> Universe:
    """Deploy the reference universe on a local (or forked) node and return its addresses. With `history`, the
    price feeds get that round history (`hedger.chain.history_seed`) before anything reads them."""
    spec = spec or UniverseSpec()
    compile_contracts()
    w3 = node.w3
    deployer = DEV_ACCOUNTS[0][0]
    demo = Web3.to_checksum_address(demo_account or DEV_ACCOUNTS[1][0])
    universe = Universe(w3.eth.chain_id, node.url, deployer, demo, spec=spec)

    def send(call: ContractFunction) -> None:
        w3.eth.wait_for_transaction_receipt(call.transact({"from": deployer}), timeout=60)

    node.set_balance(demo, to_units(spec.demo_native, 18))  # a wallet's gas money, not Anvil's 10,000 ETH
    for token in spec.tokens:
        contract = deploy(w3, "TestToken", f"Test {token.symbol}", token.symbol, token.decimals, sender=deployer)
        universe.tokens[token.symbol] = contract.address
        send(contract.functions.mint(demo, to_units(token.demo_amount, token.decimals)))
    for feed in spec.feeds:
        answer = to_units(feed.price, FEED_DECIMALS)
        contract = deploy(w3, "ChainlinkFeed", FEED_DECIMALS, feed.name, answer, sender=deployer)
        universe.feeds[feed.name] = contract.address
    if history is not None:
        feeds = {f.name: (at(w3, "ChainlinkFeed", universe.feeds[f.name]), f.asset, f.price) for f in spec.feeds}
        write_history(w3, feeds, history, deployer)
        universe.history = history.source
    sequencer = deploy(w3, "SequencerUptimeFeed", sender=deployer)
    universe.sequencer_feed = sequencer.address
    up_since = w3.eth.get_block("latest")["timestamp"] - 86_400  # up for a day: no grace period pending
    send(sequencer.functions.setStatusAt(0, up_since))
    # a fork of a real chain already has Multicall3
    if not w3.eth.get_code(Web3.to_checksum_address(MULTICALL3_ADDRESS)):
        node.set_code(MULTICALL3_ADDRESS, load_artifact("Batcher").deployed_bytecode)

    margin = next(t for t in spec.tokens if t.symbol == spec.margin_token)
    usdc = at(w3, "TestToken", universe.tokens[margin.symbol])
    perp = deploy(
        w3,
        "PerpMarket",
        usdc.address,
        margin.decimals,
        spec.min_order_delay_s,
        spec.order_expiry_s,
        to_units(spec.keeper_fee, margin.decimals),
        sender=deployer,
    )
    universe.perp_market = perp.address
    for index, market in enumerate(spec.markets, start=1):
        send(perp.functions.addMarket(market.symbol, _market_params(market, universe.feeds[market.feed])))
        universe.market_ids[market.symbol] = index
    liquidity = to_units(spec.pool_liquidity, margin.decimals)
    send(usdc.functions.mint(deployer, liquidity))
    send(usdc.functions.approve(perp.address, liquidity))
    send(perp.functions.fundPool(liquidity))
    return universe


def _market_params(market: MarketSpec, feed: str) -> tuple:
    wad = 18
    return (
        feed,
        market.max_price_age_s,
        to_units(market.skew_scale, wad),
        to_units(market.trading_fee, wad),
        to_units(market.max_funding_rate_per_hour, wad),
        to_units(market.initial_margin_ratio, wad),
        to_units(market.maintenance_margin_ratio, wad),
        to_units(market.liquidation_reward_ratio, wad),
        to_units(market.max_open_interest, wad),
    )


def network_document(universe: Universe) -> dict[str, Any]:
    """The universe as a network configuration (the schema of networks/*.toml)."""
    spec = universe.spec
    feeds_by_asset = {f.asset: f.name for f in spec.feeds if f.role == "primary"}
    doc: dict[str, Any] = {
        "network": {
            "name": "local",
            "chain_id": universe.chain_id,
            "rpc_url": universe.rpc_url,
            "rpc_env": "HEDGER_RPC_LOCAL",
            "multicall": universe.multicall,
            "native_asset": "ETH",
            "native_feed": feeds_by_asset["ETH"],
        },
        "sequencer": {"feed": universe.sequencer_feed, "grace_period_s": spec.sequencer_grace_s},
        "tokens": {
            t.symbol: {
                "address": universe.tokens[t.symbol],
                "decimals": t.decimals,
                "asset": t.asset,
                "feed": feeds_by_asset[t.asset],
                "stablecoin": t.stablecoin,
            }
            for t in spec.tokens
        },
        "feeds": {
            f.name: {
                "address": universe.feeds[f.name],
                "asset": f.asset,
                "decimals": FEED_DECIMALS,
                "heartbeat_s": f.heartbeat_s,
                "min_price": str(f.min_price),
                "max_price": str(f.max_price),
                "role": f.role,
            }
            for f in spec.feeds
        },
        "venues": {
            "reference": {
                "kind": "reference",
                "address": universe.perp_market,
                "margin_token": spec.margin_token,
                "markets": {
                    m.symbol: {"id": universe.market_ids[m.symbol], "asset": m.symbol, "feed": m.feed}
                    for m in spec.markets
                },
            }
        },
        "accounts": {"demo": universe.demo_account, "deployer": universe.deployer},
    }
    return doc


def write_network_file(universe: Universe, path: Path) -> None:
    header = (
        "# Written by `hedger chain up` / scripts/deploy_local.py for a local chain (Anvil or Ganache). Do not edit.\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + tomli_w.dumps(network_document(universe)))
