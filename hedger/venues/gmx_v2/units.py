"""GMX v2 units and money math: per-unit prices at 30 decimals, USD values, per-side funding per hour,
closing costs and liquidation prices.

Units on the wire: USD amounts (`sizeInUsd`, open interest, PnL, fees in USD) are USD × 1e30; a price
is the USD price of ONE SMALLEST UNIT of a token at 30 decimals, `usd × 10^(30 − tokenDecimals)`
(ETH at $5,000 is 5000e12, BTC at $60,000 is 60000e22, USDC at $1 is 1e24); token amounts are in the
token's own decimals; per-second factors are 1e30."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace

from hedger.model import SECONDS_PER_HOUR, ZERO
from hedger.venues.base import from_units

FLOAT_DECIMALS = 30  # GMX's Precision.FLOAT_PRECISION: USD amounts, prices and factors
NATIVE_DECIMALS = 18


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


def apply_factor(value: int, factor: int) -> int:
    """GMX's Precision.applyFactor: value × factor / 1e30 (rounded down)."""
    return value * factor // 10**FLOAT_DECIMALS


def min_collateral_factor_for_open_interest(min_collateral_factor: int, open_interest: int, multiplier: int) -> int:
    """The collateral factor GMX requires of an increase (PositionUtils.willPositionCollateralBeSufficient):
    the larger of the market's min collateral factor and open interest × the side's multiplier
    (MarketUtils.getMinCollateralFactorForOpenInterest), all 1e30."""
    return max(min_collateral_factor, apply_factor(open_interest, multiplier))


def pending_decrease_tokens(size_in_usd: int, size_in_tokens: int, size_delta_usd: int, is_long: bool) -> int:
    """Index-token units a decrease of `size_delta_usd` removes from a position (PositionUtils.getPositionPnlUsd):
    all of them for the whole size, else sizeInTokens × sizeDeltaUsd / sizeInUsd, rounded up for a long."""
    if size_delta_usd >= size_in_usd:
        return size_in_tokens
    numerator = size_in_tokens * size_delta_usd
    return -(-numerator // size_in_usd) if is_long else numerator // size_in_usd


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
    fee factor, the `MIN_COLLATERAL_USD` floor and the PnL cap are not read; costs are valued at the
    current prices. (The open-interest multiplier binds increases only, not liquidations.)"""
    if is_long:
        numerator = size_usd * (1 + liquidation_factor) + costs_usd - collateral.fixed_usd
        denominator = size_tokens + collateral.index_tokens
    else:
        numerator = size_usd * (1 - liquidation_factor) - costs_usd + collateral.fixed_usd
        denominator = size_tokens - collateral.index_tokens
    if denominator <= 0 or numerator <= 0:
        return None
    return numerator / denominator
