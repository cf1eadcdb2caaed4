"""GMX v2 reading: positions, markets, funding and pending orders from the Reader and DataStore in two
rounds of one batch. The Reader fetches no prices: the Chainlink feeds the network file names for each
market's index, long and short tokens are read in the first round and passed (min = max) to the Reader
in the second.

Funding is quoted per hour (`interval_s` = 3600; GMX accrues it per second), positive when the side
pays: `rate` is what longs pay, `short_rate` what shorts pay, from GMX's own per-side formula."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import replace
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from hedger.chain.multicall import AbiContract, AbiFunction, Block, Call, CallResult, ReadStep
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
from hedger.settings import FeedConfig
from hedger.venues._abi import named_call
from hedger.venues.base import VenueState, from_units
from hedger.venues.gmx_v2.config import GmxMarket, GmxToken
from hedger.venues.gmx_v2.keys import (
    MIN_POSITION_SIZE_USD,
    REQUEST_EXPIRATION_TIME,
    ZERO_ADDRESS,
    datastore_key,
    position_key,
)
from hedger.venues.gmx_v2.units import (
    FLOAT_DECIMALS,
    CollateralBacking,
    closing_costs_usd,
    funding_per_hour,
    liquidation_price,
    min_collateral_factor_for_open_interest,
    pending_decrease_tokens,
    price_per_unit,
    usd_per_token,
    usd_value,
)
from hedger.venues.reading import ask, feed_answer, value_of

PAGE_SIZE = 1000  # positions and orders read per account (the Reader clamps to what exists)
INCREASE_ORDER_TYPES, DECREASE_ORDER_TYPES = (2, 3, 8), (4, 5, 6)  # Order.OrderType
MARKET_ORDER_TYPES = (0, 2, 4, 7)  # Order.isMarketOrder: cancellable only after REQUEST_EXPIRATION_TIME
UNBOUNDED_PRICE = 2**255  # an acceptable price at or above this (or 0) bounds nothing


class GmxReading:
    """The reading half of GmxV2Venue (hedger.venues.gmx_v2.venue)."""

    name: str
    reader: AbiContract
    data_store: AbiContract
    referral_storage: str
    markets: dict[str, GmxMarket]
    tokens: list[GmxToken]
    feeds: list[FeedConfig]
    _by_address: dict[str, GmxMarket]
    _get_uint: AbiFunction

    # ------------------------------------------------------------------ reading

    def read(self, account: str, block: Block) -> ReadStep[VenueState]:
        """Round 1: feeds, markets, factors, open interest, positions and orders. Round 2: market info
        and position info, priced with round 1's feed answers."""
        errors: list[str] = []
        first = yield from ask(self._first_calls(account))
        prices = self._token_prices(first, errors)
        raw_positions = [p for p in value_of(first, "positions", errors) or [] if p.numbers.sizeInUsd > 0]
        second = yield from ask(self._second_calls(account, prices, raw_positions, errors))
        source = Source(self.reader.address, block.number, block.timestamp)
        return self._state(first, second, prices, raw_positions, errors, source)

    def _first_calls(self, account: str) -> dict[Hashable, Call]:
        f, store = self.reader.functions, self.data_store.address
        calls: dict[Hashable, Call] = {
            ("feed", feed.name): latest_round_call(feed.address, feed.name) for feed in self.feeds
        }
        calls["min_position_size_usd"] = self._uint(MIN_POSITION_SIZE_USD, "MIN_POSITION_SIZE_USD")
        calls["request_expiration_s"] = self._uint(REQUEST_EXPIRATION_TIME, "REQUEST_EXPIRATION_TIME")
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
        answers = {
            feed.name: feed_answer(first[("feed", feed.name)], feed, errors, "its tokens are unpriced")
            for feed in self.feeds
        }
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
        min_size_usd = value_of(first, "min_position_size_usd", errors)
        expiration_s = value_of(first, "request_expiration_s", errors)
        markets = {
            m.symbol: market
            for m in self.markets.values()
            if (market := self._market(m, first, interest[m.symbol], min_size_usd, expiration_s, errors)) is not None
        }
        funding = [self._funding(m, second, interest[m.symbol], prices, source, errors) for m in self.markets.values()]
        infos = {i.positionKey: i for i in value_of(second, "position_info", errors) or []}
        positions = [self._position(p, infos, prices, markets, source, errors) for p in raw_positions]
        by_key = {position_key(p): p for p in raw_positions}
        orders = [
            self._pending(o, prices, by_key, expiration_s, source) for o in value_of(first, "orders", errors) or []
        ]
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
        expiration_s: int | None,
        errors: list[str],
    ) -> Market | None:
        """The market with GMX's factors. Initial margin: the larger of the min collateral factor and open
        interest × the side's multiplier, the larger side of the two (GMX checks the order's own side, with
        the order's size added; see docs/venues.md). Maintenance: the liquidation factor, with no fallback
        (GMX has none). Fee: the factor for an order that worsens the balance; `Market.taker_fee_for` picks
        the lower one for an order that improves it."""
        props = value_of(first, ("market", market.symbol), errors)
        factors = {name: value_of(first, (name, market.symbol), errors) for name in market.factor_keys()}
        if props is None or not self._matches(market, props, errors):
            return None
        if not factors["min_collateral_factor"] or any(v is None for v in factors.values()):
            errors.append(f"{self.name}: {market.symbol}: no min collateral factor or fee factor: market skipped")
            return None
        minimum = factors["min_collateral_factor"]
        by_side = {
            side: minimum if interest is None else min_collateral_factor_for_open_interest(
                minimum, interest[i], factors[f"min_collateral_factor_for_open_interest_{side}"]
            )
            for i, side in enumerate(("long", "short"))
        }  # fmt: skip
        step = Decimal(1).scaleb(-market.index.decimals)
        return Market(
            venue=self.name,
            symbol=market.symbol,
            asset=market.asset,
            market_id=market.address,
            initial_margin_ratio=from_units(max(by_side.values()), FLOAT_DECIMALS),
            maintenance_margin_ratio=from_units(factors["min_collateral_factor_for_liquidation"], FLOAT_DECIMALS),
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
                "min_collateral_factor": from_units(minimum, FLOAT_DECIMALS),
                "initial_margin_ratio_long": from_units(by_side["long"], FLOAT_DECIMALS),
                "initial_margin_ratio_short": from_units(by_side["short"], FLOAT_DECIMALS),
                "taker_fee_balance_improved": from_units(
                    factors["position_fee_factor_balance_improved"], FLOAT_DECIMALS
                ),
                "request_expiration_s": expiration_s,
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
        base: dict[str, Any] = {
            "venue": self.name,
            "symbol": market.symbol,
            "interval_s": SECONDS_PER_HOUR,
            "source": source,
        }
        info = value_of(second, ("info", market.symbol), errors)
        if info is None or interest is None:
            return FundingRate(**base, rate=None, mark_price=index_price, index_price=index_price)
        longs, shorts = funding_per_hour(
            info.nextFunding.longsPayShorts, info.nextFunding.fundingFactorPerSecond, *interest
        )
        return FundingRate(
            **base,
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
        key = position_key(raw)
        info = infos.get(key)
        contracts = from_units(n.sizeInTokens, market.index.decimals)
        size_usd = from_units(n.sizeInUsd, FLOAT_DECIMALS)
        price, collateral_price = prices.get(market.index.address), prices.get(collateral.address)
        configured = markets.get(market.symbol)
        collateral_tokens = from_units(n.collateralAmount, collateral.decimals)
        closing_fee = None if configured is None else configured.taker_fee_for(-size_usd if is_long else size_usd)
        costs_usd = ZERO if closing_fee is None else closing_costs_usd(info, size_usd, closing_fee)
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

    def _pending(
        self,
        entry: SimpleNamespace,
        prices: Mapping[str, int],
        positions: Mapping[bytes, SimpleNamespace],
        expiration_s: int | None,
        source: Source,
    ) -> PendingOrder | None:
        order = entry.order
        market = self._by_address.get(order.addresses.market)
        n = order.numbers
        if market is None or n.orderType not in INCREASE_ORDER_TYPES + DECREASE_ORDER_TYPES:
            return None  # swaps, liquidations and other markets are not hedger's
        increase = n.orderType in INCREASE_ORDER_TYPES
        is_long = order.flags.isLong
        size_basis, tokens = self._pending_size(market, order, prices, positions, increase)
        collateral = market.token_at(order.addresses.initialCollateralToken)
        collateral_tokens = (
            ZERO if collateral is None else from_units(n.initialCollateralDeltaAmount, collateral.decimals)
        )
        cancellable_at = (
            n.updatedAtTime + expiration_s if expiration_s is not None and n.orderType in MARKET_ORDER_TYPES else None
        )
        return PendingOrder(
            venue=self.name,
            symbol=market.symbol,
            order_id="0x" + entry.orderKey.hex(),
            size_delta=tokens if is_long == increase else -tokens,
            acceptable_price=from_units(n.acceptablePrice, market.price_decimals),
            created_at=n.updatedAtTime,
            source=source,
            collateral_delta=collateral_tokens if increase else -collateral_tokens,
            extra={
                "order_type": n.orderType,
                "is_long": is_long,
                "size_delta_usd": from_units(n.sizeDeltaUsd, FLOAT_DECIMALS),
                "size_basis": size_basis,
                "size_unknown": size_basis == "unknown",
                "collateral_token": order.addresses.initialCollateralToken,
                "initial_collateral_delta_amount": n.initialCollateralDeltaAmount,
                "execution_fee_wei": n.executionFee,
                "priced": market.index.address in prices,
                "cancellable_at": cancellable_at,
            },
        )

    @staticmethod
    def _pending_size(
        market: GmxMarket,
        order: SimpleNamespace,
        prices: Mapping[str, int],
        positions: Mapping[bytes, SimpleNamespace],
        increase: bool,
    ) -> tuple[str, Decimal]:
        """(how it was sized, index tokens) of a pending order. A decrease removes the position's own
        proportion, sizeInTokens × sizeDeltaUsd / sizeInUsd, with no price needed; an increase buys
        sizeDeltaUsd at the index price, else at its acceptable price (its bound); with neither, unknown
        (size 0 and `size_unknown`, so it is never mistaken for a collateral-only order)."""
        n, a, is_long = order.numbers, order.addresses, order.flags.isLong
        if n.sizeDeltaUsd == 0:
            return "collateral_only", ZERO
        if not increase:
            key = datastore_key(
                ["address", "address", "address", "bool"], [a.account, a.market, a.initialCollateralToken, is_long]
            )
            position = positions.get(key)
            if position is not None and position.numbers.sizeInUsd > 0:
                p = position.numbers
                units = pending_decrease_tokens(p.sizeInUsd, p.sizeInTokens, n.sizeDeltaUsd, is_long)
                return "position", from_units(units, market.index.decimals)
        price = prices.get(market.index.address)
        basis = "index_price"
        if not price:
            price, basis = n.acceptablePrice, "acceptable_price"
        if not 0 < price < UNBOUNDED_PRICE:
            return "unknown", ZERO
        size_usd = from_units(n.sizeDeltaUsd, FLOAT_DECIMALS)
        return basis, size_usd / usd_per_token(price, market.index.decimals)


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
        parts = [value_of(first, ("oi", market.symbol, is_long, i), errors) for i in range(2)]
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
