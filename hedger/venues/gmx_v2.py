"""GMX v2 (gmx-synthetics) on Arbitrum: positions, markets, funding and pending orders from the
Reader and DataStore, and orders encoded for ExchangeRouter.multicall. See docs/venues.md.

Units on the wire: USD amounts (`sizeInUsd`, open interest, PnL, fees in USD) are USD × 1e30; a price
is the USD price of ONE SMALLEST UNIT of a token at 30 decimals, `usd × 10^(30 − tokenDecimals)`
(ETH at $5,000 is 5000e12, BTC at $60,000 is 60000e22, USDC at $1 is 1e24); token amounts are in the
token's own decimals; per-second factors are 1e30. The Reader fetches no prices: this adapter reads
the Chainlink feeds the network file names for each market's index, long and short tokens in its
first round and passes them (min = max) to the Reader in its second.

Funding is quoted per hour (`interval_s` = 3600; GMX accrues it per second), positive when the side
pays: `rate` is what longs pay, `short_rate` what shorts pay, from GMX's own per-side formula.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from types import SimpleNamespace
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak
from eth_utils.abi import collapse_if_tuple
from web3 import Web3
from web3.types import TxReceipt

from hedger.chain.multicall import Block, Call, CallResult, ReadStep, abi_functions
from hedger.errors import ConfigError
from hedger.model import (
    SECONDS_PER_HOUR,
    ZERO,
    FundingRate,
    MarginMode,
    Market,
    PendingOrder,
    Position,
    Side,
    Source,
)
from hedger.oracles.chainlink import latest_round_call
from hedger.settings import FeedConfig, MarketConfig, NetworkConfig, VenueConfig
from hedger.venues._abi import calldata, load_abi, named, named_call
from hedger.venues.base import (
    Approval,
    OrderIntent,
    OrderOutcome,
    TxRequest,
    UnsupportedOrder,
    VenueState,
    acceptable_units,
    from_units,
    to_units,
)

FLOAT_DECIMALS = 30  # GMX's Precision.FLOAT_PRECISION: USD amounts, prices and factors
PAGE_SIZE = 1000  # positions and orders read per account (the Reader clamps to what exists)
MARKET_INCREASE, MARKET_DECREASE = 2, 4  # Order.OrderType
INCREASE_ORDER_TYPES, DECREASE_ORDER_TYPES = (2, 3, 8), (4, 5, 6)
NO_SWAP = 0  # Order.DecreasePositionSwapType.NoSwap
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_BYTES32 = bytes(32)
NATIVE_DECIMALS = 18


def _hashed_name(name: str) -> bytes:
    """GMX's Keys constants: keccak256(abi.encode("NAME"))."""
    return keccak(abi_encode(["string"], [name]))


def datastore_key(types: list[str], values: list[Any]) -> bytes:
    """A DataStore key: keccak256(abi.encode(...)) of a Keys constant and its arguments."""
    return keccak(abi_encode(types, values))


_EVENT_LOG2 = load_abi("gmx_v2", "EventEmitter")[0]
EVENT_LOG2_TOPIC = keccak(text=f"EventLog2({','.join(collapse_if_tuple(i) for i in _EVENT_LOG2['inputs'])})")
_EVENT_DATA = [i for i in _EVENT_LOG2["inputs"] if not i["indexed"]]  # msgSender, eventName, eventData
ORDER_EVENTS = {name: keccak(text=name) for name in ("OrderCreated", "OrderExecuted", "OrderCancelled")}

OPEN_INTEREST = _hashed_name("OPEN_INTEREST")
MIN_COLLATERAL_FACTOR = _hashed_name("MIN_COLLATERAL_FACTOR")
MIN_COLLATERAL_FACTOR_FOR_LIQUIDATION = _hashed_name("MIN_COLLATERAL_FACTOR_FOR_LIQUIDATION")
POSITION_FEE_FACTOR = _hashed_name("POSITION_FEE_FACTOR")
MIN_POSITION_SIZE_USD = _hashed_name("MIN_POSITION_SIZE_USD")


def open_interest_key(market: str, collateral_token: str, is_long: bool) -> bytes:
    return datastore_key(["bytes32", "address", "address", "bool"], [OPEN_INTEREST, market, collateral_token, is_long])


def market_factor_keys(market: str) -> dict[str, bytes]:
    """DataStore keys of a market's margin and fee factors (the position fee for balance not improved)."""
    return {
        "min_collateral_factor": datastore_key(["bytes32", "address"], [MIN_COLLATERAL_FACTOR, market]),
        "min_collateral_factor_for_liquidation": datastore_key(
            ["bytes32", "address"], [MIN_COLLATERAL_FACTOR_FOR_LIQUIDATION, market]
        ),
        "position_fee_factor": datastore_key(["bytes32", "address", "bool"], [POSITION_FEE_FACTOR, market, False]),
    }


