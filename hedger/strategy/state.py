"""What the planner remembers between snapshots, passed in and returned explicitly (no globals).

- `last_good_prices`: per asset, the last price the oracles agreed on, and when it was published; when
  the oracles fail it bounds risk-reducing orders (Liquity's last good price).
- `distrusted`: assets whose two sources both failed or disagreed; they are trusted again only when both
  are healthy and agree (Liquity's recovery rule).
- `last_trade_at`: per market key (`venue:symbol`), when the last rebalance was sent: the cooldown clock.

`hedger.strategy.plan.advance_state` updates the oracle memory from a snapshot; `record_trades` updates
the cooldown clock once the executor has sent a plan's orders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from hedger.model import Action, ActionKind

TRADE_KINDS = (ActionKind.OPEN, ActionKind.INCREASE, ActionKind.DECREASE, ActionKind.CLOSE)


@dataclass(frozen=True)
class PricePoint:
    price: Decimal
    published_at: int


@dataclass(frozen=True)
class PlannerState:
    last_good_prices: Mapping[str, PricePoint] = field(default_factory=dict)
    distrusted: frozenset[str] = frozenset()
    last_trade_at: Mapping[str, int] = field(default_factory=dict)

    def seconds_since_trade(self, market_key: str, now: int) -> int | None:
        at = self.last_trade_at.get(market_key)
        return None if at is None else now - at

    def last_good(self, asset: str, now: int, max_age_s: int) -> PricePoint | None:
        point = self.last_good_prices.get(asset)
        return point if point is not None and now - point.published_at <= max_age_s else None

    def record_trades(self, actions: Iterable[Action], at: int) -> PlannerState:
        """The state after `actions` were sent at time `at`: their markets' cooldowns restart."""
        traded = {f"{a.venue}:{a.symbol}": at for a in actions if a.kind in TRADE_KINDS}
        return PlannerState(self.last_good_prices, self.distrusted, {**self.last_trade_at, **traded})
