"""The Venue protocol: one file per venue implements it.

A venue reads everything about an account in one read step (see hedger.chain.multicall: at most two
rounds of batched calls, all at the snapshot's block), and encodes orders as transaction requests
for the execution layer. Venues never send anything themselves.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Protocol

from web3 import Web3

from hedger.chain.multicall import Block, ReadStep
from hedger.errors import ConfigError
from hedger.model import FundingRate, MarginAccount, Market, PendingOrder, Position
from hedger.settings import NetworkConfig, VenueConfig


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
    isolated collateral (GMX) the collateral to send with it, in collateral-token units."""

    market: Market
    size_delta: Decimal
    acceptable_price: Decimal
    reduce_only: bool = False
    collateral_delta: Decimal = Decimal(0)
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Approval:
    """An ERC-20 allowance an order needs before it can execute."""

    token: str
    spender: str
    amount: int


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
}


def venue_for(w3: Web3, network: NetworkConfig, config: VenueConfig) -> Venue:
    """Instantiate the adapter a venue's `kind` names."""
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
    return getattr(module, class_name)(w3, network, config)