def price_per_unit(answer: int, feed_decimals: int, token_decimals: int) -> int:
    """A Chainlink answer as GMX's price: USD per smallest token unit, at 30 decimals."""
    exponent = FLOAT_DECIMALS - token_decimals - feed_decimals
    return answer * 10**exponent if exponent >= 0 else answer // 10**-exponent


def usd_per_token(price: int, token_decimals: int) -> Decimal:
    """GMX's per-unit price as USD per whole token."""
    return from_units(price, FLOAT_DECIMALS - token_decimals)


def usd_value(amount: int, price: int) -> Decimal:
    """Token units × per-unit price, in USD."""
    return from_units(amount * price, FLOAT_DECIMALS)


def funding_per_hour(
    longs_pay_shorts: bool, factor_per_second: int, long_interest: int, short_interest: int
) -> tuple[Decimal, Decimal]:
    """(what longs pay, what shorts pay) per hour as fractions of size; negative means the side receives.

    GMX's per-side formula: the paying (larger) side pays factor × 3600; the receiving side gets the
    same money spread over its own open interest, factor × payingOI / receivingOI × 3600 (zero when
    it has no open interest). factor = fundingFactorPerSecond / 1e30."""
    factor = from_units(factor_per_second, FLOAT_DECIMALS)
    paying, receiving = (long_interest, short_interest) if longs_pay_shorts else (short_interest, long_interest)
    pays = factor * SECONDS_PER_HOUR
    receives = factor * Decimal(paying) / Decimal(receiving) * SECONDS_PER_HOUR if receiving else ZERO
    return (pays, -receives) if longs_pay_shorts else (-receives, pays)


@dataclass(frozen=True)
class CollateralBacking:
    """A position's collateral as GMX values it against the index price P: `fixed_usd` + `index_tokens` × P
    (a stablecoin is all fixed; the index asset itself, like WETH behind an ETH position, moves with P)."""

    fixed_usd: Decimal
    index_tokens: Decimal


def closing_costs_usd(info: SimpleNamespace | None, size_usd: Decimal, position_fee_factor: Decimal) -> Decimal:
    """What closing the position now takes out of its collateral besides the PnL, in USD: the pending
    borrowing fee, the funding fee owed (at GMX's collateral price in the position info) and the position
    fee of closing the whole size. Without the Reader's position info only the closing fee is known."""
    closing_fee = size_usd * position_fee_factor
    if info is None:
        return closing_fee
    borrowing = from_units(info.fees.borrowing.borrowingFeeUsd, FLOAT_DECIMALS)
    funding_owed = usd_value(info.fees.funding.fundingFeeAmount, info.fees.collateralTokenPrice.min)
    return borrowing + funding_owed + closing_fee


def liquidation_price(
    is_long: bool,
    size_usd: Decimal,
    size_tokens: Decimal,
    collateral: CollateralBacking,
    costs_usd: Decimal,
    liquidation_factor: Decimal,
) -> Decimal | None:
    """The index price (USD per whole token) at which GMX's leverage check liquidates the position.

    GMX liquidates when the remaining collateral, collateral + PnL − costs, falls below
    `sizeInUsd × MIN_COLLATERAL_FACTOR_FOR_LIQUIDATION`. With PnL = t·P − S (long) or S − t·P (short),
    S = sizeInUsd, t = sizeInTokens, collateral c + k·P (`CollateralBacking`) and f the factor:

        long:  P = (S·(1 + f) + costs − c) / (t + k)
        short: P = (S·(1 − f) − costs + c) / (t − k)

    None when no positive price liquidates it (a long whose collateral covers its whole size, a short
    backed by at least its own size in the index token). Approximations: price impact, the liquidation
    fee factor, the `MIN_COLLATERAL_USD` floor, the PnL cap and the open-interest multiplier of the
    factor are not read; costs are valued at the current prices."""
    if is_long:
        numerator = size_usd * (1 + liquidation_factor) + costs_usd - collateral.fixed_usd
        denominator = size_tokens + collateral.index_tokens
    else:
        numerator = size_usd * (1 - liquidation_factor) - costs_usd + collateral.fixed_usd
        denominator = size_tokens - collateral.index_tokens
    if denominator <= 0 or numerator <= 0:
        return None
    return numerator / denominator


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


