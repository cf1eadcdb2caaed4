"""The Venue protocol: one file per venue implements it.

A venue reads everything about an account in one read step (see hedger.chain.multicall: at most two
rounds of batched calls, all at the snapshot's block), and encodes orders as transaction requests
for the execution layer. Venues never send anything themselves.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from hedger.chain.connect import Chain
from hedger.chain.multicall import Block, ReadStep
from hedger.errors import ConfigError, HedgerError
from hedger.model import FundingRate, MarginAccount, Market, PendingOrder, Position
from hedger.settings import NetworkConfig, VenueConfig

if TYPE_CHECKING:
    from web3 import Web3
    from web3.types import TxReceipt


@dataclass(frozen=True)
class VenueState:
    """What one venue says about one account at one block."""

    venue: str
    markets: tuple[Market, ...] = ()
    positions: tuple[Position, ...] = ()
    funding: tuple[FundingRate, ...] = ()
    pending_orders: tuple[PendingOrder, ...] = ()
    margin: MarginAccount | None = None
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class TxRequest:
    """A transaction for the execution layer to simulate, sign and send."""

    to: str
    data: bytes
    description: str
    value: int = 0


@dataclass(frozen=True)
class OrderIntent:
    """An order to encode: signed size in base units, a worst acceptable price, and for venues with
    isolated collateral (GMX) the collateral to send with it, in collateral-token units.

    Venues that size orders in USD (GMX) need `reference_price` (the current index price, from the
    snapshot) to turn an increase into USD, and `position` (the open position from the snapshot) to
    decrease or close it exactly."""

    market: Market
    size_delta: Decimal
    acceptable_price: Decimal
    reduce_only: bool = False
    collateral_delta: Decimal = Decimal(0)
    extra: dict = field(default_factory=dict)
    reference_price: Decimal | None = None
    position: Position | None = None


@dataclass(frozen=True)
class Approval:
    """An ERC-20 allowance an order needs before it can execute."""

    token: str
    spender: str
    amount: int


class UnsupportedOrder(HedgerError, ValueError):
    """An order this venue cannot encode as asked (the message says why and what to send instead)."""

    hint = "change the order as the message says; nothing was encoded"


class FundingSource(Protocol):
    """Funding that a venue does not publish on-chain (Hyperliquid), from elsewhere: per hour,
    positive when longs pay, or None when unknown for that symbol."""

    @property
    def name(self) -> str: ...

    def funding_per_hour(self, symbol: str) -> Decimal | None: ...


@dataclass(frozen=True)
class StaticFundingSource:
    """A fixed table of hourly funding rates by market symbol (tests, or a manual override)."""

    rates_per_hour: Mapping[str, Decimal]
    name: str = "static"

    def funding_per_hour(self, symbol: str) -> Decimal | None:
        return self.rates_per_hour.get(symbol)


class Venue(Protocol):
    name: str
    kind: str

    def read(self, account: str, block: Block) -> ReadStep[VenueState]:
        """Markets, positions, funding (with interval), mark/index prices, pending orders and margin."""
        ...

    def encode_order(self, account: str, intent: OrderIntent) -> list[TxRequest]:
        """Open, increase, decrease or close: one or more transactions (in order)."""
        ...

    def encode_collateral(self, account: str, amount: Decimal) -> list[TxRequest]:
        """Add (> 0) or withdraw (< 0) collateral, in collateral-token units."""
        ...

    def encode_cancel(self, account: str, order: PendingOrder) -> TxRequest: ...

    def approvals(self, account: str, intent: OrderIntent | None, collateral: Decimal) -> list[Approval]:
        """Allowances the encoded transactions rely on (the executor checks and grants them)."""
        ...


@runtime_checkable
class AsyncVenue(Venue, Protocol):
    """A venue whose orders are executed later by a keeper (GMX v2, Synthetix, PerpMarket's commits).
    `isinstance(venue, AsyncVenue)` tells one apart (it checks that the methods exist, not their types)."""

    def order_id_from_receipt(self, receipt: TxReceipt) -> str | None:
        """The venue's id of the order a mined transaction created (None if it created none)."""
        ...

    def order_outcome(self, order_id: str, from_block: int) -> OrderOutcome:
        """Whether a committed order was executed or cancelled (with the decoded reason), or is pending."""
        ...


@dataclass(frozen=True)
class OrderOutcome:
    status: str  # "pending" | "executed" | "cancelled"
    block_number: int | None = None
    reason: str | None = None


def to_units(value: Decimal, decimals: int, rounding: str = ROUND_DOWN) -> int:
    """A Decimal as an integer with `decimals` places, rounded as asked (never silently to nearest)."""
    return int(value.scaleb(decimals).to_integral_value(rounding=rounding))


def acceptable_units(price: Decimal, decimals: int, buying: bool) -> int:
    """A worst acceptable price in integer units, rounded to be stricter: down for a buy, up for a sell."""
    return to_units(price, decimals, ROUND_FLOOR if buying else ROUND_CEILING)


def from_units(raw: int, decimals: int) -> Decimal:
    return Decimal(raw).scaleb(-decimals)


ADAPTERS = {
    "reference": "hedger.venues.reference:ReferenceVenue",
    "gmx_v2": "hedger.venues.gmx_v2:GmxV2Venue",
    "hyperliquid": "hedger.venues.hyperliquid:HyperliquidVenue",
    "gtrade": "hedger.venues.gtrade:GTradeVenue",
}


def venue_for(chain: Chain | Web3, network: NetworkConfig, config: VenueConfig) -> Venue:
    """Instantiate the adapter a venue's `kind` names (adapters read through `chain.rpc`; only their
    execution-side methods touch `chain.w3`, which imports web3)."""
    target = ADAPTERS.get(config.kind)
    if target is None:
        raise ConfigError(
            config.file,
            f"venues.{config.name}.kind",
            f"unknown venue kind {config.kind!r}",
            f"use one of {sorted(ADAPTERS)}",
        )
    module_name, class_name = target.split(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)(chain, network, config)  # each venue takes a Chain or a Web3 (Chain.of)
