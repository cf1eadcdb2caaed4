"""An independent integer re-statement of docs/perp-market.md, to check PerpMarket to the wei.

Every division truncates toward zero, as Solidity's does on signed integers.
"""

from __future__ import annotations

WAD = 10**18


def tdiv(a: int, b: int) -> int:
    """Integer division truncating toward zero (Solidity semantics)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def funding_rate_per_hour(skew: int, skew_scale: int, max_rate_per_hour: int) -> int:
    proportion = max(-WAD, min(WAD, tdiv(skew * WAD, skew_scale)))
    return tdiv(proportion * max_rate_per_hour, WAD)


def funding_index_delta(rate_per_hour: int, price: int, elapsed_s: int) -> int:
    return tdiv(rate_per_hour * price * elapsed_s, 3600 * WAD)


def funding_owed(size: int, index_delta: int) -> int:
    return tdiv(size * index_delta, WAD)


def fill_price(price: int, skew: int, size_delta: int, skew_scale: int) -> int:
    premium = tdiv((2 * skew + size_delta) * WAD, 2 * skew_scale)
    return tdiv(price * (WAD + premium), WAD)


def trading_fee(size_delta: int, fill: int, fee_ratio: int) -> int:
    return abs(size_delta) * fill // WAD * fee_ratio // WAD


def settle_tokens(usd: int, margin_scale: int) -> int:
    """Token units moved into the margin (negative: out of it), rounded in the pool's favour."""
    return usd // margin_scale if usd >= 0 else -((-usd + margin_scale - 1) // margin_scale)


def position_value(size: int, cost_basis: int, price: int) -> int:
    """Unrealized PnL of a position at an oracle price (USD WAD)."""
    return tdiv(size * price, WAD) - cost_basis


def requirement(size: int, price: int, ratio: int) -> int:
    return abs(size) * price // WAD * ratio // WAD
