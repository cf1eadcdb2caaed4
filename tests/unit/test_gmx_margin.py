"""GMX v2 liquidation price and closing costs (hedger.venues.gmx_v2), checked against GMX's liquidation rule:
remaining collateral = collateral + PnL − costs reaches sizeInUsd × the liquidation factor."""

from __future__ import annotations

from decimal import Decimal as D
from types import SimpleNamespace

from hedger.venues.gmx_v2 import CollateralBacking, closing_costs_usd, liquidation_price

SIZE_USD, TOKENS, FACTOR = D(30_000), D(10), D("0.005")  # 10 ETH entered at $3,000, liquidated at 0.5%


def remaining_over_requirement(is_long: bool, price: D, backing: CollateralBacking, costs: D) -> D:
    pnl = TOKENS * price - SIZE_USD if is_long else SIZE_USD - TOKENS * price
    return backing.fixed_usd + backing.index_tokens * price + pnl - costs - SIZE_USD * FACTOR


def test_a_usdc_short_is_liquidated_where_its_remaining_collateral_meets_the_factor():
    backing = CollateralBacking(D(250), D(0))
    price = liquidation_price(False, SIZE_USD, TOKENS, backing, D(21), FACTOR)
    assert price == D("3007.9")  # (30 000 × 0.995 − 21 + 250) / 10
    assert remaining_over_requirement(False, price, backing, D(21)) == 0


def test_a_usdc_long_falls_to_its_liquidation_price():
    backing = CollateralBacking(D(3000), D(0))
    price = liquidation_price(True, SIZE_USD, TOKENS, backing, D(21), FACTOR)
    assert price == D("2717.1")  # (30 000 × 1.005 + 21 − 3000) / 10
    assert remaining_over_requirement(True, price, backing, D(21)) == 0


def test_collateral_in_the_index_token_moves_with_the_price():
    backing = CollateralBacking(D(0), D(1))  # 1 WETH behind a 10 ETH long
    price = liquidation_price(True, SIZE_USD, TOKENS, backing, D(21), FACTOR)
    assert price == D(30_171) / 11
    assert abs(remaining_over_requirement(True, price, backing, D(21))) < D("1e-20")


def test_no_price_liquidates_a_fully_backed_position():
    assert liquidation_price(False, SIZE_USD, TOKENS, CollateralBacking(D(0), D(10)), D(21), FACTOR) is None
    assert liquidation_price(True, SIZE_USD, TOKENS, CollateralBacking(D(31_000), D(0)), D(21), FACTOR) is None


def test_closing_costs_are_pending_borrowing_funding_owed_and_the_closing_fee():
    float_ = 10**30
    info = SimpleNamespace(
        fees=SimpleNamespace(
            borrowing=SimpleNamespace(borrowingFeeUsd=325 * float_ // 100),  # $3.25
            funding=SimpleNamespace(fundingFeeAmount=12_500_000),  # 12.5 USDC owed
            collateralTokenPrice=SimpleNamespace(min=10**24, max=10**24),  # $1 per USDC, per unit at 30 decimals
        )
    )
    assert closing_costs_usd(info, SIZE_USD, D("0.0007")) == D("3.25") + D("12.5") + D(21)
    assert closing_costs_usd(None, SIZE_USD, D("0.0007")) == D(21)
