"""gTrade (Gains Network) v10 on Arbitrum: one diamond, GNSMultiCollatDiamond, for trades, pair
parameters, holding fees and market orders. See docs/venues.md.

Units on the wire (the diamond's ABI, Gains Network's SDK converters):
- prices (openPrice, expected prices, oracle answers) 1e10 USD; leverage 1e3; maxSlippageP 1e3 percent;
- positionSizeToken and open interest in tokens 1e18; collateral in the collateral token's decimals;
  collateral USD price 1e8; pairMinPositionSizeUsd 1e18 USD;
- pairSpreadP and pairTotalPositionSizeFeeP 1e10 percent;
- funding (v10, skew-based): rate per second 1e18 percent, its velocity 1e10 percent per second per year,
  accumulated fees 1e20 (percent × price), APR multipliers 1e20; params skewCoefficientPerYear 1e26,
  absoluteVelocityPerYearCap 1e7, absoluteRatePerSecondCap 1e10;
- borrowing v2: rate per second 1e10 percent, accumulated 1e20.

gTrade's pair price is not readable on-chain (its oracle network signs it per order), so this adapter
prices each pair from the Chainlink feed the network file names, and passes that price to the diamond's
fee views in its second read round.

Funding is reported per hour (`interval_s` 3600; gTrade accrues it per second), positive when longs pay:
`rate` is what longs pay, `short_rate` what shorts pay; the receiving side's share can be larger than the
paying side's (the APR multiplier: the paying side's open interest over the receiver's, capped at 100).
Borrowing v2 is one rate for both sides.

Orders are market orders filled later by gTrade's oracle callback (asynchronous, like GMX). Order ids are
`"<trader>:<pending order index>"`, gTrade's ITradingStorage.Id.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from hedger.chain.abi import decode as abi_decode
from hedger.chain.abi import keccak, to_checksum_address, type_string
from hedger.chain.connect import Chain
from hedger.chain.multicall import AbiContract, Block, BoundCall, Call, CallResult, ReadStep
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
from hedger.settings import FeedConfig, MarketConfig, NetworkConfig, TokenConfig, VenueConfig
from hedger.venues._abi import load_abi, named_call
from hedger.venues.base import (
    Approval,
    OrderIntent,
    OrderOutcome,
    TxRequest,
    UnsupportedOrder,
    VenueState,
    from_units,
    to_units,
)
from hedger.venues.reading import ask, feed_answer, value_of

if TYPE_CHECKING:
    from web3 import Web3

PRICE_DECIMALS = 10
LEVERAGE_DECIMALS = 3
SLIPPAGE_DECIMALS = 3  # maxSlippageP: 1e3 × percent
TOKEN_DECIMALS = 18  # positionSizeToken, open interest in tokens
USD_DECIMALS = 18  # pairMinPositionSizeUsd
PERCENT_DECIMALS = 10  # pairSpreadP, pairTotalPositionSizeFeeP
COLLATERAL_PRICE_DECIMALS = 8
FUNDING_RATE_DECIMALS = 18  # percent per second
ACC_FEE_DECIMALS = 20
BORROWING_RATE_DECIMALS = 10  # percent per second
SKEW_COEFFICIENT_DECIMALS = 26
VELOCITY_DECIMALS = 10  # funding rate velocity: percent per second per year
VELOCITY_CAP_DECIMALS = 7
APR_MULTIPLIER_DECIMALS = 20
RATE_CAP_DECIMALS = 10
ONE_YEAR_S = 365 * 24 * 3600
APR_MULTIPLIER_CAP = 100
LIQUIDATION_LOSS = Decimal("0.9")  # gTrade liquidates a trade that has lost 90 % of its collateral
MARKET_OPEN, MARKET_CLOSE, UPDATE_LEVERAGE, MARKET_PARTIAL_OPEN, MARKET_PARTIAL_CLOSE = 0, 1, 7, 8, 9
TRADE_TYPE_MARKET = 0
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
# ITradingCallbacks.CancelReason (gTrade v8+; the SDK ships no enum for it): the ones a hedger meets.
CANCEL_REASONS = {
    0: "NONE",
    1: "PAUSED",
    2: "MARKET_CLOSED",
    3: "SLIPPAGE",
    4: "TP_REACHED",
    5: "SL_REACHED",
    6: "EXPOSURE_LIMITS",
    7: "PRICE_IMPACT",
    8: "MAX_LEVERAGE",
    9: "NO_TRADE",
    10: "WRONG_TRADE",
    11: "NOT_HIT",
    12: "LIQ_REACHED",
}

ABI = load_abi("gtrade", "GNSMultiCollatDiamond")


def _event_topic(name: str) -> bytes:
    (event,) = (e for e in ABI if e["type"] == "event" and e["name"] == name)
    return keccak(f"{name}({','.join(type_string(i) for i in event['inputs'])})".encode())


INITIATED_EVENTS = {
    n: _event_topic(n) for n in ("MarketOrderInitiated", "PositionSizeUpdateInitiated", "LeverageUpdateInitiated")
}
# Outcome events and the data word (after the 2-word orderId) that holds the cancel reason (None: executed).
OUTCOME_EVENTS: dict[bytes, tuple[str, int | None]] = {
    _event_topic("MarketExecuted"): ("MarketExecuted", None),
    _event_topic("MarketOpenCanceled"): ("MarketOpenCanceled", 2),
    _event_topic("MarketCloseCanceled"): ("MarketCloseCanceled", 2),
    _event_topic("PositionSizeIncreaseExecuted"): ("PositionSizeIncreaseExecuted", 2),
    _event_topic("PositionSizeDecreaseExecuted"): ("PositionSizeDecreaseExecuted", 2),
    _event_topic("LeverageUpdateExecuted"): ("LeverageUpdateExecuted", 3),
}


# ---------------------------------------------------------------------- gTrade's fee model (pure, integers)


def _tdiv(a: int, b: int) -> int:
    """Integer division truncating toward zero, as Solidity's."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