class GmxV2Venue:
    """GMX v2 behind the Venue protocol (hedger.venues.base)."""

    kind = "gmx_v2"

    def __init__(self, w3: Web3, network: NetworkConfig, config: VenueConfig):
        self.name = config.name
        self.config = config
        self.w3 = w3
        self.reader = w3.eth.contract(address=config.require("reader"), abi=load_abi("gmx_v2", "Reader"))
        self.data_store = w3.eth.contract(address=config.require("data_store"), abi=load_abi("gmx_v2", "DataStore"))
        self._get_uint = abi_functions(self.data_store.abi)["getUint"]  # built per key and market: the fast path
        self.exchange_router = w3.eth.contract(
            address=config.require("exchange_router"), abi=load_abi("gmx_v2", "ExchangeRouter")
        )
        self.router = config.require("router")
        self.order_vault = config.require("order_vault")
        self.referral_storage = config.require("referral_storage")
        self.event_emitter = config.require("event_emitter")
        self.wnt = _token(network, config, config.require("wrapped_native_token"), "wrapped_native_token")
        self.collateral_token = _token(network, config, config.require("collateral_token"), "collateral_token")
        self.execution_fee_wei = _execution_fee_wei(config)
        self.markets = {s: _market(network, m, self.collateral_token) for s, m in config.markets.items()}
        self._by_address = {m.address: m for m in self.markets.values()}
        self.tokens = list({t.address: t for m in self.markets.values() for t in m.priced_tokens}.values())
        self.feeds = list({t.feed.name: t.feed for t in self.tokens}.values())

    # ------------------------------------------------------------------ reading

    def read(self, account: str, block: Block) -> ReadStep[VenueState]:
        """Round 1: feeds, markets, factors, open interest, positions and orders. Round 2: market info
        and position info, priced with round 1's feed answers."""
        errors: list[str] = []
        first = yield from _ask(self._first_calls(account))
        prices = self._token_prices(first, errors)
        raw_positions = [p for p in _value(first, "positions", errors) or [] if p.numbers.sizeInUsd > 0]
        second = yield from _ask(self._second_calls(account, prices, raw_positions, errors))
        source = Source(self.reader.address, block.number, block.timestamp)
        return self._state(first, second, prices, raw_positions, errors, source)

    def _first_calls(self, account: str) -> dict[Hashable, Call]:
        f, store = self.reader.functions, self.data_store.address
        calls: dict[Hashable, Call] = {
            ("feed", feed.name): latest_round_call(feed.address, feed.name) for feed in self.feeds
        }
        calls["min_position_size_usd"] = self._uint(MIN_POSITION_SIZE_USD, "MIN_POSITION_SIZE_USD")
        calls["positions"] = named_call(f.getAccountPositions(store, account, 0, PAGE_SIZE))
        calls["orders"] = named_call(f.getAccountOrders(store, account, 0, PAGE_SIZE))
        for market in self.markets.values():
            calls[("market", market.symbol)] = named_call(f.getMarket(store, market.address))
            for name, key in market.factor_keys().items():
                calls[(name, market.symbol)] = self._uint(key, f"{market.symbol}.{name}")
            for is_long in (True, False):
                for index, key in enumerate(market.open_interest_keys(is_long)):
                    calls[("oi", market.symbol, is_long, index)] = self._uint(key, f"{market.symbol}.openInterest")
        return calls

    def _uint(self, key: bytes, label: str) -> Call:
        return replace(self._get_uint.call(self.data_store.address, key), label=f"{self.name}.{label}")

    def _token_prices(self, first: Mapping[Hashable, CallResult], errors: list[str]) -> dict[str, int]:
        """GMX per-unit prices of every index and pool token whose feed answered within its bounds."""
        answers = {feed.name: _feed_answer(first[("feed", feed.name)], feed, errors) for feed in self.feeds}
        return {
            t.address: price_per_unit(answer, t.feed.decimals, t.decimals)
            for t in self.tokens
            if (answer := answers[t.feed.name]) is not None
        }

    def _second_calls(
        self, account: str, prices: Mapping[str, int], raw_positions: list[Any], errors: list[str]
    ) -> dict[Hashable, Call]:
        f, store = self.reader.functions, self.data_store.address
        market_prices = {m.address: _market_prices(m, prices) for m in self.markets.values()}
        priced = {address: p for address, p in market_prices.items() if p is not None}
        calls: dict[Hashable, Call] = {
            ("info", m.symbol): named_call(f.getMarketInfo(store, priced[m.address], m.address))
            for m in self.markets.values()
            if m.address in priced
        }
        unpriced = sorted({p.addresses.market for p in raw_positions} - set(priced))
        if unpriced:
            errors.append(f"{self.name}: positions in unpriced or unconfigured markets {unpriced}: no PnL or fees")
        elif raw_positions:
            calls["position_info"] = named_call(
                f.getAccountPositionInfoList(
                    store,
                    self.referral_storage,
                    account,
                    list(priced),
                    list(priced.values()),
                    ZERO_ADDRESS,
                    0,
                    PAGE_SIZE,
                )
            )
        return calls

    def _state(
        self,
        first: Mapping[Hashable, CallResult],
        second: Mapping[Hashable, CallResult],
        prices: Mapping[str, int],
        raw_positions: list[Any],
        errors: list[str],
        source: Source,
    ) -> VenueState:
        interest = {m.symbol: _open_interest(m, first, errors) for m in self.markets.values()}
        min_size_usd = _value(first, "min_position_size_usd", errors)
        markets = {
            m.symbol: market
            for m in self.markets.values()
            if (market := self._market(m, first, interest[m.symbol], min_size_usd, errors)) is not None
        }
        funding = [self._funding(m, second, interest[m.symbol], prices, source, errors) for m in self.markets.values()]
        infos = {i.positionKey: i for i in _value(second, "position_info", errors) or []}
        positions = [self._position(p, infos, prices, markets, source, errors) for p in raw_positions]
        orders = [self._pending(o, prices, source) for o in _value(first, "orders", errors) or []]
        return VenueState(
            venue=self.name,
            markets=tuple(markets.values()),
            positions=tuple(p for p in positions if p is not None),
            funding=tuple(funding),
            pending_orders=tuple(o for o in orders if o is not None),
            errors=tuple(errors),
        )

    def _market(
        self,
        market: GmxMarket,
        first: Mapping[Hashable, CallResult],
        interest: tuple[int, int] | None,
        min_size_usd: int | None,
        errors: list[str],
    ) -> Market | None:
        props = _value(first, ("market", market.symbol), errors)
        factors = {name: _value(first, (name, market.symbol), errors) for name in market.factor_keys()}
        if props is None or not self._matches(market, props, errors):
            return None
        if not factors["min_collateral_factor"] or factors["position_fee_factor"] is None:
            errors.append(f"{self.name}: {market.symbol}: no min collateral factor or fee factor: market skipped")
            return None
        liquidation_factor = factors["min_collateral_factor_for_liquidation"] or factors["min_collateral_factor"]
        step = Decimal(1).scaleb(-market.index.decimals)
        return Market(
            venue=self.name,
            symbol=market.symbol,
            asset=market.asset,
            market_id=market.address,
            initial_margin_ratio=from_units(factors["min_collateral_factor"], FLOAT_DECIMALS),
            maintenance_margin_ratio=from_units(liquidation_factor, FLOAT_DECIMALS),
            taker_fee=from_units(factors["position_fee_factor"], FLOAT_DECIMALS),
            min_size=step,
            size_step=step,
            min_notional_usd=from_units(min_size_usd or 0, FLOAT_DECIMALS),
            async_orders=True,
            margin_mode=MarginMode.ISOLATED,
            collateral_token=market.collateral_token.symbol,
            extra={
                "index_token": market.index.address,
                "long_token": market.long_token.address,
                "short_token": market.short_token.address,
                "collateral_token": market.collateral_token.symbol,
                "open_interest_long_usd": None if interest is None else from_units(interest[0], FLOAT_DECIMALS),
                "open_interest_short_usd": None if interest is None else from_units(interest[1], FLOAT_DECIMALS),
            },
        )

    def _matches(self, market: GmxMarket, props: SimpleNamespace, errors: list[str]) -> bool:
        expected = (market.address, *(t.address for t in market.priced_tokens))
        actual = (props.marketToken, props.indexToken, props.longToken, props.shortToken)
        if actual != expected:
            errors.append(
                f"{self.name}: {market.symbol}: the chain says market/index/long/short = {actual}, "
                f"the network file {expected}: market skipped"
            )
        return actual == expected

    def _funding(
        self,
        market: GmxMarket,
        second: Mapping[Hashable, CallResult],
        interest: tuple[int, int] | None,
        prices: Mapping[str, int],
        source: Source,
        errors: list[str],
    ) -> FundingRate:
        price = prices.get(market.index.address)
        index_price = None if price is None else usd_per_token(price, market.index.decimals)
        funding = partial(
            FundingRate, venue=self.name, symbol=market.symbol, interval_s=SECONDS_PER_HOUR, source=source
        )
        info = _value(second, ("info", market.symbol), errors)
        if info is None or interest is None:
            return funding(rate=None, mark_price=index_price, index_price=index_price)
        longs, shorts = funding_per_hour(
            info.nextFunding.longsPayShorts, info.nextFunding.fundingFactorPerSecond, *interest
        )
        return funding(
            rate=longs,
            short_rate=shorts,
            borrowing_long_per_hour=from_units(
                info.borrowingFactorPerSecondForLongs * SECONDS_PER_HOUR, FLOAT_DECIMALS
            ),
            borrowing_short_per_hour=from_units(
                info.borrowingFactorPerSecondForShorts * SECONDS_PER_HOUR, FLOAT_DECIMALS
            ),
            mark_price=index_price,
            index_price=index_price,
        )

    def _position(
        self,
        raw: SimpleNamespace,
        infos: Mapping[bytes, SimpleNamespace],
        prices: Mapping[str, int],
        markets: Mapping[str, Market],
        source: Source,
        errors: list[str],
    ) -> Position | None:
        market = self._by_address.get(raw.addresses.market)
        collateral = market.token_at(raw.addresses.collateralToken) if market else None
        if market is None or collateral is None:
            errors.append(f"{self.name}: position in unconfigured market {raw.addresses.market} ignored")
            return None
        n, is_long = raw.numbers, raw.flags.isLong
        key = _position_key(raw)
        info = infos.get(key)
        contracts = from_units(n.sizeInTokens, market.index.decimals)
        size_usd = from_units(n.sizeInUsd, FLOAT_DECIMALS)
        price, collateral_price = prices.get(market.index.address), prices.get(collateral.address)
        configured = markets.get(market.symbol)
        collateral_tokens = from_units(n.collateralAmount, collateral.decimals)
        costs_usd = ZERO if configured is None else closing_costs_usd(info, size_usd, configured.taker_fee)
        liquidation = None
        if configured is not None and collateral_price is not None:
            backing = _collateral_backing(market, collateral, collateral_tokens, collateral_price)
            factor = configured.maintenance_margin_ratio
            liquidation = liquidation_price(is_long, size_usd, contracts, backing, costs_usd, factor)
        return Position(
            venue=self.name,
            symbol=market.symbol,
            asset=market.asset,
            side=Side.LONG if is_long else Side.SHORT,
            contracts=contracts,
            entry_price=size_usd / contracts if contracts else ZERO,
            mark_price=None if price is None else usd_per_token(price, market.index.decimals),
            unrealized_pnl_usd=None if info is None else from_units(info.basePnlUsd, FLOAT_DECIMALS),
            source=source,
            collateral_usd=None if collateral_price is None else usd_value(n.collateralAmount, collateral_price),
            accrued_funding_usd=self._net_funding_owed(market, info, prices),
            maintenance_margin_usd=None if configured is None else size_usd * configured.maintenance_margin_ratio,
            liquidation_price=liquidation,
            collateral_token=collateral.symbol,
            collateral_amount=collateral_tokens,
            closing_costs_usd=costs_usd,
            extra={
                "position_key": "0x" + key.hex(),
                "market": market.address,
                "collateral_token": collateral.address,
                "collateral_symbol": collateral.symbol,
                "collateral_amount": collateral_tokens,
                "size_in_usd_raw": n.sizeInUsd,
                "size_in_tokens_raw": n.sizeInTokens,
                "pending_borrowing_fee_usd": None
                if info is None
                else from_units(info.fees.borrowing.borrowingFeeUsd, FLOAT_DECIMALS),
                "pnl_after_price_impact_usd": None
                if info is None
                else from_units(info.pnlAfterPriceImpactUsd, FLOAT_DECIMALS),
                "margin_mode": "isolated",
            },
        )

    def _net_funding_owed(self, market: GmxMarket, info: SimpleNamespace | None, prices: Mapping[str, int]) -> Decimal:
        """Pending funding owed (in collateral) less funding claimable (in pool tokens), in USD."""
        if info is None:
            return ZERO
        funding = info.fees.funding
        owed = usd_value(funding.fundingFeeAmount, info.fees.collateralTokenPrice.min)
        claimable = zip(
            market.pool_tokens, (funding.claimableLongTokenAmount, funding.claimableShortTokenAmount), strict=True
        )
        return owed - sum((usd_value(amount, prices[t.address]) for t, amount in claimable), ZERO)

    def _pending(self, entry: SimpleNamespace, prices: Mapping[str, int], source: Source) -> PendingOrder | None:
        order = entry.order
        market = self._by_address.get(order.addresses.market)
        n = order.numbers
        if market is None or n.orderType not in INCREASE_ORDER_TYPES + DECREASE_ORDER_TYPES:
            return None  # swaps, liquidations and other markets are not hedger's
        increase = n.orderType in INCREASE_ORDER_TYPES
        price = prices.get(market.index.address)
        size_usd = from_units(n.sizeDeltaUsd, FLOAT_DECIMALS)
        tokens = size_usd / usd_per_token(price, market.index.decimals) if price else ZERO
        collateral = market.token_at(order.addresses.initialCollateralToken)
        collateral_tokens = (
            ZERO if collateral is None else from_units(n.initialCollateralDeltaAmount, collateral.decimals)
        )
        return PendingOrder(
            venue=self.name,
            symbol=market.symbol,
            order_id="0x" + entry.orderKey.hex(),
            size_delta=tokens if order.flags.isLong == increase else -tokens,
            acceptable_price=from_units(n.acceptablePrice, market.price_decimals),
            created_at=n.updatedAtTime,
            source=source,
            collateral_delta=collateral_tokens if increase else -collateral_tokens,
            extra={
                "order_type": n.orderType,
                "is_long": order.flags.isLong,
                "size_delta_usd": size_usd,
                "collateral_token": order.addresses.initialCollateralToken,
                "initial_collateral_delta_amount": n.initialCollateralDeltaAmount,
                "execution_fee_wei": n.executionFee,
                "priced": bool(price),
            },
        )

    # ------------------------------------------------------------------ encoding

    def encode_order(self, account: str, intent: OrderIntent) -> list[TxRequest]:
        """One ExchangeRouter.multicall: [sendWnt(fee, plus WNT collateral), sendTokens(collateral), createOrder]."""
        market = self._configured(intent.market.symbol)
        order = _plan(market, intent)
        fee = int(intent.extra.get("execution_fee_wei", self.execution_fee_wei))
        wnt_collateral = (
            order.collateral_amount if order.increase and order.collateral.address == self.wnt.address else 0
        )
        router = self.exchange_router.functions
        calls = [calldata(router.sendWnt(self.order_vault, fee + wnt_collateral))]
        if order.increase and order.collateral_amount and not wnt_collateral:
            calls.append(
                calldata(router.sendTokens(order.collateral.address, self.order_vault, order.collateral_amount))
            )
        calls.append(calldata(router.createOrder(self._params(account, market, order, fee))))
        description = (
            f"{self.name}: {'increase' if order.increase else 'decrease'} {'long' if order.is_long else 'short'} "
            f"{market.symbol} by ${from_units(order.size_delta_usd, FLOAT_DECIMALS)}, collateral "
            f"{'+' if order.increase else '-'}{from_units(order.collateral_amount, order.collateral.decimals)} "
            f"{order.collateral.symbol}, execution fee {from_units(fee, NATIVE_DECIMALS)} ETH"
        )
        return [
            TxRequest(
                self.exchange_router.address, calldata(router.multicall(calls)), description, fee + wnt_collateral
            )
        ]

    def _params(self, account: str, market: GmxMarket, order: _Order, fee: int) -> tuple:
        """IBaseOrderUtils.CreateOrderParams, field for field."""
        swap_path: list[str] = []
        addresses = (account, account, ZERO_ADDRESS, ZERO_ADDRESS, market.address, order.collateral.address, swap_path)
        numbers = (order.size_delta_usd, order.collateral_amount, 0, order.acceptable_price, fee, 0, 0, 0)
        order_type = MARKET_INCREASE if order.increase else MARKET_DECREASE
        return (addresses, numbers, order_type, NO_SWAP, order.is_long, False, False, ZERO_BYTES32, [])

    def encode_collateral(self, account: str, amount: Decimal) -> list[TxRequest]:
        raise UnsupportedOrder(
            "GMX v2 keeps collateral per position, not per account",
            "encode an order with size_delta 0, collateral_delta and the position instead",
        )

    def encode_cancel(self, account: str, order: PendingOrder) -> TxRequest:
        key = bytes.fromhex(order.order_id.removeprefix("0x"))
        data = calldata(self.exchange_router.functions.cancelOrder(key))
        return TxRequest(self.exchange_router.address, data, f"{self.name}: cancel order {order.order_id}")

    # ------------------------------------------------------------------ following orders (AsyncVenue)

    def order_id_from_receipt(self, receipt: TxReceipt) -> str | None:
        """The key of the order a mined transaction created: topic1 of its "OrderCreated" EventLog2."""
        for log in receipt["logs"]:
            if self._is_order_event(log, "OrderCreated"):
                return "0x" + bytes(log["topics"][2]).hex()
        return None

    def order_outcome(self, order_id: str, from_block: int) -> OrderOutcome:
        """Executed or cancelled (with GMX's reason), from the EventEmitter's logs since `from_block`."""
        outcomes = [ORDER_EVENTS["OrderExecuted"], ORDER_EVENTS["OrderCancelled"]]
        logs = self.w3.eth.get_logs(
            {
                "address": self.event_emitter,
                "fromBlock": from_block,
                "topics": ["0x" + EVENT_LOG2_TOPIC.hex(), ["0x" + t.hex() for t in outcomes], order_id],
            }
        )
        if not logs:
            return OrderOutcome("pending")
        log = logs[0]
        if self._is_order_event(log, "OrderExecuted"):
            return OrderOutcome("executed", log["blockNumber"])
        return OrderOutcome("cancelled", log["blockNumber"], _cancel_reason(log["data"]))

    def _is_order_event(self, log: Mapping[str, Any], name: str) -> bool:
        topics = [bytes(t) for t in log["topics"]]
        return (
            log["address"] == self.event_emitter
            and len(topics) == 4
            and topics[:2] == [EVENT_LOG2_TOPIC, ORDER_EVENTS[name]]
        )

    def approvals(self, account: str, intent: OrderIntent | None, collateral: Decimal) -> list[Approval]:
        """ERC-20 collateral of an order is pulled through the Router; WNT collateral travels as the native
        value. No order, no allowance: GMX has no account-level collateral."""
        if intent is None or collateral <= 0:
            return []
        token = _collateral_of(self._configured(intent.market.symbol), intent)
        if token.address == self.wnt.address:
            return []
        return [Approval(token.address, self.router, to_units(collateral, token.decimals))]

    def _configured(self, symbol: str) -> GmxMarket:
        market = self.markets.get(symbol)
        if market is None:
            raise UnsupportedOrder(f"{self.name} has no market {symbol!r}", f"configured: {sorted(self.markets)}")
        return market


