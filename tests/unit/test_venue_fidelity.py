"""Pure rules behind the venue-fidelity points (docs/venues.md, fidelity table): GMX's pending-decrease size,
initial margin with the open-interest multiplier and the balance-dependent fee, Chainlink's phase-aware
round ids. Examples worked by hand, and the invariants as properties."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from hedger.model import Market
from hedger.oracles.chainlink import aggregator_round_id, phase_id
from hedger.venues.gmx_v2.units import min_collateral_factor_for_open_interest, pending_decrease_tokens

FLOAT = 10**30
FAST = settings(max_examples=200, deadline=None)


def gmx_market(**extra) -> Market:
    return Market("gmx", "ETH", "ETH", "0x", Decimal("0.01"), Decimal("0.005"), Decimal("0.0007"), extra=extra)


def test_a_decrease_removes_the_positions_own_proportion_rounded_up_for_longs():
    # 10 ETH for $52,000: a $20,800 decrease removes 4 ETH exactly, whatever the price now
    assert pending_decrease_tokens(52_000 * FLOAT, 10 * 10**18, 20_800 * FLOAT, is_long=False) == 4 * 10**18
    # 3 units for $10: $1 removes 0.3 units, rounded up for a long (GMX's roundUpDivision), down for a short
    assert pending_decrease_tokens(10 * FLOAT, 3, 1 * FLOAT, is_long=True) == 1
    assert pending_decrease_tokens(10 * FLOAT, 3, 1 * FLOAT, is_long=False) == 0
    assert pending_decrease_tokens(10 * FLOAT, 3, 11 * FLOAT, is_long=True) == 3  # the whole position at most


def test_the_open_interest_multiplier_binds_above_its_crossover():
    """Arbitrum-like numbers: factor 0.5%, multiplier 6e-11 per USD: binds above 0.005 / 6e-11 ≈ $83.3M."""
    factor, multiplier = FLOAT // 200, 6 * 10**19  # 0.005 and 6e-11, at 1e30
    below = min_collateral_factor_for_open_interest(factor, 80_000_000 * FLOAT, multiplier)
    above = min_collateral_factor_for_open_interest(factor, 100_000_000 * FLOAT, multiplier)
    assert below == factor and above == 100_000_000 * multiplier  # 0.6% at $100M


def test_the_fee_is_the_lower_factor_only_when_the_order_narrows_the_gap():
    market = gmx_market(
        taker_fee_balance_improved=Decimal("0.0005"),
        open_interest_long_usd=Decimal(10_000_000),
        open_interest_short_usd=Decimal(8_000_000),
    )
    assert market.taker_fee_for(Decimal(-1_000_000)) == Decimal("0.0005")
    assert market.taker_fee_for(Decimal(1)) == Decimal("0.0007")
    assert market.taker_fee_for(Decimal(-4_000_000)) == Decimal("0.0007")  # |−2M| is not below |2M|
    assert gmx_market().taker_fee_for(Decimal(-1)) == Decimal("0.0007")  # no balance data: the market's fee


def test_round_ids_split_into_phase_and_aggregator_round():
    assert (phase_id(2 << 64 | 1), aggregator_round_id(2 << 64 | 1)) == (2, 1)
    assert (phase_id(7), aggregator_round_id(7)) == (0, 7)  # a bare aggregator's ids


@FAST
@given(
    size_usd=st.integers(1, 10**12).map(lambda v: v * FLOAT),
    size_tokens=st.integers(1, 10**24),
    fraction=st.fractions(0, 1),
    is_long=st.booleans(),
)
def test_pending_decreases_never_exceed_the_position_and_grow_with_size(size_usd, size_tokens, fraction, is_long):
    delta = int(size_usd * fraction)
    removed = pending_decrease_tokens(size_usd, size_tokens, delta, is_long)
    assert 0 <= removed <= size_tokens
    assert removed <= pending_decrease_tokens(size_usd, size_tokens, min(delta + FLOAT, size_usd), is_long)
    exact = Fraction(size_tokens * delta, size_usd)
    assert abs(removed - exact) < 1  # within one unit of the exact proportion


@FAST
@given(
    factor=st.integers(0, FLOAT),
    open_interest=st.integers(0, 10**12).map(lambda v: v * FLOAT),
    multiplier=st.integers(0, 10**21),
)
def test_initial_factor_is_never_below_either_bound(factor, open_interest, multiplier):
    required = min_collateral_factor_for_open_interest(factor, open_interest, multiplier)
    assert required >= factor and required >= open_interest * multiplier // FLOAT