@dataclass(frozen=True)
class FundingParams:
    """IFundingFees.FundingFeeParams, raw."""

    skew_coefficient_per_year: int
    absolute_velocity_per_year_cap: int
    absolute_rate_per_second_cap: int
    theta_threshold_usd: int
    funding_fees_enabled: bool
    apr_multiplier_enabled: bool


@dataclass(frozen=True)
class FundingData:
    """IFundingFees.PairFundingFeeData, raw."""

    acc_long: int
    acc_short: int
    last_rate_per_second: int
    last_update_ts: int


def velocity_per_year(params: FundingParams, net_token: int, price: int) -> int:
    """How fast the funding rate moves, 1e10 percent per second per year: |net exposure in tokens (1e18)| ×
    skewCoefficientPerYear (1e26) / 1e34, capped at absoluteVelocityPerYearCap (1e7, so × 1e3), signed like the
    net exposure; 0 while the net exposure in USD (1e10: tokens × price / 1e18) is under thetaThresholdUsd."""
    if net_token == 0 or params.skew_coefficient_per_year == 0 or params.absolute_velocity_per_year_cap == 0:
        return 0
    net_usd = _tdiv(net_token * price, 10**TOKEN_DECIMALS)  # 1e10
    if abs(net_usd) < params.theta_threshold_usd * 10**VELOCITY_DECIMALS:
        return 0
    velocity = abs(net_token) * params.skew_coefficient_per_year // 10 ** (TOKEN_DECIMALS + 16)  # / 1e34: 1e10
    cap = params.absolute_velocity_per_year_cap * 10 ** (VELOCITY_DECIMALS - VELOCITY_CAP_DECIMALS)
    velocity = min(velocity, cap)
    return -velocity if net_usd < 0 else velocity


def funding_rates(params: FundingParams, last_rate: int, velocity: int, elapsed_s: int) -> tuple[int, int]:
    """(average over the period, current) funding rate per second (1e18 percent): the rate moves linearly at
    `velocity` (1e10 per year) until it reaches ±absoluteRatePerSecondCap (1e10, so × 1e8)."""
    if params.absolute_rate_per_second_cap == 0:
        return 0, 0
    if velocity == 0 or elapsed_s == 0:
        return last_rate, last_rate
    scale = 10 ** (FUNDING_RATE_DECIMALS - VELOCITY_DECIMALS)  # 1e8: a 1e10 velocity to the rate's 1e18
    cap = params.absolute_rate_per_second_cap * 10 ** (FUNDING_RATE_DECIMALS - RATE_CAP_DECIMALS)
    cap = -cap if velocity < 0 else cap
    if cap == last_rate:
        return cap, cap
    to_cap = _tdiv(_tdiv((cap - last_rate) * ONE_YEAR_S, velocity), scale)
    if elapsed_s > to_cap:
        before_cap = _tdiv(last_rate + cap, 2)
        return _tdiv(before_cap * to_cap + cap * (elapsed_s - to_cap), elapsed_s), cap
    current = last_rate + _tdiv(elapsed_s * velocity * scale, ONE_YEAR_S)
    return _tdiv(last_rate + current, 2), current


