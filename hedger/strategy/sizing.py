"""Sizing: from exposure × ratio to a target position per market, within every cap.

Sign: a hedge is a perp position opposite the spot. Holding +10 ETH at ratio 1 targets −10 ETH of perp.
A ratio is value-for-value (see ratio/); hedging asset A with the perp of asset B targets
−ratio × spot_A × price_A / price_B units of B (same asset: −ratio × spot, no price needed).

Everything here is Decimal and pure. Each step that changes a size says so with a `Reason`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from hedger.model import ZERO, Exposure, FundingRate, Market, Reason, Side
from hedger.strategy.parameters import SizingSettings

HedgeRatio = Decimal | Mapping[str, Decimal]
"""A held asset's ratio on its hedge asset's perp, or a basket row: perp asset → ratio."""


def hedge_routes(asset: str, ratio: HedgeRatio | None, settings: SizingSettings) -> dict[str, Decimal]:
    """Perp asset → ratio for one held asset: an explicit basket row, else one route to the asset's own perp
    (or `hedge_with[asset]`) at the given ratio or `default_ratio`."""
    if isinstance(ratio, Mapping):
        return dict(ratio)
    return {settings.hedge_with.get(asset, asset): settings.default_ratio if ratio is None else ratio}


@dataclass(frozen=True)
class Targets:
    """Target signed perp units per perp asset, which held assets feed each, and what could not be sized."""

    units: Mapping[str, Decimal]
    contributors: Mapping[str, frozenset[str]]
    unsized: Mapping[str, Reason]


def target_units(
    exposures: Iterable[Exposure],
    ratios: Mapping[str, HedgeRatio],
    prices: Mapping[str, Decimal | None],
    settings: SizingSettings,
    unhedged: frozenset[str] = frozenset(),
) -> Targets:
    """Sum every held asset's hedge into targets per perp asset. Assets in `unhedged` (stablecoins) are
    skipped unless `ratios` names them. An asset holding a perp position and no spot targets 0 (unwind).
    A cross hedge whose prices are unknown leaves its perp asset unsized (no target, nothing traded)."""
    units: dict[str, Decimal] = defaultdict(Decimal)
    contributors: dict[str, set[str]] = defaultdict(set)
    unsized: dict[str, Reason] = {}
    for exposure in exposures:
        if exposure.perp != 0:
            units[exposure.asset] += ZERO
        if exposure.spot == 0 or (exposure.asset in unhedged and exposure.asset not in ratios):
            continue
        for perp_asset, ratio in hedge_routes(exposure.asset, ratios.get(exposure.asset), settings).items():
            contributors[perp_asset].add(exposure.asset)
            conversion = _conversion(exposure.asset, perp_asset, prices)
            if conversion is None:
                unsized[perp_asset] = Reason(
                    "target_unpriced",
                    f"cannot size the {perp_asset} hedge of {exposure.asset}: no trusted price",
                    {"asset": exposure.asset, "perp_asset": perp_asset},
                )
                continue
            units[perp_asset] -= ratio * exposure.spot * conversion
    sized = {asset: size for asset, size in units.items() if asset not in unsized}
    return Targets(sized, {a: frozenset(c) for a, c in contributors.items()}, unsized)


def _conversion(asset: str, perp_asset: str, prices: Mapping[str, Decimal | None]) -> Decimal | None:
    if asset == perp_asset:
        return Decimal(1)
    spot_price, perp_price = prices.get(asset), prices.get(perp_asset)
    if not spot_price or not perp_price:
        return None
    return spot_price / perp_price


# --- Venue choice by net carry --------------------------------------------------------------------


@dataclass(frozen=True)
class CarryQuote:
    """What holding the hedge on one market costs over the horizon, as a fraction of notional.

    `paid_per_hour` is funding plus borrowing the hedge side pays per hour (negative: it earns), converted
    from the venue's native interval; `entry_fee_rel` is the taker fee of moving the hedge there (0 on the
    market that already holds it). Unknown funding makes the cost unknown: such a market ranks last.
    """

    market: Market
    side: Side
    paid_per_hour: Decimal | None
    entry_fee_rel: Decimal
    horizon_h: Decimal
    rate: Decimal | None
    interval_s: int | None

    @property
    def cost_rel(self) -> Decimal | None:
        if self.paid_per_hour is None:
            return None
        return self.paid_per_hour * self.horizon_h + self.entry_fee_rel

    @property
    def values(self) -> dict:
        return {
            "market": self.market.key,
            "side": self.side.value,
            "funding_rate": self.rate,
            "funding_interval_s": self.interval_s,
            "paid_per_hour": self.paid_per_hour,
            "entry_fee_rel": self.entry_fee_rel,
            "horizon_h": self.horizon_h,
            "cost_rel": self.cost_rel,
            "sign_convention": "positive paid_per_hour: the hedge pays",
        }


def carry_quote(
    market: Market, funding: FundingRate | None, side: Side, horizon_h: Decimal, incumbent: bool
) -> CarryQuote:
    return CarryQuote(
        market=market,
        side=side,
        paid_per_hour=funding.paid_per_hour(side) if funding is not None and funding.known else None,
        entry_fee_rel=ZERO if incumbent else market.taker_fee,
        horizon_h=horizon_h,
        rate=funding.rate if funding is not None else None,
        interval_s=funding.interval_s if funding is not None else None,
    )


def cheapest(quotes: Iterable[CarryQuote]) -> CarryQuote:
    """The quote with the lowest known cost (ties: by market key, for a stable choice)."""
    return min(quotes, key=lambda q: (q.cost_rel is None, q.cost_rel or ZERO, q.market.key))


def within_carry_budget(
    target: Decimal, quote: CarryQuote, budget_rel: Decimal | None
) -> tuple[Decimal, Reason | None]:
    """Funding-aware sizing: when the expected carry cost over the horizon exceeds the budget (a fraction
    of notional), shrink the hedge so the cost equals the budget. Shrinks toward zero, never flips."""
    if budget_rel is None or quote.paid_per_hour is None or target == 0:
        return target, None
    cost_rel = quote.paid_per_hour * quote.horizon_h
    if cost_rel <= budget_rel:
        return target, None
    scaled = target * budget_rel / cost_rel
    values = {**quote.values, "budget_rel": budget_rel, "target_before": target, "target": scaled}
    return scaled, Reason("carry_over_budget", f"{quote.market.key}: carry cost above budget, hedge shrunk", values)


# --- Caps ------------------------------------------------------------------------------------------------


def cap_notional(target: Decimal, price: Decimal, max_notional_usd: Decimal) -> tuple[Decimal, Reason | None]:
    """|target| × price ≤ max_notional_usd."""
    if abs(target) * price <= max_notional_usd:
        return target, None
    capped = (max_notional_usd / price).copy_sign(target)
    values = {"target_before": target, "target": capped, "price": price, "max_notional_usd": max_notional_usd}
    return capped, Reason("capped_by_max_notional", "target capped at the per-market maximum notional", values)


def growth(current: Decimal, target: Decimal) -> Decimal:
    """How much of a move from `current` to `target` grows the position (the opening leg of a flip)."""
    if current == 0 or (current > 0) != (target > 0):
        return abs(target)
    return max(abs(target) - abs(current), ZERO)


def cap_growth(
    current: Decimal, target: Decimal, price: Decimal, capacity_usd: Decimal
) -> tuple[Decimal, Decimal, Reason | None]:
    """Limit the growing part of a move to `capacity_usd` of notional; returns (target, growth_usd, reason)."""
    grow = growth(current, target)
    allowed = max(capacity_usd, ZERO) / price
    if grow <= allowed:
        return target, grow * price, None
    base = ZERO if current == 0 or (current > 0) != (target > 0) else abs(current)
    capped = (base + allowed).copy_sign(target)
    values = {"target_before": target, "target": capped, "capacity_usd": capacity_usd, "price": price}
    return capped, allowed * price, Reason("capped_by_leverage", "growth capped by margin and maximum leverage", values)


def leverage_capacity_usd(
    equity_usd: Decimal,
    notional_usd: Decimal,
    initial_requirement_usd: Decimal,
    initial_margin_ratio: Decimal,
    max_leverage: Decimal,
) -> Decimal:
    """Notional an account can still add: within `max_leverage` and within the venue's initial margin."""
    by_leverage = equity_usd * max_leverage - notional_usd
    by_margin = (
        (equity_usd - initial_requirement_usd) / initial_margin_ratio if initial_margin_ratio > 0 else by_leverage
    )
    return max(min(by_leverage, by_margin), ZERO)


def toward_zero(size: Decimal, step: Decimal) -> Decimal:
    """`size` rounded toward zero to a multiple of the venue's size step (so no cap is exceeded)."""
    if not step:
        return size
    return (size / step).to_integral_value(rounding=ROUND_DOWN) * step
