"""hedger's data model: frozen dataclasses that flow one way, from the chain to the plan.

Conventions
- Amounts and prices are `Decimal` (exact), converted from on-chain integers at the read boundary;
  the raw integer and its decimals are kept where a value came straight from a contract.
- Sizes are in base units of the asset (ETH, BTC); signed sizes are > 0 long, < 0 short.
- USD values are suffixed `_usd`; times are unix seconds; durations end in `_s`.
- Funding always travels with its interval and its sign convention: positive means longs pay shorts.
- Field names follow ccxt's unified structures where one exists (contracts, notional, entryPrice →
  entry_price, markPrice → mark_price, liquidationPrice → liquidation_price, …).
- Every reading says where and when it came from (`Source`).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

HOURS_PER_YEAR = 8760
SECONDS_PER_HOUR = 3600
FUNDING_SIGN_CONVENTION = "positive: longs pay shorts"
ZERO = Decimal(0)


class Side(enum.StrEnum):
    LONG = "long"
    SHORT = "short"

    @classmethod
    def of(cls, signed_size: Decimal) -> Side:
        return cls.LONG if signed_size >= 0 else cls.SHORT


class MarginMode(enum.StrEnum):
    """How a market's positions are margined (ccxt's marginMode).

    - cross: one account per venue backs every position there (hedger's PerpMarket, Hyperliquid):
      collateral is deposited to the account, and liquidation is judged on the account (`MarginAccount`);
    - isolated: each position has its own collateral (GMX v2: per market, collateral token and side):
      collateral travels with the order that increases the position, and liquidation is judged per position.
    """

    CROSS = "cross"
    ISOLATED = "isolated"


@dataclass(frozen=True)
class Source:
    """Where and when a value was read: the contract (or API) and the block."""

    address: str
    block_number: int
    block_timestamp: int


@dataclass(frozen=True)
class Market:
    """A perp market on a venue, with the static facts sizing needs."""

    venue: str
    symbol: str
    asset: str
    market_id: str
    initial_margin_ratio: Decimal
    maintenance_margin_ratio: Decimal
    taker_fee: Decimal
    min_size: Decimal = ZERO
    size_step: Decimal = ZERO
    min_notional_usd: Decimal = ZERO
    max_open_interest: Decimal | None = None
    async_orders: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    margin_mode: MarginMode = MarginMode.CROSS
    collateral_token: str | None = None  # isolated: the token (symbol) new positions are collateralised in

    @property
    def key(self) -> str:
        return f"{self.venue}:{self.symbol}"

    @property
    def max_leverage(self) -> Decimal:
        return 1 / self.initial_margin_ratio

    def taker_fee_for(self, size_delta_usd: Decimal) -> Decimal:
        """The fee rate of an order moving `size_delta_usd` of notional (> 0 buys, < 0 sells). A venue whose
        fee depends on the open-interest balance (GMX v2) puts `taker_fee_balance_improved` and both sides'
        open interest in `extra`: an order that narrows |long − short| pays that lower rate, any other pays
        `taker_fee`. Without those, `taker_fee`."""
        improved = self.extra.get("taker_fee_balance_improved")
        longs, shorts = self.extra.get("open_interest_long_usd"), self.extra.get("open_interest_short_usd")
        if improved is None or longs is None or shorts is None:
            return self.taker_fee
        return improved if abs(longs - shorts + size_delta_usd) < abs(longs - shorts) else self.taker_fee


@dataclass(frozen=True)
class FundingRate:
    """Funding of one market. `rate` is over the venue's native `interval_s`; positive: longs pay.

    `short_rate` is what shorts pay over the same interval when the venue's sides are asymmetric
    (GMX v2: the smaller side receives the larger side's payment spread over less open interest);
    None means symmetric (shorts pay `-rate`). `rate` None means funding is unknown (e.g. Hyperliquid
    on HyperEVM without a funding source). Borrowing, where the venue charges it, is per hour.
    """

    venue: str
    symbol: str
    rate: Decimal | None
    interval_s: int
    source: Source
    short_rate: Decimal | None = None
    borrowing_long_per_hour: Decimal = ZERO
    borrowing_short_per_hour: Decimal = ZERO
    mark_price: Decimal | None = None
    index_price: Decimal | None = None
    sign_convention: str = FUNDING_SIGN_CONVENTION

    @property
    def known(self) -> bool:
        return self.rate is not None

    @property
    def per_hour(self) -> Decimal | None:
        """What longs pay per hour, as a fraction of notional."""
        return None if self.rate is None else self.rate * SECONDS_PER_HOUR / self.interval_s

    @property
    def annualized(self) -> Decimal | None:
        per_hour = self.per_hour
        return None if per_hour is None else per_hour * HOURS_PER_YEAR

    def paid_per_hour(self, side: Side) -> Decimal | None:
        """Funding plus borrowing a position on `side` pays per hour (negative: it receives)."""
        if self.rate is None:
            return None
        if side is Side.LONG:
            return self.rate * SECONDS_PER_HOUR / self.interval_s + self.borrowing_long_per_hour
        short = -self.rate if self.short_rate is None else self.short_rate
        return short * SECONDS_PER_HOUR / self.interval_s + self.borrowing_short_per_hour


@dataclass(frozen=True)
class OracleReading:
    """One Chainlink-style feed read at one block, with its configuration, not yet judged.

    A failed reading (the call reverted or returned garbage) has `error` set and no values.
    `previous_*` describe the round before `round_id` when it could be read (for jump checks);
    `previous_note` says why they are unknown when they were not read. Round ids of a Chainlink proxy
    are phase-aware, `phaseId << 64 | aggregatorRoundId`; `answered_in_round` is reported as read
    (deprecated by Chainlink: not judged).
    """

    feed: str
    asset: str
    source: Source
    decimals: int
    heartbeat_s: int
    min_price: Decimal
    max_price: Decimal
    role: str = "primary"
    answer: int | None = None
    round_id: int | None = None
    started_at: int | None = None
    updated_at: int | None = None
    previous_answer: int | None = None
    previous_updated_at: int | None = None
    error: str | None = None
    answered_in_round: int | None = None
    previous_note: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.answer is not None

    @property
    def price(self) -> Decimal | None:
        return None if self.answer is None else Decimal(self.answer).scaleb(-self.decimals)

    @property
    def previous_price(self) -> Decimal | None:
        return None if self.previous_answer is None else Decimal(self.previous_answer).scaleb(-self.decimals)

    @property
    def age_s(self) -> int | None:
        return None if self.updated_at is None else self.source.block_timestamp - self.updated_at


@dataclass(frozen=True)
class SequencerStatus:
    """An L2 sequencer uptime feed: answer 0 up, 1 down; `started_at` is when the status changed."""

    source: Source
    grace_period_s: int
    answer: int | None = None
    started_at: int | None = None
    error: str | None = None

    @property
    def up(self) -> bool | None:
        return None if self.answer is None else self.answer == 0

    @property
    def since_change_s(self) -> int | None:
        return None if self.started_at is None else self.source.block_timestamp - self.started_at


@dataclass(frozen=True)
class Balance:
    """A wallet balance: the native coin (`token_address` None) or an ERC-20."""

    token: str
    asset: str
    raw: int
    decimals: int
    source: Source
    token_address: str | None = None
    stablecoin: bool = False
    mismatch: str | None = None  # why the token on chain disagrees with the network file (decimals, symbol)

    @property
    def amount(self) -> Decimal:
        return Decimal(self.raw).scaleb(-self.decimals)


@dataclass(frozen=True)
class Position:
    """An open perp position, ccxt-aligned, plus venue extras. `mark_price` and `unrealized_pnl_usd`
    are None when the venue could not price it (e.g. its oracle is stale); the size is always known.

    Isolated margin (the market's `margin_mode`): `collateral_usd` is the position's own collateral at
    its feed price, `collateral_amount` the same in `collateral_token` units, and `closing_costs_usd`
    what closing it now would take out of that collateral besides the PnL (fees accrued and unpaid, and
    the closing fee). Cross margin: `collateral_usd` is the account's equity; the other three are unset.
    """

    venue: str
    symbol: str
    asset: str
    side: Side
    contracts: Decimal
    entry_price: Decimal
    mark_price: Decimal | None
    unrealized_pnl_usd: Decimal | None
    source: Source
    collateral_usd: Decimal | None = None
    liquidation_price: Decimal | None = None
    accrued_funding_usd: Decimal = ZERO
    maintenance_margin_usd: Decimal | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    collateral_token: str | None = None
    collateral_amount: Decimal | None = None
    closing_costs_usd: Decimal = ZERO

    @property
    def signed_size(self) -> Decimal:
        return self.contracts if self.side is Side.LONG else -self.contracts

    @property
    def notional_usd(self) -> Decimal | None:
        return None if self.mark_price is None else self.contracts * self.mark_price

    @property
    def leverage(self) -> Decimal | None:
        notional = self.notional_usd
        if notional is None or not self.collateral_usd or self.collateral_usd <= 0:
            return None
        return notional / self.collateral_usd


@dataclass(frozen=True)
class MarginAccount:
    """Margin of an account on a venue (cross margin: one per venue; isolated venues sum positions)."""

    venue: str
    collateral_token: str
    collateral: Decimal
    equity_usd: Decimal
    initial_requirement_usd: Decimal
    maintenance_requirement_usd: Decimal
    notional_usd: Decimal
    source: Source

    @property
    def liquidation_buffer(self) -> Decimal | None:
        """Equity over maintenance requirement (≤ 1 is liquidatable); None with no positions."""
        if self.maintenance_requirement_usd <= 0:
            return None
        return self.equity_usd / self.maintenance_requirement_usd

    @property
    def leverage(self) -> Decimal | None:
        return None if self.equity_usd <= 0 else self.notional_usd / self.equity_usd


@dataclass(frozen=True)
class PendingOrder:
    """An order committed to an asynchronous venue and not yet executed or cancelled. `collateral_delta`
    is the collateral it moves on an isolated-margin venue, in collateral-token units (> 0 in, < 0 out)."""

    venue: str
    symbol: str
    order_id: str
    size_delta: Decimal
    acceptable_price: Decimal | None
    created_at: int
    source: Source
    ready_at: int | None = None
    expires_at: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    collateral_delta: Decimal = ZERO

    def expired(self, now: int) -> bool:
        return self.expires_at is not None and now > self.expires_at


@dataclass(frozen=True)
class Exposure:
    """Net exposure to one asset: what the wallet holds, minus what the perps offset."""

    asset: str
    spot: Decimal
    perp: Decimal
    price: Decimal | None

    @property
    def net(self) -> Decimal:
        return self.spot + self.perp

    @property
    def net_usd(self) -> Decimal | None:
        return None if self.price is None else self.net * self.price

    @property
    def spot_usd(self) -> Decimal | None:
        return None if self.price is None else self.spot * self.price

    @property
    def hedge_ratio(self) -> Decimal | None:
        """Perp offset per unit held: 1 is fully hedged, 0 unhedged."""
        return None if self.spot == 0 else -self.perp / self.spot


@dataclass(frozen=True)
class Snapshot:
    """Everything hedger knows about an account at one block. Immutable."""

    network: str
    chain_id: int
    account: str
    block_number: int
    block_timestamp: int
    balances: tuple[Balance, ...] = ()
    markets: tuple[Market, ...] = ()
    positions: tuple[Position, ...] = ()
    funding: tuple[FundingRate, ...] = ()
    oracles: tuple[OracleReading, ...] = ()
    sequencer: SequencerStatus | None = None
    pending_orders: tuple[PendingOrder, ...] = ()
    margins: tuple[MarginAccount, ...] = ()
    exposures: tuple[Exposure, ...] = ()
    rpc_round_trips: int = 0

    def oracle(self, asset: str, role: str = "primary") -> OracleReading | None:
        return next((o for o in self.oracles if o.asset == asset and o.role == role), None)

    def market(self, venue: str, symbol: str) -> Market | None:
        return next((m for m in self.markets if m.venue == venue and m.symbol == symbol), None)

    def funding_of(self, venue: str, symbol: str) -> FundingRate | None:
        return next((f for f in self.funding if f.venue == venue and f.symbol == symbol), None)

    def position(self, venue: str, symbol: str) -> Position | None:
        return next((p for p in self.positions if p.venue == venue and p.symbol == symbol), None)

    def margin(self, venue: str) -> MarginAccount | None:
        return next((m for m in self.margins if m.venue == venue), None)

    def exposure(self, asset: str) -> Exposure | None:
        return next((e for e in self.exposures if e.asset == asset), None)

    def pending(self, venue: str, symbol: str) -> tuple[PendingOrder, ...]:
        return tuple(o for o in self.pending_orders if o.venue == venue and o.symbol == symbol)


class ActionKind(enum.StrEnum):
    OPEN = "open"
    INCREASE = "increase"
    DECREASE = "decrease"
    CLOSE = "close"
    ADD_COLLATERAL = "add_collateral"
    WITHDRAW_COLLATERAL = "withdraw_collateral"
    CANCEL_ORDER = "cancel_order"


class Verdict(enum.StrEnum):
    """What the guards allow: everything, only risk-reducing actions, or nothing at all."""

    ALLOW = "allow"
    REDUCE_ONLY = "reduce_only"
    HALT = "halt"


@dataclass(frozen=True)
class Reason:
    """Why something was decided: a stable code, a sentence, and the numbers behind it."""

    code: str
    message: str
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    """One thing to do on a venue. `size_delta` is signed base units; `collateral_delta` is in
    collateral-token units; `acceptable_price` bounds the fill.

    Cross margin: ADD_COLLATERAL / WITHDRAW_COLLATERAL move collateral between the wallet and the venue
    account (`symbol` is the token). Isolated margin: `symbol` is the market, and ADD_COLLATERAL is an
    order of size 0 that adds `collateral_delta` to the position there; an OPEN or INCREASE carries the
    collateral of the size it adds in `collateral_delta`."""

    kind: ActionKind
    venue: str
    symbol: str
    reason: Reason
    size_delta: Decimal = ZERO
    collateral_delta: Decimal = ZERO
    acceptable_price: Decimal | None = None
    order_id: str | None = None

    @property
    def reduces_risk(self) -> bool:
        return self.kind in (ActionKind.DECREASE, ActionKind.CLOSE, ActionKind.ADD_COLLATERAL, ActionKind.CANCEL_ORDER)


@dataclass(frozen=True)
class Plan:
    """The actions to take, each with its reason, or none and the reasons why not."""

    network: str
    account: str
    block_number: int
    block_timestamp: int
    verdict: Verdict
    actions: tuple[Action, ...] = ()
    reasons: tuple[Reason, ...] = ()

    @property
    def halted(self) -> bool:
        return self.verdict is Verdict.HALT

    def to_json(self) -> dict[str, Any]:
        return to_jsonable(self)


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums and Decimals as plain JSON values (Decimals as strings: exact)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in _json_properties(type(value)):
            out[name] = to_jsonable(getattr(value, name))
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


_JSON_PROPERTIES: dict[type, tuple[str, ...]] = {}


def _json_properties(cls: type) -> tuple[str, ...]:
    """Derived values worth showing in JSON (per-hour and annualised funding, notional, …)."""
    if cls not in _JSON_PROPERTIES:
        _JSON_PROPERTIES[cls] = tuple(
            name
            for name, member in vars(cls).items()
            if isinstance(member, property) and not name.startswith("_") and name != "key"
        )
    return _JSON_PROPERTIES[cls]