# ---------------------------------------------------------------------- order planning


@dataclass(frozen=True)
class _Order:
    increase: bool
    is_long: bool
    size_delta_usd: int
    collateral: GmxToken
    collateral_amount: int
    acceptable_price: int


def _plan(market: GmxMarket, intent: OrderIntent) -> _Order:
    """Which GMX order an intent is: increase or decrease, which side, how many USD, which collateral."""
    position = intent.position
    if position is not None and (position.venue, position.symbol) != (intent.market.venue, market.symbol):
        raise UnsupportedOrder(f"the position given is {position.venue}:{position.symbol}, not {intent.market.key}")
    increase = _is_increase(intent)
    is_long = position.side is Side.LONG if position is not None else intent.size_delta > 0
    collateral = _collateral_of(market, intent)
    buying = increase == is_long
    acceptable = acceptable_units(intent.acceptable_price, market.price_decimals, buying)
    if increase:
        size_usd = _increase_usd(intent)
        amount = to_units(intent.collateral_delta, collateral.decimals)
    else:
        size_usd = _decrease_usd(market, intent)
        amount = to_units(-intent.collateral_delta, collateral.decimals)
    return _Order(increase, is_long, size_usd, collateral, amount, acceptable)


def _is_increase(intent: OrderIntent) -> bool:
    position, size = intent.position, intent.size_delta
    if size == 0:
        if position is None or intent.collateral_delta == 0:
            raise UnsupportedOrder("a collateral-only order needs the position and a non-zero collateral_delta")
        return intent.collateral_delta > 0
    opposite = position is not None and Side.of(size) is not position.side
    if intent.reduce_only and not opposite:
        raise UnsupportedOrder("reduce-only needs the open position and a size against it")
    if position is not None and opposite and abs(size) > position.contracts and not intent.reduce_only:
        raise UnsupportedOrder(
            f"{size} would flip a {position.side} of {position.contracts}: GMX keeps long and short apart",
            "close the position first, then open the other side",
        )
    if intent.collateral_delta and (intent.collateral_delta > 0) != (not opposite):
        raise UnsupportedOrder("collateral goes in with an increase and comes out with a decrease")
    return not opposite