def apr_multipliers(average_rate: int, oi_long: int, oi_short: int, enabled: bool) -> tuple[int, int]:
    """(long, short) APR multipliers at 1e20, as gTrade v10 computes them: the receiving side earns the paying
    side's OI over its own (capped at 100); the paying side 1; a side without open interest 0; all 1 at rate 0."""
    one = 10**APR_MULTIPLIER_DECIMALS
    if average_rate == 0:
        return one, one
    longs_earn = average_rate < 0
    long_m = 0 if oi_long == 0 else (oi_short * one // oi_long if longs_earn and enabled else one)
    short_m = 0 if oi_short == 0 else (oi_long * one // oi_short if not longs_earn and enabled else one)
    cap = APR_MULTIPLIER_CAP * one
    return min(long_m, cap), min(short_m, cap)


def _accrue(acc: list[int], rate: int, seconds: int, price: int, oi_long: int, oi_short: int, enabled: bool) -> None:
    """One period at the average `rate`: the delta (1e20) times each side's multiplier (1e20)."""
    delta = _tdiv(rate * seconds * price, 10 ** (FUNDING_RATE_DECIMALS + PRICE_DECIMALS - ACC_FEE_DECIMALS))
    long_m, short_m = apr_multipliers(rate, oi_long, oi_short, enabled)
    acc[0] += _tdiv(delta * long_m, 10**APR_MULTIPLIER_DECIMALS)
    acc[1] -= _tdiv(delta * short_m, 10**APR_MULTIPLIER_DECIMALS)


def pending_acc_funding(
    params: FundingParams, data: FundingData, oi_long: int, oi_short: int, price: int, now: int
) -> tuple[int, int, int]:
    """gTrade v10's getPairPendingAccFundingFees: (acc long, acc short) at 1e20 and the current rate
    (1e18 percent per second), at `price` (1e10) and time `now`; the period is split where the rate
    changes sign when APR multipliers are on."""
    if not params.funding_fees_enabled:
        return data.acc_long, data.acc_short, data.last_rate_per_second
    elapsed = now - data.last_update_ts
    velocity = velocity_per_year(params, oi_long - oi_short, price)
    last = data.last_rate_per_second
    average, current = funding_rates(params, last, velocity, elapsed)
    acc = [data.acc_long, data.acc_short]
    if params.apr_multiplier_enabled and ((current > 0 > last) or (current < 0 < last)):
        to_zero = _tdiv(_tdiv(-last * ONE_YEAR_S, velocity), 10 ** (FUNDING_RATE_DECIMALS - VELOCITY_DECIMALS))
        _accrue(acc, _tdiv(last, 2), to_zero, price, oi_long, oi_short, True)
        _accrue(acc, _tdiv(current, 2), elapsed - to_zero, price, oi_long, oi_short, True)
    else:
        _accrue(acc, average, elapsed, price, oi_long, oi_short, params.apr_multiplier_enabled)
    return acc[0], acc[1], current


def pending_acc_borrowing(rate_per_second: int, acc: int, last_update_ts: int, price: int, now: int) -> int:
    """Borrowing v2: acc (1e20) + rate (1e10 percent per second) × seconds × price (1e10)."""
    return acc + rate_per_second * max(0, now - last_update_ts) * price


def trade_fee(position_size_collateral: int, acc_delta: int, open_price: int) -> int:
    """A trade's holding fee in collateral units from an accumulator delta (1e20): size × delta / openPrice / 1e10
    / 100."""
    return _tdiv(_tdiv(_tdiv(position_size_collateral * acc_delta, open_price), 10**PRICE_DECIMALS), 100)


def funding_per_hour(
    current_rate: int, oi_long: int, oi_short: int, apr_multiplier_enabled: bool
) -> tuple[Decimal, Decimal]:
    """(what longs pay, what shorts pay) per hour as fractions of notional at the current rate (negative: the
    side receives, times its APR multiplier). A side with no open interest yet is quoted at multiplier 1 (what a
    first position there would earn depends on its own size)."""
    per_hour = from_units(current_rate, FUNDING_RATE_DECIMALS) / 100 * SECONDS_PER_HOUR
    long_m, short_m = apr_multipliers(current_rate, oi_long, oi_short, apr_multiplier_enabled)
    one = 10**APR_MULTIPLIER_DECIMALS
    long_f = Decimal(long_m if oi_long else one).scaleb(-APR_MULTIPLIER_DECIMALS)
    short_f = Decimal(short_m if oi_short else one).scaleb(-APR_MULTIPLIER_DECIMALS)
    return per_hour * long_f, -per_hour * short_f


def borrowing_per_hour(rate_per_second: int) -> Decimal:
    return from_units(rate_per_second, BORROWING_RATE_DECIMALS) / 100 * SECONDS_PER_HOUR


def price_1e10(answer: int, feed_decimals: int) -> int:
    """A Chainlink answer in gTrade's 1e10 price format (rounded down)."""
    shift = PRICE_DECIMALS - feed_decimals
    return answer * 10**shift if shift >= 0 else answer // 10**-shift


def order_id(trader: str, index: int) -> str:
    return f"{to_checksum_address(trader)}:{index}"


def parse_order_id(value: str) -> tuple[str, int]:
    trader, _, index = value.partition(":")
    return to_checksum_address(trader), int(index)


# ---------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class GTradePair:
    symbol: str
    asset: str
    pair_index: int
    feed: FeedConfig


class GTradeVenue:
    """gTrade v10 behind the Venue protocol (hedger.venues.base)."""

    kind = "gtrade"

    def __init__(self, chain: Chain | Web3, network: NetworkConfig, config: VenueConfig):
        self.name = config.name
        self.chain = Chain.of(chain)  # a Web3 is accepted (tests, scripts): reads still go through chain.rpc
        self.diamond = AbiContract(config.require("diamond"), ABI)
        self.collateral = _token(network, config)
        self.collateral_index = config.require("collateral_index", int)
        self.pairs = {s: _pair(network, m) for s, m in config.markets.items()}
        self._by_index = {p.pair_index: p for p in self.pairs.values()}

    # ------------------------------------------------------------------ reading

    def read(self, account: str, block: Block) -> ReadStep[VenueState]:
        """Round 1: collateral, pair parameters, fee parameters and data, open interest, trades, trade
        infos, pending orders and the pairs' feeds. Round 2: current funding and borrowing accumulators per
        pair and pending holding fees per trade, at the feed prices."""
        errors: list[str] = []
        first = yield from ask(self._first_calls(account))
        prices = self._prices(first, errors)
        trades = [t for t in value_of(first, "trades", errors) or [] if t.isOpen]
        second = yield from ask(self._second_calls(account, prices, trades))
        source = Source(self.diamond.address, block.number, block.timestamp)
        return self._state(first, second, prices, trades, errors, source)

    def _first_calls(self, account: str) -> dict[Hashable, Call]:
        f, c = self.diamond.functions, self.collateral_index
        indices = [p.pair_index for p in self.pairs.values()]
        cs = [c] * len(indices)
        calls: dict[Hashable, Call] = {
            ("feed", p.symbol): latest_round_call(p.feed.address, p.feed.name) for p in self.pairs.values()
        }
        calls["collateral"] = named_call(f.getCollateral(c))
        calls["collateral_price"] = named_call(f.getCollateralPriceUsd(c))
        calls["funding_params"] = named_call(f.getPairFundingFeeParams(cs, indices))
        calls["funding_data"] = named_call(f.getPairFundingFeeData(cs, indices))
        calls["borrowing_params"] = named_call(f.getPairBorrowingFeeParams(cs, indices))
        calls["oi"] = named_call(f.getPairOisAfterV10Token(cs, indices))
        calls["trades"] = named_call(f.getTrades(account))
        calls["trade_infos"] = named_call(f.getTradeInfos(account))
        calls["pending"] = named_call(f.getPendingOrders(account))
        for p in self.pairs.values():
            i = p.pair_index
            calls[("min_leverage", i)] = named_call(f.pairMinLeverage(i))
            calls[("max_leverage", i)] = named_call(f.pairMaxLeverage(i))
            calls[("min_size_usd", i)] = named_call(f.pairMinPositionSizeUsd(i))
            calls[("spread", i)] = named_call(f.pairSpreadP(account, i))
            calls[("fee", i)] = named_call(f.pairTotalPositionSizeFeeP(i))
        return calls

    def _prices(self, first: Mapping[Hashable, CallResult], errors: list[str]) -> dict[int, int]:
        """Each pair's price at 1e10 from its feed, where the feed answered within its bounds."""
        prices = {}
        for p in self.pairs.values():
            answer = feed_answer(first[("feed", p.symbol)], p.feed, errors, "its pair is unpriced")
            if answer is not None:
                prices[p.pair_index] = price_1e10(answer, p.feed.decimals)
        return prices

    def _second_calls(self, account: str, prices: Mapping[int, int], trades: list[Any]) -> dict[Hashable, Call]:
        f, c = self.diamond.functions, self.collateral_index
        calls: dict[Hashable, Call] = {}
        for index, price in prices.items():
            calls[("acc_funding", index)] = named_call(f.getPairPendingAccFundingFees(c, index, price))
        for t in trades:
            trade_price = prices.get(t.pairIndex)
            if trade_price is not None and t.collateralIndex == c:
                calls[("holding", t.index)] = named_call(
                    f.getTradePendingHoldingFeesCollateral(account, t.index, trade_price)
                )
        return calls

    def _state(
        self,
        first: Mapping[Hashable, CallResult],
        second: Mapping[Hashable, CallResult],
        prices: Mapping[int, int],
        trades: list[Any],
        errors: list[str],
        source: Source,
    ) -> VenueState:
        collateral_price = self._collateral_price(first, errors)
        per_pair = self._per_pair(first, errors)
        markets = {
            p.symbol: m
            for p in self.pairs.values()
            if (m := self._market(p, first, per_pair, collateral_price, errors)) is not None
        }
        funding = tuple(self._funding(p, second, per_pair, prices, source, errors) for p in self.pairs.values())
        infos = _trade_infos(trades, value_of(first, "trade_infos", errors))
        positions = [
            self._position(t, infos.get(t.index), second, prices, markets, collateral_price, source, errors)
            for t in trades
        ]
        pending = [self._pending(o, markets, source) for o in value_of(first, "pending", errors) or []]
        return VenueState(
            venue=self.name,
            markets=tuple(markets.values()),
            positions=tuple(p for p in positions if p is not None),
            funding=funding,
            pending_orders=tuple(o for o in pending if o is not None),
            errors=tuple(errors),
        )

    def _collateral_price(self, first: Mapping[Hashable, CallResult], errors: list[str]) -> Decimal | None:
        """The collateral's USD price (gTrade's), after checking the index names the configured token."""
        collateral = value_of(first, "collateral", errors)
        if collateral is None:
            return None
        if to_checksum_address(collateral.collateral) != self.collateral.address:
            errors.append(
                f"{self.name}: collateral index {self.collateral_index} is {collateral.collateral} on chain, "
                f"not {self.collateral.symbol} {self.collateral.address}: venue unpriced"
            )
            return None
        raw = value_of(first, "collateral_price", errors)
        return None if not raw else from_units(raw, COLLATERAL_PRICE_DECIMALS)

    def _per_pair(self, first: Mapping[Hashable, CallResult], errors: list[str]) -> dict[int, dict[str, Any]]:
        """The array answers (fee params, fee data, open interest) split per pair index."""
        out: dict[int, dict[str, Any]] = {p.pair_index: {} for p in self.pairs.values()}
        for key in ("funding_params", "funding_data", "borrowing_params", "oi"):
            values = value_of(first, key, errors)
            if values is None:
                continue
            for p, value in zip(self.pairs.values(), values, strict=True):
                out[p.pair_index][key] = value
        return out

    def _market(
        self,
        pair: GTradePair,
        first: Mapping[Hashable, CallResult],
        per_pair: Mapping[int, Mapping[str, Any]],
        collateral_price: Decimal | None,
        errors: list[str],
    ) -> Market | None:
        i = pair.pair_index
        values = {
            k: value_of(first, (k, i), errors)
            for k in ("min_leverage", "max_leverage", "min_size_usd", "spread", "fee")
        }
        if any(v is None for v in values.values()) or not values["max_leverage"]:
            errors.append(f"{self.name}: pair {i} ({pair.symbol}) has no leverage or fee parameters: market skipped")
            return None
        max_leverage = from_units(values["max_leverage"], LEVERAGE_DECIMALS)
        oi = per_pair[i].get("oi")
        return Market(
            venue=self.name,
            symbol=pair.symbol,
            asset=pair.asset,
            market_id=str(i),
            initial_margin_ratio=1 / max_leverage,
            # liquidation at a 90 % loss of collateral: at the maximum leverage, 10 % of the initial margin
            maintenance_margin_ratio=(1 - LIQUIDATION_LOSS) / max_leverage,
            taker_fee=from_units(values["fee"], PERCENT_DECIMALS) / 100,
            min_notional_usd=from_units(values["min_size_usd"], USD_DECIMALS),
            async_orders=True,
            margin_mode=MarginMode.ISOLATED,
            collateral_token=self.collateral.symbol,
            extra={
                "pair_index": i,
                "collateral_index": self.collateral_index,
                "collateral_price_usd": collateral_price,
                "min_leverage": from_units(values["min_leverage"], LEVERAGE_DECIMALS),
                "max_leverage": max_leverage,
                "spread": from_units(values["spread"], PERCENT_DECIMALS) / 100,
                "open_interest_long": None if oi is None else from_units(oi.oiLongToken, TOKEN_DECIMALS),
                "open_interest_short": None if oi is None else from_units(oi.oiShortToken, TOKEN_DECIMALS),
            },
        )

    def _funding(
        self,
        pair: GTradePair,
        second: Mapping[Hashable, CallResult],
        per_pair: Mapping[int, Mapping[str, Any]],
        prices: Mapping[int, int],
        source: Source,
        errors: list[str],
    ) -> FundingRate:
        i = pair.pair_index
        price = prices.get(i)
        index_price = None if price is None else from_units(price, PRICE_DECIMALS)
        base: dict[str, Any] = {
            "venue": self.name,
            "symbol": pair.symbol,
            "interval_s": SECONDS_PER_HOUR,
            "source": source,
        }
        acc = value_of(second, ("acc_funding", i), errors)
        data = per_pair[i]
        if acc is None or not {"funding_params", "borrowing_params", "oi"} <= set(data):
            return FundingRate(**base, rate=None, mark_price=index_price, index_price=index_price)
        oi, params = data["oi"], data["funding_params"]
        _, _, current = acc
        longs, shorts = funding_per_hour(current, oi.oiLongToken, oi.oiShortToken, params.aprMultiplierEnabled)
        borrowing = borrowing_per_hour(data["borrowing_params"].borrowingRatePerSecondP)
        return FundingRate(
            **base,
            rate=longs,
            short_rate=shorts,
            borrowing_long_per_hour=borrowing,
            borrowing_short_per_hour=borrowing,
            mark_price=index_price,
            index_price=index_price,
        )

    def _position(
        self,
        trade: SimpleNamespace,
        info: SimpleNamespace | None,
        second: Mapping[Hashable, CallResult],
        prices: Mapping[int, int],
        markets: Mapping[str, Market],
        collateral_price: Decimal | None,
        source: Source,
        errors: list[str],
    ) -> Position | None:
        pair = self._by_index.get(trade.pairIndex)
        if pair is None or trade.collateralIndex != self.collateral_index:
            errors.append(f"{self.name}: trade {trade.index} on pair {trade.pairIndex} is not configured: ignored")
            return None
        is_long = trade.long
        contracts = from_units(trade.positionSizeToken, TOKEN_DECIMALS)
        entry = from_units(trade.openPrice, PRICE_DECIMALS)
        raw_price = prices.get(trade.pairIndex)
        mark = None if raw_price is None else from_units(raw_price, PRICE_DECIMALS)
        collateral = from_units(trade.collateralAmount, self.collateral.decimals)
        collateral_usd = None if collateral_price is None else collateral * collateral_price
        holding = value_of(second, ("holding", trade.index), errors)
        market = markets.get(pair.symbol)
        fees_usd = ZERO
        if holding is not None and collateral_price is not None:
            fees_usd = from_units(holding.totalFeeCollateral, self.collateral.decimals) * collateral_price
        closing_fee = ZERO if market is None or mark is None else contracts * mark * market.taker_fee
        pnl = None if mark is None else (mark - entry) * contracts * (1 if is_long else -1)
        liquidation = None
        if collateral_usd is not None and contracts:
            cushion = LIQUIDATION_LOSS * collateral_usd - fees_usd - closing_fee
            liquidation = entry - cushion / contracts if is_long else entry + cushion / contracts
            liquidation = liquidation if liquidation > 0 else None
        return Position(
            venue=self.name,
            symbol=pair.symbol,
            asset=pair.asset,
            side=Side.LONG if is_long else Side.SHORT,
            contracts=contracts,
            entry_price=entry,
            mark_price=mark,
            unrealized_pnl_usd=pnl,
            source=source,
            collateral_usd=collateral_usd,
            liquidation_price=liquidation,
            accrued_funding_usd=ZERO
            if holding is None or collateral_price is None
            else from_units(holding.fundingFeeCollateral, self.collateral.decimals) * collateral_price,
            maintenance_margin_usd=None if collateral_usd is None else (1 - LIQUIDATION_LOSS) * collateral_usd,
            collateral_token=self.collateral.symbol,
            collateral_amount=collateral,
            closing_costs_usd=fees_usd + closing_fee,
            extra={
                "trade_index": trade.index,
                "pair_index": trade.pairIndex,
                "leverage": from_units(trade.leverage, LEVERAGE_DECIMALS),
                "leverage_raw": trade.leverage,
                "collateral_amount_raw": trade.collateralAmount,
                "position_size_token_raw": trade.positionSizeToken,
                "funding_fee_collateral_raw": None if holding is None else holding.fundingFeeCollateral,
                "borrowing_fee_collateral_raw": None if holding is None else holding.borrowingFeeCollateral,
                "margin_mode": "isolated",
                "created_block": None if info is None else info.createdBlock,
                "last_increase_block": None if info is None else info.lastPosIncreaseBlock,
                "max_slippage_p": None if info is None else from_units(info.maxSlippageP, SLIPPAGE_DECIMALS),
                "contracts_version": None if info is None else info.contractsVersion,
            },
        )

    def _pending(self, order: SimpleNamespace, markets: Mapping[str, Market], source: Source) -> PendingOrder | None:
        """A market order waiting for the oracle; its size in tokens at the expected price, net of a new trade's
        opening fee (taken from its collateral at unchanged leverage)."""
        t = order.trade
        pair = self._by_index.get(t.pairIndex)
        if pair is None:
            return None
        collateral = from_units(t.collateralAmount, self.collateral.decimals)
        price = from_units(t.openPrice, PRICE_DECIMALS)
        leverage = from_units(t.leverage, LEVERAGE_DECIMALS)
        market = markets.get(pair.symbol)
        net = collateral
        if order.orderType == MARKET_OPEN and market is not None:
            net = collateral * (1 - leverage * market.taker_fee)
        tokens = net * leverage / price if price else ZERO
        size = {
            MARKET_OPEN: tokens if t.long else -tokens,
            MARKET_PARTIAL_OPEN: tokens if t.long else -tokens,
        }.get(order.orderType, ZERO)
        collateral_delta = collateral if order.orderType in (MARKET_OPEN, MARKET_PARTIAL_OPEN) else ZERO
        return PendingOrder(
            venue=self.name,
            symbol=pair.symbol,
            order_id=order_id(order.user, order.index),
            size_delta=size,
            acceptable_price=price or None,
            created_at=source.block_timestamp,
            source=source,
            collateral_delta=collateral_delta,
            extra={
                "order_type": order.orderType,
                "trade_index": t.index,
                "created_block": order.createdBlock,
                "max_slippage_p": from_units(order.maxSlippageP, SLIPPAGE_DECIMALS),
                "long": t.long,
            },
        )

    # ------------------------------------------------------------------ encoding

    def encode_order(self, account: str, intent: OrderIntent) -> list[TxRequest]:
        """openTrade, increasePositionSize, decreasePositionSize, closeTradeMarket, or (size 0) updateLeverage."""
        pair = self._configured(intent.market.symbol)
        position = intent.position
        f = self.diamond.functions
        if intent.size_delta == 0:
            return [self._update_leverage(pair, intent)]
        opposite = position is not None and Side.of(intent.size_delta) is not position.side
        if intent.reduce_only and not opposite:
            raise UnsupportedOrder("reduce-only needs the open trade and a size against it")
        if opposite:
            assert position is not None
            index = position.extra["trade_index"]
            # gTrade applies the trade's own slippage around the expected price: the current price when known
            expected = _price_units(
                intent.reference_price or intent.acceptable_price, buying=position.side is Side.SHORT
            )
            if abs(intent.size_delta) > position.contracts and not intent.reduce_only:
                raise UnsupportedOrder(
                    f"{intent.size_delta} would flip a {position.side} of {position.contracts}",
                    "close the trade first, then open the other side",
                )
            if abs(intent.size_delta) >= position.contracts:
                return [self._tx(f.closeTradeMarket(index, expected), f"close trade {index} on {pair.symbol}")]
            raw = position.extra["collateral_amount_raw"]
            fraction = abs(intent.size_delta) / position.contracts
            delta = int((raw * fraction).to_integral_value(rounding=ROUND_FLOOR))
            if delta <= 0:
                raise UnsupportedOrder(f"{intent.size_delta} {pair.symbol} is below one unit of the trade's collateral")
            amount = from_units(delta, self.collateral.decimals)
            text = f"decrease trade {index} on {pair.symbol} by {amount} {self.collateral.symbol} of collateral"
            return [self._tx(f.decreasePositionSize(index, delta, 0, expected), text)]
        return [self._increase(account, pair, intent)]

    def _increase(self, account: str, pair: GTradePair, intent: OrderIntent) -> TxRequest:
        """A new trade, or more size on the open one, at the leverage the size and collateral imply."""
        if intent.reference_price is None or intent.reference_price <= 0:
            raise UnsupportedOrder("a gTrade order is sized by collateral × leverage: give it a reference_price")
        if intent.collateral_delta <= 0:
            raise UnsupportedOrder("a gTrade trade carries its own collateral: give the intent a collateral_delta > 0")
        long = intent.size_delta > 0
        leverage, collateral = self._sizing(intent)
        expected = to_units(intent.reference_price, PRICE_DECIMALS)
        slippage = _slippage_units(intent.reference_price, intent.acceptable_price, long)
        f = self.diamond.functions
        times, percent = from_units(leverage, LEVERAGE_DECIMALS), from_units(slippage, SLIPPAGE_DECIMALS)
        text = (
            f"{'long' if long else 'short'} {pair.symbol} {abs(intent.size_delta)} at {times}x "
            f"on {from_units(collateral, self.collateral.decimals)} {self.collateral.symbol} (with a new trade's "
            f"opening fee), slippage {percent} %"
        )
        if intent.position is not None:
            index = intent.position.extra["trade_index"]
            return self._tx(
                f.increasePositionSize(index, collateral, leverage, expected, slippage),
                f"increase trade {index}: {text}",
            )
        trade = (
            account, 0, pair.pair_index, leverage, long, True, self.collateral_index, TRADE_TYPE_MARKET,
            collateral, expected, 0, 0, False, 0, 0,
        )  # fmt: skip
        return self._tx(f.openTrade(trade, slippage, ZERO_ADDRESS), f"open {text}")

    def _sizing(self, intent: OrderIntent) -> tuple[int, int]:
        """(leverage at 1e3, collateral to send in token units) of an increase. The leverage is the size's
        notional over the intent's collateral. A new trade pays its opening fee out of its collateral at unchanged
        leverage, which would shrink the size by leverage × fee: so the collateral sent is grossed up to
        c / (1 − leverage × fee), and after the fee the trade holds c at the leverage asked for the size asked."""
        collateral_price = intent.market.extra.get("collateral_price_usd")
        if not collateral_price:
            raise UnsupportedOrder(f"{self.name}: the collateral's USD price is unknown", "read the venue again")
        assert intent.reference_price is not None
        notional = abs(intent.size_delta) * intent.reference_price
        leverage = to_units(notional / (intent.collateral_delta * collateral_price), LEVERAGE_DECIMALS)
        low, high = intent.market.extra["min_leverage"], intent.market.extra["max_leverage"]
        if not low <= from_units(leverage, LEVERAGE_DECIMALS) <= high:
            raise UnsupportedOrder(
                f"{intent.market.key}: size {intent.size_delta} on {intent.collateral_delta} {self.collateral.symbol} "
                f"is leverage {from_units(leverage, LEVERAGE_DECIMALS)}, outside gTrade's [{low}, {high}]",
                "change the collateral so the leverage is within the pair's limits",
            )
        collateral = intent.collateral_delta
        if intent.position is None:
            collateral = collateral / (1 - from_units(leverage, LEVERAGE_DECIMALS) * intent.market.taker_fee)
        return leverage, to_units(collateral, self.collateral.decimals, ROUND_CEILING)

    def _update_leverage(self, pair: GTradePair, intent: OrderIntent) -> TxRequest:
        """Collateral in or out at unchanged size: updateLeverage to size / (collateral ± delta)."""
        position = intent.position
        if position is None or intent.collateral_delta == 0:
            raise UnsupportedOrder("a collateral-only order needs the open trade and a non-zero collateral_delta")
        raw = position.extra["collateral_amount_raw"]
        size = raw * position.extra["leverage_raw"]  # collateral units × 1e3
        new_collateral = raw + to_units(intent.collateral_delta, self.collateral.decimals)
        if new_collateral <= 0:
            raise UnsupportedOrder("cannot withdraw all of a trade's collateral", "close the trade instead")
        # rounded up when adding collateral (so no more is pulled than asked), down when withdrawing
        rounding = ROUND_CEILING if intent.collateral_delta > 0 else ROUND_FLOOR
        leverage = int((Decimal(size) / new_collateral).to_integral_value(rounding=rounding))
        index = position.extra["trade_index"]
        times = from_units(leverage, LEVERAGE_DECIMALS)
        text = f"trade {index} on {pair.symbol} to {times}x ({intent.collateral_delta:+} {self.collateral.symbol})"
        return self._tx(self.diamond.functions.updateLeverage(index, leverage), f"update leverage of {text}")

    def encode_collateral(self, account: str, amount: Decimal) -> list[TxRequest]:
        raise UnsupportedOrder(
            "gTrade keeps collateral per trade, not per account",
            "encode an order with size_delta 0, collateral_delta and the position instead",
        )

    def encode_cancel(self, account: str, order: PendingOrder) -> TxRequest:
        """gTrade lets a trader cancel a market order only once its timeout has passed (cancelOrderAfterTimeout)."""
        _, index = parse_order_id(order.order_id)
        raise UnsupportedOrder(
            f"gTrade market order {index} cannot be cancelled before its timeout (the oracle fills or cancels it)",
            "wait for the oracle's callback",
        )

    def _tx(self, function: BoundCall, description: str) -> TxRequest:
        return TxRequest(self.diamond.address, function.data, f"{self.name}: {description}")

    # ------------------------------------------------------------------ following orders (AsyncVenue)

    def order_id_from_receipt(self, receipt: dict) -> str | None:
        """The pending order a mined transaction created: the orderId of its *Initiated event."""
        for log in receipt["logs"]:
            topics = [bytes(t) for t in log["topics"]]
            if log["address"] == self.diamond.address and topics and topics[0] in INITIATED_EVENTS.values():
                return _order_id_of(bytes(log["data"]))
        return None

    def order_outcome(self, order_id: str, from_block: int) -> OrderOutcome:
        """Executed or cancelled (with gTrade's cancel reason), from the diamond's logs since `from_block`."""
        eth: Any = self.chain.w3.eth  # web3's TypedDicts want its own address types
        logs = eth.get_logs(
            {
                "address": self.diamond.address,
                "fromBlock": from_block,
                "topics": [["0x" + t.hex() for t in OUTCOME_EVENTS]],
            }
        )
        for log in logs:
            data = bytes(log["data"])
            if _order_id_of(data) != order_id:
                continue
            name, reason_word = OUTCOME_EVENTS[bytes(log["topics"][0])]
            reason = 0 if reason_word is None else int.from_bytes(data[32 * reason_word : 32 * reason_word + 32], "big")
            if reason == 0:
                return OrderOutcome("executed", log["blockNumber"])
            return OrderOutcome("cancelled", log["blockNumber"], f"{name}: {CANCEL_REASONS.get(reason, reason)}")
        return OrderOutcome("pending")

    def approvals(self, account: str, intent: OrderIntent | None, collateral: Decimal) -> list[Approval]:
        """Collateral of an open, an increase or a leverage decrease is pulled by the diamond itself."""
        if intent is None or collateral <= 0:
            return []
        amount = to_units(collateral, self.collateral.decimals, ROUND_CEILING)
        if intent.size_delta != 0 and intent.reference_price:
            amount = self._sizing(intent)[1]  # what the order sends, its opening fee included
        return [
            Approval(
                self.collateral.address,
                self.diamond.address,
                amount,
            )
        ]

    def _configured(self, symbol: str) -> GTradePair:
        pair = self.pairs.get(symbol)
        if pair is None:
            raise UnsupportedOrder(f"{self.name} has no market {symbol!r}", f"configured: {sorted(self.pairs)}")
        return pair


# ---------------------------------------------------------------------- helpers


def _trade_infos(trades: list[Any], infos: list[Any] | None) -> dict[int, SimpleNamespace]:
    """TradeInfo by trade index: getTradeInfos answers in the order of getTrades (open trades only)."""
    if infos is None or len(trades) != len(infos):
        return {}
    return {t.index: info for t, info in zip(trades, infos, strict=True)}


def _order_id_of(data: bytes) -> str:
    user, index = abi_decode(["address", "uint32"], data[:64])
    return order_id(user, index)


def _price_units(price: Decimal, buying: bool) -> int:
    """An expected price at 1e10, rounded to be stricter: down for a buy, up for a sell."""
    return to_units(price, PRICE_DECIMALS, ROUND_FLOOR if buying else ROUND_CEILING)


def _slippage_units(reference: Decimal, acceptable: Decimal, long: bool) -> int:
    """maxSlippageP (1e3 percent) no looser than the acceptable price: the room between it and the reference."""
    room = (acceptable - reference) / reference if long else (reference - acceptable) / reference
    if room <= 0:
        raise UnsupportedOrder(
            f"acceptable price {acceptable} leaves no slippage room from {reference}",
            "give a worse acceptable price (above the reference for a long, below for a short)",
        )
    return to_units(room * 100, SLIPPAGE_DECIMALS, ROUND_FLOOR)


def _token(network: NetworkConfig, config: VenueConfig) -> TokenConfig:
    symbol = config.require("collateral_token")
    token = network.tokens.get(symbol)
    if token is None:
        raise ConfigError(
            config.file, f"venues.{config.name}.collateral_token", f"names {symbol!r}, not a token in [tokens]"
        )
    return token


def _pair(network: NetworkConfig, config: MarketConfig) -> GTradePair:
    feed_name = config.require("feed")
    feed = network.feeds.get(feed_name)
    if feed is None:
        raise ConfigError(config.file, f"{config.key}.feed", f"names {feed_name!r}, not a feed in [feeds]")
    index = config.require("pair_index", int)
    if not 0 <= index < 2**16:
        raise ConfigError(config.file, f"{config.key}.pair_index", f"{index} is not a uint16 pair index")
    return GTradePair(config.symbol, config.asset, index, feed)
