"""GMX v2 orders: an intent planned as a market increase or decrease, encoded as one
ExchangeRouter.multicall; cancels; and the outcome of a request from the EventEmitter's logs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hedger.chain.abi import decode as abi_decode
from hedger.chain.abi import type_string
from hedger.chain.connect import Chain
from hedger.chain.multicall import AbiContract
from hedger.chain.revert import decode_revert
from hedger.model import PendingOrder, Side
from hedger.venues._abi import load_abi, named
from hedger.venues.base import (
    Approval,
    OrderIntent,
    OrderOutcome,
    TxRequest,
    UnsupportedOrder,
    acceptable_units,
    from_units,
    to_units,
)
from hedger.venues.gmx_v2.config import GmxMarket, GmxToken
from hedger.venues.gmx_v2.keys import EVENT_LOG2_DATA, EVENT_LOG2_TOPIC, ORDER_EVENTS, ZERO_ADDRESS
from hedger.venues.gmx_v2.units import FLOAT_DECIMALS, NATIVE_DECIMALS

if TYPE_CHECKING:
    from web3.types import TxReceipt

MARKET_INCREASE, MARKET_DECREASE = 2, 4  # Order.OrderType
NO_SWAP = 0  # Order.DecreasePositionSwapType.NoSwap
ZERO_BYTES32 = bytes(32)


class GmxOrders:
    """The order half of GmxV2Venue (hedger.venues.gmx_v2.venue)."""

    name: str
    chain: Chain
    exchange_router: AbiContract
    router: str
    order_vault: str
    event_emitter: str
    wnt: GmxToken
    execution_fee_wei: int
    markets: dict[str, GmxMarket]

    def encode_order(self, account: str, intent: OrderIntent) -> list[TxRequest]:
        """One ExchangeRouter.multicall: [sendWnt(fee, plus WNT collateral), sendTokens(collateral), createOrder]."""
        market = self._configured(intent.market.symbol)
        order = _plan(market, intent)
        fee = int(intent.extra.get("execution_fee_wei", self.execution_fee_wei))
        wnt_collateral = (
            order.collateral_amount if order.increase and order.collateral.address == self.wnt.address else 0
        )
        router = self.exchange_router.functions
        calls = [router.sendWnt(self.order_vault, fee + wnt_collateral).data]
        if order.increase and order.collateral_amount and not wnt_collateral:
            calls.append(router.sendTokens(order.collateral.address, self.order_vault, order.collateral_amount).data)
        calls.append(router.createOrder(self._params(account, market, order, fee)).data)
        description = (
            f"{self.name}: {'increase' if order.increase else 'decrease'} {'long' if order.is_long else 'short'} "
            f"{market.symbol} by ${from_units(order.size_delta_usd, FLOAT_DECIMALS)}, collateral "
            f"{'+' if order.increase else '-'}{from_units(order.collateral_amount, order.collateral.decimals)} "
            f"{order.collateral.symbol}, execution fee {from_units(fee, NATIVE_DECIMALS)} ETH"
        )
        return [
            TxRequest(self.exchange_router.address, router.multicall(calls).data, description, fee + wnt_collateral)
        ]

    def _params(self, account: str, market: GmxMarket, order: _Order, fee: int) -> tuple:
        """IBaseOrderUtils.CreateOrderParams, field for field."""
        addresses: tuple[Any, ...] = (
            account,
            account,
            ZERO_ADDRESS,
            ZERO_ADDRESS,
            market.address,
            order.collateral.address,
            [],
        )
        numbers = (order.size_delta_usd, order.collateral_amount, 0, order.acceptable_price, fee, 0, 0, 0)
        order_type = MARKET_INCREASE if order.increase else MARKET_DECREASE
        return (addresses, numbers, order_type, NO_SWAP, order.is_long, False, False, ZERO_BYTES32, [])

    def encode_collateral(self, account: str, amount: Decimal) -> list[TxRequest]:
        raise UnsupportedOrder(
            "GMX v2 keeps collateral per position, not per account",
            "encode an order with size_delta 0, collateral_delta and the position instead",
        )

    def encode_cancel(self, account: str, order: PendingOrder) -> TxRequest:
        """ExchangeRouter.cancelOrder. GMX refuses to cancel a market order younger than its
        REQUEST_EXPIRATION_TIME (RequestNotYetCancellable): refused here, nothing sent, when the
        snapshot the order was read in is before its `cancellable_at`."""
        cancellable_at = order.extra.get("cancellable_at")
        if cancellable_at is not None and order.source.block_timestamp < cancellable_at:
            wait_s = cancellable_at - order.source.block_timestamp
            raise UnsupportedOrder(
                f"GMX refuses to cancel market order {order.order_id} before {cancellable_at} "
                f"(REQUEST_EXPIRATION_TIME after its creation): {wait_s} s to go",
                "wait for the request to expire, or for the keeper to execute or cancel it",
            )
        key = bytes.fromhex(order.order_id.removeprefix("0x"))
        data = self.exchange_router.functions.cancelOrder(key).data
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
        outcomes = [ORDER_EVENTS[name] for name in ("OrderExecuted", "OrderCancelled", "OrderFrozen")]
        eth: Any = self.chain.w3.eth  # web3's TypedDicts want its own address types
        logs = eth.get_logs(
            {
                "address": self.event_emitter,
                "fromBlock": from_block,
                "topics": ["0x" + EVENT_LOG2_TOPIC.hex(), ["0x" + t.hex() for t in outcomes], order_id],
            }
        )
        final = [log for log in logs if not self._is_order_event(log, "OrderFrozen")]
        if not final:  # a frozen order stays in the store until updated, cancelled or executed
            frozen = logs[-1] if logs else None
            reason = None if frozen is None else f"frozen: {_cancel_reason(frozen['data'])}"
            return OrderOutcome("pending", None if frozen is None else frozen["blockNumber"], reason)
        log = final[0]
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


def _cancel_reason(data: bytes) -> str:
    """The reason of an OrderCancelled or OrderFrozen event. GMX fills "reason" only for a revert string
    and leaves it empty for a custom error; "reasonBytes" holds the raw revert, decoded here with GMX's
    error ABI (contracts/error/Errors.sol, shipped as hedger/venues/abi/gmx_v2.json "Errors") into its
    name and arguments, e.g. MaxCollateralSumExceeded(collateralSum=…, maxCollateralSum=…)."""
    _, _, event_data = abi_decode([type_string(p) for p in EVENT_LOG2_DATA], bytes(data))
    items = named(EVENT_LOG2_DATA[2], event_data)
    reason = next((i.value for i in items.stringItems.items if i.key == "reason"), "")
    raw = next((i.value for i in items.bytesItems.items if i.key == "reasonBytes"), b"")
    if not raw:
        return reason
    decoded = decode_revert(raw, [load_abi("gmx_v2", "Errors")])
    if decoded.name in ("UnknownError", "UndecodableRevert"):
        text = f"unknown error 0x{bytes(raw).hex()}"
    elif decoded.name == "Error" and reason:
        return reason
    else:
        text = str(decoded)
    return f"{reason}: {text}" if reason else text
