# ruff: noqa: RUF009  (`setting(...)` returns a dataclasses.field carrying the docs; its defaults are immutable)
"""When to trade: the rebalancing policy, as one pure decision per market and moment.

`rebalance_decision` runs per hourly row in the backtest (floats) and per market in the live planner
(Decimals): it uses plain arithmetic and comparisons only, so it computes in whatever numeric type it
is given. Give it one type throughout: `RebalancePolicy.as_floats()` converts the policy once for float
inputs; mixing Decimal with float raises TypeError instead of rounding silently.

Order of the tests (the first that applies decides, `code` says which):
1. on target (nothing to do) → no trade;
2. target zero → unwind at once, whatever the band, minimum or cooldown (Lyra: moving to zero skips the
   delay; closing is always allowed);
3. gap inside the relative band → no trade;
4. gap below the absolute notional minimum → no trade;
5. inside the cooldown → no trade, unless the gap breaches `breach_override_rel`;
6. not worth it: the risk the trade removes is worth less than its gas and fees → no trade;
7. otherwise → trade the whole gap (`split_order` cuts it into orders of at most the maximum size).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar, cast

from hedger.strategy.fields import check_ranges, require, setting

ON_TARGET = "on_target"
UNWIND = "unwind"
INSIDE_BAND = "inside_band"
BELOW_MIN_NOTIONAL = "below_min_notional"
COOLDOWN = "cooldown"
BREACH_OVERRIDE = "breach_override"
NOT_WORTH_IT = "not_worth_it"
REBALANCE = "rebalance"
DECISION_CODES = (
    ON_TARGET, UNWIND, INSIDE_BAND, BELOW_MIN_NOTIONAL, COOLDOWN, BREACH_OVERRIDE, NOT_WORTH_IT, REBALANCE,
)  # fmt: skip
"""Every `RebalanceDecision.code`, in the order of the tests that give them."""

Num = TypeVar("Num", float, Decimal)  # one numeric type throughout a call: float (backtest) or Decimal (live)


@dataclass(frozen=True)
class RebalancePolicy:
    """When to rebalance one market. Every field documents its default and where it comes from."""

    band_rel: Decimal = setting(
        Decimal("0.05"),
        "trade only when |target − current| ≥ this fraction of |target|",
        "Lyra pool hedger deltaThreshold (a delta-gap band); Rage Trade rebalances on a band too",
        minimum=0,
        maximum=1,
    )
    min_notional_usd: Decimal = setting(
        Decimal(50),
        "and only when the gap is worth at least this many USD",
        "hedger: fees and gas dominate below",
        minimum=0,
    )
    cooldown_s: int = setting(
        3600, "at most one rebalance per market within this time...", "Lyra interactionDelay", minimum=0
    )
    breach_override_rel: Decimal = setting(
        Decimal("0.25"), "...unless the gap is at least this fraction of |target|", "hedger", minimum=0
    )
    max_order_notional_usd: Decimal = setting(
        Decimal(250_000), "larger trades are split into orders of at most this", "Lyra maxOrderCap", minimum=0
    )
    gas_usd: Decimal = setting(Decimal(1), "worth-it test: gas of one order, USD (an L2 order)", "hedger", minimum=0)
    fee_rate: Decimal = setting(
        Decimal("0.0005"),
        "worth-it test: taker fee, fraction of notional (the live planner uses each market's own fee)",
        "hedger",
        minimum=0,
    )
    expected_move_rel: Decimal = setting(
        Decimal("0.02"),
        "worth-it test: typical absolute move the gap is exposed to before the next chance to trade",
        "shared/data 2019–2023: median absolute daily log return 1.5% (BTC), 2.1% (ETH)",
        minimum=0,
    )
    worth_it_multiple: Decimal = setting(
        Decimal(1),
        "trade when gap_usd × expected_move_rel ≥ this × (gas_usd + fee_rate × gap_usd); 0 disables",
        "hedger",
        minimum=0,
    )
    min_cancel_delay_s: int = setting(
        1200, "a pending order is cancelled only once it is this old (or expired)", "Lyra minCancelDelay", minimum=0
    )

    def __post_init__(self) -> None:
        check_ranges(self)
        require(self.breach_override_rel >= self.band_rel, "breach_override_rel", "must be at least band_rel")
        require(self.max_order_notional_usd > 0, "max_order_notional_usd", "must be above 0 (the largest order)")

    def as_floats(self) -> RebalancePolicy:
        """The same policy with float thresholds, for float inputs (the backtest)."""
        return self._converted(float)

    def _converted(self, convert: Any) -> RebalancePolicy:
        changes = {
            f.name: convert(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), float | Decimal)
        }
        return dataclasses.replace(self, **changes)


class RebalanceDecision(NamedTuple):
    """Whether to trade, the signed size to trade (target − current, 0 when not trading), and why."""

    trade: bool
    size_delta: Any
    code: str


def rebalance_decision(
    current_hedge: Num, target_hedge: Num, price: Num, seconds_since_last: float | None, policy: RebalancePolicy
) -> RebalanceDecision:
    """Decide whether to move a perp position from `current_hedge` to `target_hedge` (signed units).

    `price` converts the gap to USD; `seconds_since_last` is the time since this market's last
    rebalance (None: never traded, no cooldown). All numbers must share one type (float or Decimal),
    the policy's too. Returns a `RebalanceDecision`.
    """
    gap = target_hedge - current_hedge
    if gap == 0:
        return RebalanceDecision(False, gap, ON_TARGET)
    if target_hedge == 0:
        return RebalanceDecision(True, gap, UNWIND)
    no_trade = gap - gap  # zero, in the caller's numeric type
    gap_abs = abs(gap)
    gap_rel = gap_abs / abs(target_hedge)
    if gap_rel < policy.band_rel:
        return RebalanceDecision(False, no_trade, INSIDE_BAND)
    gap_usd = gap_abs * price
    if gap_usd < policy.min_notional_usd:
        return RebalanceDecision(False, no_trade, BELOW_MIN_NOTIONAL)
    code = REBALANCE
    if seconds_since_last is not None and seconds_since_last < policy.cooldown_s:
        if gap_rel < policy.breach_override_rel:
            return RebalanceDecision(False, no_trade, COOLDOWN)
        code = BREACH_OVERRIDE
    move, multiple, gas, fee = _worth_it_terms(gap, policy)
    if gap_usd * move < multiple * (gas + fee * gap_usd):
        return RebalanceDecision(False, no_trade, NOT_WORTH_IT)
    return RebalanceDecision(True, gap, code)


MAX_ORDERS_PER_TRADE = 50
"""A trade that would take more orders than this is not split at all (the planner says why): 50 orders of
`max_order_notional_usd` each is already far past what one block or one keeper cycle should send."""


def split_order(size_delta: Num, price: Num, max_order_notional_usd: Num, step: Num | None = None) -> list[Num]:
    """Cut a trade into the fewest orders of at most `max_order_notional_usd` each, summing exactly to it.

    With a venue `step` (and `size_delta` a multiple of it) every order is a multiple of the step too,
    and orders differ by at most one step; an order is never smaller than one step, even when one step is
    worth more than the maximum. Works in the type given (Decimal or float).
    """
    size = abs(size_delta)
    if size == 0 or size * price <= max_order_notional_usd:
        return [size_delta]
    if not step:
        count = _ceil_div(size * price, max_order_notional_usd)
        piece = size_delta / count
        return [piece] * (count - 1) + [size_delta - piece * (count - 1)]
    largest = max((max_order_notional_usd / price // step) * step, step)
    count = _ceil_div(size, largest)
    base = (size / count // step) * step
    extra_steps = int((size - base * count) / step)
    sign = 1 if size_delta > 0 else -1
    return [sign * (base + step)] * extra_steps + [sign * base] * (count - extra_steps)


def _worth_it_terms(_: Num, policy: RebalancePolicy) -> tuple[Num, Num, Num, Num]:
    """The worth-it test's thresholds typed as the inputs: the policy holds their numeric type already
    (`as_floats()` for float inputs, though its fields are declared Decimal); nothing is converted, so mixing
    still raises. Expected move, multiple, gas, fee rate."""
    terms: tuple[object, ...] = (policy.expected_move_rel, policy.worth_it_multiple, policy.gas_usd, policy.fee_rate)
    return cast(tuple[Num, Num, Num, Num], terms)


def _ceil_div(numerator: Num, denominator: Num) -> int:
    return int(numerator // denominator) + (numerator % denominator > 0)
