"""Snapshots for strategy tests: a healthy account by default, every part replaceable.

Default: the wallet holds 10 ETH and 50 000 USDC; the `ref` venue has an ETH market where the account is
short 10 ETH (fully hedged) with 20 000 USD of equity; ETH is 3000 on two agreeing feeds, USDC 1; funding
is slightly positive (shorts earn); the sequencer has been up for a day.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from hedger.model import (
    Balance,
    Exposure,
    FundingRate,
    MarginAccount,
    MarginMode,
    Market,
    OracleReading,
    PendingOrder,
    Position,
    SequencerStatus,
    Side,
    Snapshot,
    Source,
)
from hedger.wallet import exposures

NOW = 1_700_000_000
FEED_DECIMALS = 8


def source(address: str = "0xsource") -> Source:
    return Source(address, 1000, NOW)


def reading(
    asset: str = "ETH",
    price: D | str | int = 3000,
    *,
    role: str = "primary",
    age_s: int = 60,
    heartbeat_s: int = 3600,
    previous: D | str | int | None = None,
    **fields,
) -> OracleReading:
    """A feed reading with 8 decimals; `previous` defaults to the same price."""
    answer = int(D(price).scaleb(FEED_DECIMALS))
    previous_answer = answer if previous is None else int(D(previous).scaleb(FEED_DECIMALS))
    values = dict(
        feed=f"{asset}/USD" + ("-2" if role == "secondary" else ""),
        asset=asset,
        source=source(f"0x{asset}{role}"),
        decimals=FEED_DECIMALS,
        heartbeat_s=heartbeat_s,
        min_price=D("0.01"),
        max_price=D(10_000_000),
        role=role,
        answer=answer,
        round_id=100,
        started_at=NOW - age_s,
        updated_at=NOW - age_s,
        previous_answer=previous_answer,
        previous_updated_at=NOW - age_s - heartbeat_s,
    )
    values.update(fields)
    return OracleReading(**values)


def market(asset: str = "ETH", venue: str = "ref", **fields) -> Market:
    values = dict(
        venue=venue,
        symbol=asset,
        asset=asset,
        market_id="1",
        initial_margin_ratio=D("0.1"),
        maintenance_margin_ratio=D("0.05"),
        taker_fee=D("0.0005"),
        min_size=D("0.001"),
        size_step=D("0.001"),
    )
    values.update(fields)
    return Market(**values)


def funding(m: Market, rate: D | str | None = "0.00001", mark: D | str | None = None, **fields) -> FundingRate:
    values = dict(
        venue=m.venue,
        symbol=m.symbol,
        rate=None if rate is None else D(rate),
        interval_s=3600,
        source=source(),
        mark_price=None if mark is None else D(mark),
    )
    values.update(fields)
    return FundingRate(**values)


def position(m: Market, size: D | str | int, price: D | str | int = 3000) -> Position:
    size = D(size)
    return Position(
        venue=m.venue,
        symbol=m.symbol,
        asset=m.asset,
        side=Side.of(size),
        contracts=abs(size),
        entry_price=D(price),
        mark_price=D(price),
        unrealized_pnl_usd=D(0),
        source=source(),
    )


def margin(venue: str = "ref", equity: D | str | int = 20_000, notional: D | str | int = 30_000, **fields):
    notional = D(notional)
    values = dict(
        venue=venue,
        collateral_token="USDC",
        collateral=D(equity),
        equity_usd=D(equity),
        initial_requirement_usd=notional * D("0.1"),
        maintenance_requirement_usd=notional * D("0.05"),
        notional_usd=notional,
        source=source(),
    )
    values.update(fields)
    return MarginAccount(**values)


def balance(token: str, amount: D | str | int, decimals: int = 18, stablecoin: bool = False) -> Balance:
    asset = {"WETH": "ETH", "WBTC": "BTC"}.get(token, token)
    raw = int(D(amount).scaleb(decimals))
    return Balance(token, asset, raw, decimals, source(), f"0x{token}", stablecoin)


def sequencer(up: bool = True, since_s: int = 86_400, grace_period_s: int = 3600, **fields) -> SequencerStatus:
    values = dict(
        source=source("0xseq"), grace_period_s=grace_period_s, answer=0 if up else 1, started_at=NOW - since_s
    )
    values.update(fields)
    return SequencerStatus(**values)


def pending(m: Market, size: D | str, age_s: int, order_id: str = "7") -> PendingOrder:
    return PendingOrder(m.venue, m.symbol, order_id, D(size), D(3000), NOW - age_s, source())


ETH = market()


def snapshot(
    *,
    eth: D | str | int = 10,
    usdc: D | str | int = 50_000,
    hedge: D | str | int | None = -10,
    oracles: tuple[OracleReading, ...] | None = None,
    markets: tuple[Market, ...] = (ETH,),
    funding_rates: tuple[FundingRate, ...] | None = None,
    positions: tuple[Position, ...] | None = None,
    margins: tuple[MarginAccount, ...] | None = None,
    **fields,
) -> Snapshot:
    balances = (balance("WETH", eth), balance("USDC", usdc, 6, stablecoin=True))
    if positions is None:
        positions = () if hedge in (None, 0) else (position(ETH, hedge),)
    if oracles is None:
        oracles = (reading("ETH"), reading("ETH", role="secondary"), reading("USDC", 1, heartbeat_s=86_400))
    values = dict(
        network="test",
        chain_id=31337,
        account="0xaccount",
        block_number=1000,
        block_timestamp=NOW,
        balances=balances,
        markets=markets,
        positions=positions,
        funding=funding_rates if funding_rates is not None else tuple(funding(m) for m in markets),
        oracles=oracles,
        sequencer=sequencer(),
        margins=margins if margins is not None else (margin(),),
        exposures=exposures(balances, positions, oracles),
    )
    values.update(fields)
    return Snapshot(**values)


# --- isolated margin (GMX v2-like): collateral per position, no venue account -----------------------------------


def isolated_market(asset: str = "ETH", venue: str = "gmx", **fields) -> Market:
    """An isolated-margin market: 1% initial (100× max), 0.5% liquidation factor, USDC collateral."""
    values = dict(
        initial_margin_ratio=D("0.01"),
        maintenance_margin_ratio=D("0.005"),
        taker_fee=D("0.0007"),
        margin_mode=MarginMode.ISOLATED,
        collateral_token="USDC",
    )
    values.update(fields)
    return market(asset, venue, **values)


def isolated_position(
    m: Market,
    size: D | str | int,
    collateral: D | str | int,
    *,
    entry: D | str | int = 3000,
    mark: D | str | int = 3000,
    costs: D | str | int = 0,
    pnl: D | str | int | None = None,
) -> Position:
    """A position with its own USDC collateral; PnL from entry and mark unless given; maintenance =
    size at entry × the market's liquidation factor (GMX: sizeInUsd × factor)."""
    size, entry, mark = D(size), D(entry), D(mark)
    pnl = size * (mark - entry) if pnl is None else D(pnl)
    return replace(
        position(m, size, entry),
        mark_price=mark,
        unrealized_pnl_usd=pnl,
        collateral_usd=D(collateral),
        maintenance_margin_usd=abs(size) * entry * m.maintenance_margin_ratio,
        collateral_token="USDC",
        collateral_amount=D(collateral),
        closing_costs_usd=D(costs),
        extra={"margin_mode": "isolated"},
    )


GMX_ETH = isolated_market()


def isolated_snapshot(*, positions: tuple[Position, ...] = (), markets: tuple[Market, ...] = (GMX_ETH,), **fields):
    """The default wallet (10 ETH, 50 000 USDC) against isolated markets only: no venue margin account."""
    return snapshot(hedge=None, positions=positions, markets=markets, margins=(), **fields)


def with_oracle(snap: Snapshot, new: OracleReading) -> Snapshot:
    """The snapshot with one feed (same asset and role) replaced."""
    kept = tuple(o for o in snap.oracles if (o.asset, o.role) != (new.asset, new.role))
    return replace(snap, oracles=(*kept, new))


def exposure(asset: str, spot: D | str | int, perp: D | str | int = 0, price: D | str | None = "3000") -> Exposure:
    return Exposure(asset, D(spot), D(perp), None if price is None else D(price))
