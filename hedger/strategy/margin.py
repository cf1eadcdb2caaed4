"""Margin pools: what a venue liquidates as one, valued the way the guards and sizing need it. Pure.

- Cross margin (`MarginMode.CROSS`): one pool per venue, the account (`MarginAccount`) that backs every
  position there. Wallet collateral reaches it through separate ADD_COLLATERAL actions.
- Isolated margin (`MarginMode.ISOLATED`, GMX v2): one pool per market, the position there (or the one
  the market is about to open). Its equity is its own collateral + unrealized PnL − closing costs;
  collateral travels with the order that grows it, or alone in an order of size 0 (a top-up).

Stablecoin collateral is valued at the stablecoin guard's capped feed price (`guards.stable_value`) in
both cases, so a premium is never credited and a depeg is seen at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from hedger.model import ZERO, Balance, MarginAccount, MarginMode, Market, PendingOrder, Position
from hedger.strategy.guards import market_scope, venue_scope


def is_isolated(market: Market) -> bool:
    return market.margin_mode is MarginMode.ISOLATED


def pool_key(market: Market) -> str:
    """The pool a market's positions draw on, named by the guard scope its margin results carry."""
    return market_scope(market.key) if is_isolated(market) else venue_scope(market.venue)


@dataclass(frozen=True)
class MarginPool:
    """One pool of margin, in USD.

    `equity_usd` is None when it cannot be valued (an isolated position without PnL or collateral price);
    `wallet` is the balance that funds it (None: nothing to add) and `token_price` what one unit of that
    token counts for; `pending_collateral_usd` is collateral already on its way (an isolated top-up order
    not yet executed), which a new top-up does not send again."""

    key: str
    venue: str
    equity_usd: Decimal | None
    notional_usd: Decimal
    initial_usd: Decimal
    maintenance_usd: Decimal
    wallet: Balance | None
    token_price: Decimal
    account: MarginAccount | None = None
    market: Market | None = None
    position: Position | None = None
    pending_collateral_usd: Decimal = ZERO

    @property
    def isolated(self) -> bool:
        return self.market is not None

    @property
    def judged(self) -> bool:
        """Whether there is margin to judge: a cross account, or an open isolated position."""
        return self.account is not None or self.position is not None

    def empty(self) -> MarginPool:
        """The same pool with nothing in it: an isolated position about to be opened on the other side."""
        return MarginPool(self.key, self.venue, ZERO, ZERO, ZERO, ZERO, self.wallet, self.token_price,
                          market=self.market)  # fmt: skip


def cross_pool(venue: str, account: MarginAccount | None, wallet: Balance | None, token_price: Decimal) -> MarginPool:
    """A venue's cross-margin account; its collateral valued at `token_price` instead of the venue's par."""
    if account is None:
        return MarginPool(venue_scope(venue), venue, ZERO, ZERO, ZERO, ZERO, wallet, token_price)
    equity = account.equity_usd + account.collateral * (token_price - 1)
    return MarginPool(
        venue_scope(venue),
        venue,
        equity,
        account.notional_usd,
        account.initial_requirement_usd,
        account.maintenance_requirement_usd,
        wallet,
        token_price,
        account=account,
    )


def isolated_pool(
    market: Market,
    position: Position | None,
    wallet: Balance | None,
    token_price: Decimal,
    price: Decimal | None,
    pending: Iterable[PendingOrder] = (),
) -> MarginPool:
    """An isolated market's position (or none yet). `wallet` is None when the collateral token is not a
    stablecoin: such collateral is valued by the venue and never topped up from the wallet. `price`
    values the position when the venue has no mark; `pending` are the market's pending orders, whose
    stablecoin top-ups count as collateral on its way."""
    key = market_scope(market.key)
    pending_usd = ZERO if wallet is None else pending_top_up_tokens(pending) * token_price
    if position is None:
        return MarginPool(key, market.venue, ZERO, ZERO, ZERO, ZERO, wallet, token_price, market=market,
                          pending_collateral_usd=pending_usd)  # fmt: skip
    stable_price = token_price if wallet is not None else None
    notional = position.notional_usd
    if notional is None:
        notional = ZERO if price is None else position.contracts * price
    return MarginPool(
        key,
        market.venue,
        isolated_equity_usd(position, stable_price),
        notional,
        notional * market.initial_margin_ratio,
        position.maintenance_margin_usd or ZERO,
        wallet,
        token_price,
        market=market,
        position=position,
        pending_collateral_usd=pending_usd,
    )


def isolated_equity_usd(position: Position, stable_price: Decimal | None) -> Decimal | None:
    """What the position would leave if closed now: collateral + unrealized PnL − closing costs. Stablecoin
    collateral counts at `stable_price` (capped); other collateral at the venue's valuation."""
    if position.unrealized_pnl_usd is None:
        return None
    if stable_price is not None and position.collateral_amount is not None:
        collateral_usd = position.collateral_amount * stable_price
    elif position.collateral_usd is not None:
        collateral_usd = position.collateral_usd
    else:
        return None
    return collateral_usd + position.unrealized_pnl_usd - position.closing_costs_usd


def pending_top_up_tokens(pending: Iterable[PendingOrder]) -> Decimal:
    """Collateral that pending collateral-only orders (size 0) are adding, in collateral-token units. An order
    whose size the venue could not tell (`size_unknown` in extra: GMX with its index unpriced) is no top-up."""
    return sum(
        (
            o.collateral_delta
            for o in pending
            if o.size_delta == 0 and o.collateral_delta > 0 and not o.extra.get("size_unknown")
        ),
        ZERO,
    )


def collateral_for_leverage_usd(
    equity_usd: Decimal, notional_usd: Decimal, growth_usd: Decimal, target_leverage: Decimal
) -> Decimal:
    """Collateral that brings a pool growing by `growth_usd` of notional to `target_leverage` (≤ 0: none)."""
    return (notional_usd + growth_usd) / target_leverage - equity_usd


def shrink_fraction(equity_usd: Decimal, maintenance_usd: Decimal, buffer_target: Decimal) -> Decimal:
    """The fraction of a pool's positions to close so that `equity_usd` covers `buffer_target` × maintenance."""
    return max(1 - equity_usd / (buffer_target * maintenance_usd), ZERO)