def _increase_usd(intent: OrderIntent) -> int:
    if intent.size_delta == 0:
        return 0
    if intent.reference_price is None or intent.reference_price <= 0:
        raise UnsupportedOrder("a GMX increase is sized in USD: give the intent a reference_price (the index price)")
    return to_units(abs(intent.size_delta) * intent.reference_price, FLOAT_DECIMALS)


def _decrease_usd(market: GmxMarket, intent: OrderIntent) -> int:
    """USD to decrease by: the whole sizeInUsd to close, else tokens × sizeInUsd / sizeInTokens (GMX
    removes that same proportion of the position's tokens)."""
    position = intent.position
    assert position is not None  # _is_increase guarantees it for decreases
    size_usd, size_tokens = position.extra["size_in_usd_raw"], position.extra["size_in_tokens_raw"]
    tokens = to_units(abs(intent.size_delta), market.index.decimals)
    if tokens >= size_tokens:
        return size_usd
    return tokens * size_usd // size_tokens


def _collateral_of(market: GmxMarket, intent: OrderIntent) -> GmxToken:
    """A position's own collateral token, else the market's configured one."""
    if intent.position is None:
        return market.collateral_token
    token = market.token_at(intent.position.extra["collateral_token"])
    if token is None:
        raise UnsupportedOrder(
            f"the position's collateral {intent.position.extra['collateral_token']} is not a pool token"
        )
    return token


