"""GMX v2 configuration: the tokens and markets of a `[venues.<name>]` section of the network file, each
token with the Chainlink feed that prices it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hedger.errors import ConfigError
from hedger.settings import FeedConfig, MarketConfig, NetworkConfig, VenueConfig
from hedger.venues.base import to_units
from hedger.venues.gmx_v2.keys import market_factor_keys, open_interest_key
from hedger.venues.gmx_v2.units import FLOAT_DECIMALS, NATIVE_DECIMALS


@dataclass(frozen=True)
class GmxToken:
    """A token a GMX market prices: its address, decimals and the Chainlink feed that prices it."""

    symbol: str
    address: str
    decimals: int
    feed: FeedConfig


@dataclass(frozen=True)
class GmxMarket:
    """A configured GMX market: its market token, index token, the long and short pool tokens, and
    the collateral hedges use by default (one of the pool tokens)."""

    symbol: str
    asset: str
    address: str
    index: GmxToken
    long_token: GmxToken
    short_token: GmxToken
    collateral_token: GmxToken

    @property
    def price_decimals(self) -> int:
        """Decimals of a USD-per-whole-token price in GMX's per-unit format (acceptablePrice)."""
        return FLOAT_DECIMALS - self.index.decimals

    @property
    def pool_tokens(self) -> tuple[GmxToken, GmxToken]:
        return self.long_token, self.short_token

    @property
    def priced_tokens(self) -> tuple[GmxToken, GmxToken, GmxToken]:
        """The tokens of MarketUtils.MarketPrices, in its order: index, long, short."""
        return self.index, self.long_token, self.short_token

    def token_at(self, address: str) -> GmxToken | None:
        return next((t for t in self.pool_tokens if t.address == address), None)

    def factor_keys(self) -> dict[str, bytes]:
        return market_factor_keys(self.address)

    def open_interest_keys(self, is_long: bool) -> list[bytes]:
        return [open_interest_key(self.address, token.address, is_long) for token in self.pool_tokens]


def token_of(network: NetworkConfig, config: VenueConfig | MarketConfig, symbol: str, key: str) -> GmxToken:
    """A token of [tokens] by symbol, with its feed (settings checked that the feed exists)."""
    token = network.tokens.get(symbol)
    if token is None:
        where = f"venues.{config.name}" if isinstance(config, VenueConfig) else config.key
        raise ConfigError(config.file, f"{where}.{key}", f"names {symbol!r}, not a token in [tokens]")
    return GmxToken(token.symbol, token.address, token.decimals, network.feeds[token.feed])


def index_token_of(network: NetworkConfig, config: MarketConfig) -> GmxToken:
    """The index token: an address with its decimals and feed (GMX's synthetic index tokens, like BTC
    on Arbitrum, are no ERC-20 and so not in [tokens])."""
    feed_name = config.require("index_feed")
    feed = network.feeds.get(feed_name)
    if feed is None:
        raise ConfigError(config.file, f"{config.key}.index_feed", f"names {feed_name!r}, not a feed in [feeds]")
    return GmxToken(config.asset, config.require("index_token"), config.require("index_decimals", int), feed)


def market_of(network: NetworkConfig, config: MarketConfig, default: GmxToken) -> GmxMarket:
    long_token = token_of(network, config, config.require("long_token"), "long_token")
    short_token = token_of(network, config, config.require("short_token"), "short_token")
    collateral = default
    if "collateral_token" in config.params:
        collateral = token_of(network, config, config.require("collateral_token"), "collateral_token")
    if collateral.address not in (long_token.address, short_token.address):
        raise ConfigError(config.file, f"{config.key}.collateral_token", f"{collateral.symbol} is not a pool token")
    return GmxMarket(
        symbol=config.symbol,
        asset=config.asset,
        address=config.require("market"),
        index=index_token_of(network, config),
        long_token=long_token,
        short_token=short_token,
        collateral_token=collateral,
    )


def execution_fee_wei(config: VenueConfig) -> int:
    raw = config.require("execution_fee_eth")
    try:
        fee = Decimal(raw)
    except ArithmeticError as error:
        raise ConfigError(config.file, f"venues.{config.name}.execution_fee_eth", f"{raw!r} is not a number") from error
    if not fee.is_finite() or fee <= 0:
        raise ConfigError(config.file, f"venues.{config.name}.execution_fee_eth", "must be a positive amount of ETH")
    return to_units(fee, NATIVE_DECIMALS)
