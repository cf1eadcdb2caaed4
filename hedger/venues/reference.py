"""hedger's reference venue: the PerpMarket contract (contracts/perp/PerpMarket.sol, docs/perp-market.md).

Cross margin in one stablecoin; funding quoted per hour (positive: longs pay); immediate orders
(`modifyPosition`) and asynchronous ones (`commitOrder`, settled by a keeper). All values are
18-decimal fixed point on-chain except margin, which is in margin-token units.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

from hedger.chain.connect import Chain
from hedger.chain.multicall import AbiContract, Block, BoundCall, CallResult, ReadStep
from hedger.chain.revert import decode_revert, known_abis
from hedger.errors import ConfigError
from hedger.model import (
    FundingRate,
    MarginAccount,
    Market,
    PendingOrder,
    Position,
    Side,
    Source,
)
from hedger.settings import MarketConfig, NetworkConfig, VenueConfig
from hedger.venues._abi import load_abi
from hedger.venues.base import (
    Approval,
    OrderIntent,
    OrderOutcome,
    TxRequest,
    VenueState,
    acceptable_units,
    from_units,
    to_units,
)

if TYPE_CHECKING:
    from web3 import Web3
    from web3.types import TxReceipt

WAD_DECIMALS = 18
# accountSummary prices every open position: eth_estimateGas measured 6k + ~50.5k per position (cold storage)
SUMMARY_BASE_GAS, SUMMARY_GAS_PER_POSITION = 30_000, 55_000
_PER_MARKET_CALLS = (
    "marketParams",
    "currentFundingRate",
    "marketSummary",
    "mark",
    "rawPosition",
    "getPosition",
    "pendingOrder",
)


class ReferenceVenue:
    kind = "reference"

    def __init__(self, chain: Chain | Web3, network: NetworkConfig, config: VenueConfig):
        self.name = config.name
        self.config = config
        self.chain = Chain.of(chain)  # a Web3 is accepted (tests, scripts): reads still go through chain.rpc
        self.contract = AbiContract(config.require("address"), load_abi("reference", "PerpMarket"))
        self.fn = self.contract.fn
        token = network.tokens.get(config.require("margin_token"))
        if token is None:
            raise ConfigError(config.file, f"venues.{self.name}.margin_token", "names a token not in [tokens]")
        self.margin_token = token
        self.markets = {symbol: (m, m.require("id", int)) for symbol, m in config.markets.items()}
        self.use_async_orders = bool(config.params.get("async_orders", False))

    # ------------------------------------------------------------------ reading

    def read(self, account: str, block: Block) -> ReadStep[VenueState]:
        fn, at = self.fn, self.contract.address
        calls = [
            fn["accountSummary"].call(at, account, gas=_summary_gas(len(self.markets))),
            fn["minOrderDelay"].call(at),
            fn["orderExpiry"].call(at),
        ]
        for market_id in (market_id for _, market_id in self.markets.values()):
            calls += [
                fn["marketParams"].call(at, market_id),
                fn["currentFundingRate"].call(at, market_id),
                fn["marketSummary"].call(at, market_id),
                fn["fillPrice"].call(at, market_id, 0),
                fn["rawPosition"].call(at, account, market_id),
                fn["getPosition"].call(at, account, market_id),
                fn["pendingOrder"].call(at, account, market_id),
            ]
        results = yield calls
        return self._build(block, results)

    def _build(self, block: Block, results: list[CallResult]) -> VenueState:
        source = Source(self.contract.address, block.number, block.timestamp)
        summary, min_delay, expiry = results[:3]
        errors = [r.error for r in results if not r.ok and r.error]
        margin = self._margin(summary, source)
        markets, positions, funding, pending = [], [], [], []
        per_market = len(_PER_MARKET_CALLS)
        for index, (config, market_id) in enumerate(self.markets.values()):
            chunk = dict(
                zip(_PER_MARKET_CALLS, results[3 + index * per_market : 3 + (index + 1) * per_market], strict=True)
            )
            if not chunk["marketParams"].ok:
                continue
            market = self._market(config, market_id, chunk["marketParams"].value)
            markets.append(market)
            funding.append(self._funding(market, chunk, source))
            position = self._position(market, chunk, margin, source)
            if position is not None:
                positions.append(position)
            order = self._pending(market, chunk["pendingOrder"], min_delay, expiry, source)
            if order is not None:
                pending.append(order)
        return VenueState(
            self.name, tuple(markets), tuple(positions), tuple(funding), tuple(pending), margin, tuple(errors)
        )

    def _market(self, config: MarketConfig, market_id: int, params: tuple) -> Market:
        _feed, _age, skew_scale, fee, max_rate, imr, mmr, reward, max_oi = params
        return Market(
            venue=self.name,
            symbol=config.symbol,
            asset=config.asset,
            market_id=str(market_id),
            initial_margin_ratio=from_units(imr, WAD_DECIMALS),
            maintenance_margin_ratio=from_units(mmr, WAD_DECIMALS),
            taker_fee=from_units(fee, WAD_DECIMALS),
            min_size=Decimal("1e-18"),
            size_step=Decimal("1e-18"),
            max_open_interest=from_units(max_oi, WAD_DECIMALS) if max_oi else None,
            async_orders=self.use_async_orders,
            extra={
                "skew_scale": from_units(skew_scale, WAD_DECIMALS),
                "max_funding_rate_per_hour": from_units(max_rate, WAD_DECIMALS),
                "liquidation_reward_ratio": from_units(reward, WAD_DECIMALS),
            },
        )

    def _funding(self, market: Market, chunk: dict[str, CallResult], source: Source) -> FundingRate:
        rate = chunk["currentFundingRate"]
        summary, mark = chunk["marketSummary"], chunk["mark"]
        return FundingRate(
            venue=self.name,
            symbol=market.symbol,
            rate=from_units(rate.value, WAD_DECIMALS) if rate.ok else None,
            interval_s=3600,
            source=source,
            mark_price=from_units(mark.value, WAD_DECIMALS) if mark.ok else None,
            index_price=from_units(summary.value[0], WAD_DECIMALS) if summary.ok else None,
        )

    def _position(
        self, market: Market, chunk: dict[str, CallResult], margin: MarginAccount | None, source: Source
    ) -> Position | None:
        raw = chunk["rawPosition"]
        if not raw.ok or raw.value[0] == 0:
            return None
        size_raw, cost_raw, _ = raw.value
        priced, summary = chunk["getPosition"], chunk["marketSummary"]
        price = from_units(summary.value[0], WAD_DECIMALS) if summary.ok else None
        contracts = from_units(abs(size_raw), WAD_DECIMALS)
        funding = from_units(priced.value[4], WAD_DECIMALS) if priced.ok else Decimal(0)
        pnl = from_units(priced.value[3], WAD_DECIMALS) if priced.ok else None
        size, cost = from_units(size_raw, WAD_DECIMALS), from_units(cost_raw, WAD_DECIMALS)
        return Position(
            venue=self.name,
            symbol=market.symbol,
            asset=market.asset,
            side=Side.LONG if size_raw > 0 else Side.SHORT,
            contracts=contracts,
            entry_price=cost / size,
            mark_price=price,
            unrealized_pnl_usd=pnl,
            source=source,
            collateral_usd=margin.equity_usd if margin else None,
            liquidation_price=_liquidation_price(size, cost, funding, pnl, price, market, margin),
            accrued_funding_usd=funding,
            maintenance_margin_usd=contracts * price * market.maintenance_margin_ratio if price is not None else None,
            extra={"cost_basis_usd": cost, "margin_mode": "cross"},
        )

    def _margin(self, summary: CallResult, source: Source) -> MarginAccount | None:
        decimals = self.margin_token.decimals
        if not summary.ok:
            return None
        settled, equity, initial, maintenance, notional = summary.value
        return MarginAccount(
            venue=self.name,
            collateral_token=self.margin_token.symbol,
            collateral=from_units(settled, decimals),
            equity_usd=from_units(equity, WAD_DECIMALS),
            initial_requirement_usd=from_units(initial, WAD_DECIMALS),
            maintenance_requirement_usd=from_units(maintenance, WAD_DECIMALS),
            notional_usd=from_units(notional, WAD_DECIMALS),
            source=source,
        )

    def _pending(
        self, market: Market, order: CallResult, min_delay: CallResult, expiry: CallResult, source: Source
    ) -> PendingOrder | None:
        if not order.ok or order.value[3] == 0:
            return None
        order_id, size_delta, acceptable, committed_at, keeper_fee = order.value
        return PendingOrder(
            venue=self.name,
            symbol=market.symbol,
            order_id=str(order_id),
            size_delta=from_units(size_delta, WAD_DECIMALS),
            acceptable_price=from_units(acceptable, WAD_DECIMALS),
            created_at=committed_at,
            source=source,
            ready_at=committed_at + min_delay.value if min_delay.ok else None,
            expires_at=committed_at + expiry.value if expiry.ok else None,
            extra={"keeper_fee": from_units(keeper_fee, self.margin_token.decimals)},
        )

    # ------------------------------------------------------------------ encoding

    def encode_order(self, account: str, intent: OrderIntent) -> list[TxRequest]:
        _, market_id = self.markets[intent.market.symbol]
        size = to_units(intent.size_delta, WAD_DECIMALS)
        acceptable = acceptable_units(intent.acceptable_price, WAD_DECIMALS, buying=size > 0)
        f = self.contract.functions
        if intent.market.async_orders:
            call, verb = f.commitOrder(market_id, size, acceptable), "commit"
        else:
            call, verb = f.modifyPosition(market_id, size, acceptable), "trade"
        return [self._tx(call, f"{verb} {intent.size_delta} {intent.market.symbol} at ≤/≥ {intent.acceptable_price}")]

    def encode_collateral(self, account: str, amount: Decimal) -> list[TxRequest]:
        units = to_units(abs(amount), self.margin_token.decimals)
        f = self.contract.functions
        if amount > 0:
            return [self._tx(f.depositMargin(units), f"deposit {abs(amount)} {self.margin_token.symbol} margin")]
        return [self._tx(f.withdrawMargin(units), f"withdraw {abs(amount)} {self.margin_token.symbol} margin")]

    def encode_cancel(self, account: str, order: PendingOrder) -> TxRequest:
        _, market_id = self.markets[order.symbol]
        return self._tx(self.contract.functions.cancelOrder(account, market_id), f"cancel order {order.order_id}")

    @cached_property
    def _web3_contract(self) -> Any:
        """The web3 contract, for events (execution paths only)."""
        eth: Any = self.chain.w3.eth  # web3's TypedDicts want its own address types
        return eth.contract(address=self.contract.address, abi=self.contract.abi)

    def order_id_from_receipt(self, receipt: TxReceipt) -> str | None:
        from web3.logs import DISCARD

        committed = self._web3_contract.events.OrderCommitted().process_receipt(receipt, errors=DISCARD)
        return str(committed[0]["args"]["orderId"]) if committed else None

    def order_outcome(self, order_id: str, from_block: int) -> OrderOutcome:
        """Settled or cancelled, from the venue's events (orderId is their first indexed topic)."""
        topic = "0x" + int(order_id).to_bytes(32, "big").hex()
        for name in ("OrderSettled", "OrderCancelled"):
            event = getattr(self._web3_contract.events, name)()
            eth: Any = self.chain.w3.eth
            logs = eth.get_logs(
                {"address": self.contract.address, "fromBlock": from_block, "topics": [event.topic, topic]}
            )
            if logs:
                decoded = event.process_log(logs[0])
                if name == "OrderSettled":
                    return OrderOutcome("executed", logs[0]["blockNumber"])
                return OrderOutcome(
                    "cancelled", logs[0]["blockNumber"], str(decode_revert(decoded["args"]["reason"], known_abis()))
                )
        return OrderOutcome("pending")

    def approvals(self, account: str, intent: OrderIntent | None, collateral: Decimal) -> list[Approval]:
        if collateral <= 0:
            return []
        units = to_units(collateral, self.margin_token.decimals)
        return [Approval(self.margin_token.address, self.contract.address, units)]

    def _tx(self, call: BoundCall, description: str) -> TxRequest:
        return TxRequest(to=self.contract.address, data=call.data, description=f"{self.name}: {description}")


def _summary_gas(markets: int) -> int:
    """accountSummary's planned gas: it prices every open position (at most one per configured market)."""
    return SUMMARY_BASE_GAS + SUMMARY_GAS_PER_POSITION * markets


def _liquidation_price(
    size: Decimal,
    cost: Decimal,
    funding: Decimal,
    pnl: Decimal | None,
    price: Decimal | None,
    market: Market,
    margin: MarginAccount | None,
) -> Decimal | None:
    """The oracle price of this market at which the cross-margin account reaches its maintenance
    requirement, other markets at their current prices (PerpMarket.liquidationPrice, computed here
    from values already read instead of one O(markets) view per market)."""
    if margin is None or pnl is None or price is None:
        return None
    mmr = market.maintenance_margin_ratio
    rest = margin.equity_usd - (pnl - funding) - margin.maintenance_requirement_usd + abs(size) * price * mmr
    slope = size - abs(size) * mmr
    liquidation = (cost + funding - rest) / slope
    return liquidation if liquidation > 0 else None