# ---------------------------------------------------------------------- reading helpers


def _cancel_reason(data: bytes) -> str:
    """The "reason" string of an OrderCancelled event, with its "reasonBytes" (a revert) when present."""
    _, _, event_data = abi_decode([collapse_if_tuple(p) for p in _EVENT_DATA], bytes(data))
    items = named(_EVENT_DATA[2], event_data)
    reason = next((i.value for i in items.stringItems.items if i.key == "reason"), "")
    raw = next((i.value for i in items.bytesItems.items if i.key == "reasonBytes"), b"")
    return f"{reason} (0x{raw.hex()})" if raw else reason


def _ask(calls: dict[Hashable, Call]) -> ReadStep[dict[Hashable, CallResult]]:
    results = yield list(calls.values())
    return dict(zip(calls, results, strict=True))


def _value(answers: Mapping[Hashable, CallResult], key: Hashable, errors: list[str]) -> Any:
    """An answer's value, or None (and the failure in `errors`); None without error if never asked."""
    result = answers.get(key)
    if result is None:
        return None
    if not result.ok:
        errors.append(result.error or f"{key} failed")
        return None
    return result.value


def _feed_answer(result: CallResult, feed: FeedConfig, errors: list[str]) -> int | None:
    """A feed's latest answer if it is positive and within the configured bounds (else unpriced)."""
    if not result.ok:
        errors.append(f"{feed.name}: {result.error}: its tokens are unpriced")
        return None
    answer = result.value[1]
    price = from_units(answer, feed.decimals)
    if answer <= 0 or not feed.min_price <= price <= feed.max_price:
        errors.append(
            f"{feed.name} answered {price}, outside [{feed.min_price}, {feed.max_price}]: its tokens are unpriced"
        )
        return None
    return answer


def _market_prices(market: GmxMarket, prices: Mapping[str, int]) -> tuple | None:
    """MarketUtils.MarketPrices (min = max = the feed price), or None if a token is unpriced."""
    addresses = [t.address for t in market.priced_tokens]
    if any(a not in prices for a in addresses):
        return None
    return tuple((prices[a], prices[a]) for a in addresses)


def _open_interest(
    market: GmxMarket, first: Mapping[Hashable, CallResult], errors: list[str]
) -> tuple[int, int] | None:
    """(long, short) open interest in USD × 1e30: summed over both collateral tokens, halved when
    the long and short token are the same (each amount is then counted under both)."""
    divisor = 2 if market.long_token.address == market.short_token.address else 1
    sides = []
    for is_long in (True, False):
        parts = [_value(first, ("oi", market.symbol, is_long, i), errors) for i in range(2)]
        if None in parts:
            return None
        sides.append(sum(parts) // divisor)
    return sides[0], sides[1]


def _collateral_backing(
    market: GmxMarket, collateral: GmxToken, tokens: Decimal, collateral_price: int
) -> CollateralBacking:
    """Collateral priced by the index feed moves with the index price; any other is fixed at its price."""
    if collateral.feed.name == market.index.feed.name:
        return CollateralBacking(ZERO, tokens)
    return CollateralBacking(tokens * usd_per_token(collateral_price, collateral.decimals), ZERO)


def _position_key(raw: SimpleNamespace) -> bytes:
    """Position.getPositionKey: keccak256(abi.encode(account, market, collateralToken, isLong))."""
    a = raw.addresses
    return datastore_key(
        ["address", "address", "address", "bool"], [a.account, a.market, a.collateralToken, raw.flags.isLong]
    )


# ---------------------------------------------------------------------- configuration


def _token(network: NetworkConfig, config: VenueConfig | MarketConfig, symbol: str, key: str) -> GmxToken:
    """A token of [tokens] by symbol, with its feed (settings checked that the feed exists)."""
    token = network.tokens.get(symbol)
    if token is None:
        where = f"venues.{config.name}" if isinstance(config, VenueConfig) else config.key
        raise ConfigError(config.file, f"{where}.{key}", f"names {symbol!r}, not a token in [tokens]")
    return GmxToken(token.symbol, token.address, token.decimals, network.feeds[token.feed])


def _index_token(network: NetworkConfig, config: MarketConfig) -> GmxToken:
    """The index token: an address with its decimals and feed (GMX's synthetic index tokens, like BTC
    on Arbitrum, are no ERC-20 and so not in [tokens])."""
    feed_name = config.require("index_feed")
    feed = network.feeds.get(feed_name)
    if feed is None:
        raise ConfigError(config.file, f"{config.key}.index_feed", f"names {feed_name!r}, not a feed in [feeds]")
    return GmxToken(config.asset, config.require("index_token"), config.require("index_decimals", int), feed)


def _market(network: NetworkConfig, config: MarketConfig, default: GmxToken) -> GmxMarket:
    long_token = _token(network, config, config.require("long_token"), "long_token")
    short_token = _token(network, config, config.require("short_token"), "short_token")
    collateral = default
    if "collateral_token" in config.params:
        collateral = _token(network, config, config.require("collateral_token"), "collateral_token")
    if collateral.address not in (long_token.address, short_token.address):
        raise ConfigError(config.file, f"{config.key}.collateral_token", f"{collateral.symbol} is not a pool token")
    return GmxMarket(
        symbol=config.symbol,
        asset=config.asset,
        address=config.require("market"),
        index=_index_token(network, config),
        long_token=long_token,
        short_token=short_token,
        collateral_token=collateral,
    )


def _execution_fee_wei(config: VenueConfig) -> int:
    raw = config.require("execution_fee_eth")
    try:
        fee = Decimal(raw)
    except ArithmeticError as error:
        raise ConfigError(config.file, f"venues.{config.name}.execution_fee_eth", f"{raw!r} is not a number") from error
    if not fee.is_finite() or fee <= 0:
        raise ConfigError(config.file, f"venues.{config.name}.execution_fee_eth", "must be a positive amount of ETH")
    return to_units(fee, NATIVE_DECIMALS)
