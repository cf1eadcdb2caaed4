"""The plan: from a Snapshot to actions, each with its reason, or a halt with reasons. Pure.

1. Prices: each asset's oracles are judged (`guards.resolve_price`): a trusted price, or only an anchor
   (a healthy second source, or the last good price) that can bound risk-reducing orders.
2. Guards: account-wide (sequencer, stablecoin depeg), per asset (oracles), per margin pool (liquidation
   distance, leverage: a cross-margin venue's account, or an isolated market's position; `margin.py`) and
   per market (funding known, punitive funding, venue mark vs oracle, notional).
3. Targets: exposure × ratio per perp asset (`sizing`); the market with the cheapest net carry takes the
   hedge, other markets of that asset go to zero; carry budget; per-market notional cap; venue step.
4. Margin: add wallet collateral where a pool's liquidation buffer is thin (else shrink the pool's positions
   back to the target buffer, bypassing the rebalancing policy), or where a growing hedge needs it. Cross
   margin: a separate ADD_COLLATERAL action to the venue account. Isolated margin: the growing order
   carries the collateral itself; a top-up is an ADD_COLLATERAL order of size 0 on the position's market.
5. Per market: a pending order blocks new orders (stale ones are cancelled after the minimum delay); the
   rebalancing policy decides; growth is capped by leverage; orders are split at zero and by maximum size,
   checked against venue minimums, and priced at the worse of mark and anchor less the slippage.
6. Verdicts: allow keeps everything; reduce-only and halt keep risk-reducing actions only. An order needs
   an anchor price to be built, so under halt it exists only where a trusted fallback price does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from hedger.errors import ConfigError
from hedger.model import (
    ZERO,
    Action,
    ActionKind,
    Market,
    Plan,
    Position,
    Reason,
    Side,
    Snapshot,
    Verdict,
)
from hedger.strategy import guards as g
from hedger.strategy.guards import GuardResult, PriceView
from hedger.strategy.margin import (
    MarginPool,
    collateral_for_leverage_usd,
    cross_pool,
    is_isolated,
    isolated_pool,
    pool_key,
    shrink_fraction,
)
from hedger.strategy.parameters import StrategySettings
from hedger.strategy.policy import MAX_ORDERS_PER_TRADE, RebalanceDecision, rebalance_decision, split_order
from hedger.strategy.sizing import (
    HedgeRatio,
    Targets,
    cap_growth,
    cap_notional,
    carry_quote,
    cheapest,
    growth,
    leverage_capacity_usd,
    target_units,
    toward_zero,
    within_carry_budget,
)
from hedger.strategy.state import PlannerState, PricePoint

REDUCE_NEAR_LIQUIDATION = "reduce_near_liquidation"
NOTABLE_ALLOW_CODES = frozenset({"mark_worse_price", "jump_confirmed", "stable_premium_capped"})


def check_cancel_delay(policy_delay_s: int, markets: Iterable[Market], file: str) -> None:
    """Refuse a `strategy.policy.min_cancel_delay_s` below a venue's own minimum (GMX's REQUEST_EXPIRATION_TIME,
    `request_expiration_s` in a market's extra): the venue would revert every cancel sent earlier."""
    for market in markets:
        venue_s = market.extra.get("request_expiration_s")
        if venue_s and policy_delay_s < venue_s:
            raise ConfigError(
                file,
                "strategy.policy.min_cancel_delay_s",
                f"{policy_delay_s} s is below {market.key}'s request expiration of {venue_s} s: the venue refuses "
                "to cancel a market order younger than that",
                f"set strategy.policy.min_cancel_delay_s to at least {venue_s} in {file}",
            )


def build_plan(
    snapshot: Snapshot,
    settings: StrategySettings | None = None,
    ratios: Mapping[str, HedgeRatio] | None = None,
    state: PlannerState | None = None,
    restrictions: Iterable[GuardResult] = (),
) -> Plan:
    """What to do now, and why: the hedge engine's one entry point (pure; reads nothing else).

    - `snapshot`: one block's readings (hedger.snapshot.SnapshotReader.take).
    - `settings`: `StrategySettings.from_mapping(network.strategy, file)`; defaults when None.
    - `ratios`: per held asset, its hedge ratio (Decimal, on its own perp or `sizing.hedge_with[asset]`'s),
      or a basket row {perp asset: ratio}; assets not named use `sizing.default_ratio`.
    - `state`: what the previous run left (last good prices, distrusted oracles, last trade times);
      `PlannerState()` on a first run. After a run: `advance_state(state, snapshot, settings)`, and once the
      orders are sent `state.record_trades(plan.actions, now)`.
    - `restrictions`: guard results from outside the snapshot (the keeper's kill switch or spent gas
      budget), judged exactly like the planner's own guards.

    Returns a `Plan`: `verdict` is the most severe guard verdict anywhere (halt, reduce_only, allow);
    `actions` are what passed the guards, in order (collateral first, cancellations, then orders), each
    with its reason; `reasons` are the guard findings, the markets left alone and the actions dropped,
    with the numbers. `plan.to_json()` is JSON-ready (Decimals as strings).
    """
    return explain_plan(snapshot, settings, ratios, state, restrictions).plan


@dataclass(frozen=True)
class PlanDetail:
    """A plan with what the planner saw on the way: every guard it ran (passing ones included), each asset's
    judged prices, and the target perp units per perp asset before caps. For displays (the dashboard)."""

    plan: Plan
    guards: tuple[GuardResult, ...]
    views: Mapping[str, PriceView]
    targets: Mapping[str, Decimal]


def explain_plan(
    snapshot: Snapshot,
    settings: StrategySettings | None = None,
    ratios: Mapping[str, HedgeRatio] | None = None,
    state: PlannerState | None = None,
    restrictions: Iterable[GuardResult] = (),
) -> PlanDetail:
    """`build_plan`, also returning the guards, price views and targets behind it (same arguments)."""
    planner = _Planner(snapshot, settings or StrategySettings(), state or PlannerState(), ratios or {})
    planner.results += list(restrictions)
    plan = planner.plan()
    return PlanDetail(plan, tuple(planner.results), dict(planner.views), dict(planner.targets))


def advance_state(state: PlannerState, snapshot: Snapshot, settings: StrategySettings) -> PlannerState:
    """The oracle memory after `snapshot`: trusted prices become the last good prices; an asset whose two
    sources both failed (or disagree) is distrusted until both are healthy and agree again."""
    views = price_views(snapshot, settings, state)
    last_good = dict(state.last_good_prices)
    distrusted = set(state.distrusted)
    for asset, view in views.items():
        reading = snapshot.oracle(asset)
        if view.price is not None and reading is not None and reading.updated_at is not None:
            last_good[asset] = PricePoint(view.price, reading.updated_at)
        if view.both_failed or _sources_disagree(view):
            distrusted.add(asset)
        elif view.trusted_pair:
            distrusted.discard(asset)
    return PlannerState(last_good, frozenset(distrusted), state.last_trade_at)


def _sources_disagree(view: PriceView) -> bool:
    return any(r.code == "oracle_sources_apart" for r in view.results)


def price_views(snapshot: Snapshot, settings: StrategySettings, state: PlannerState) -> dict[str, PriceView]:
    """Every asset with a feed, judged."""
    assets = sorted({o.asset for o in snapshot.oracles})
    now = snapshot.block_timestamp
    return {
        asset: g.resolve_price(
            asset,
            snapshot.oracle(asset),
            snapshot.oracle(asset, "secondary"),
            settings.guards,
            state,
            now,
            settings.market_hours.for_asset(asset),
        )
        for asset in assets
    }


@dataclass(frozen=True)
class _MarketTarget:
    market: Market
    current: Decimal
    target: Decimal | None
    anchor: Decimal | None
    mark: Decimal | None
    notes: tuple[Reason, ...] = ()
    forced: bool = False

    def priced(self) -> _PricedTarget | None:
        """The same target with its size and anchor price known: one that can trade (None otherwise)."""
        if self.target is None or self.anchor is None:
            return None
        return _PricedTarget(self.market, self.current, self.target, self.anchor, self.mark, self.notes, self.forced)


@dataclass(frozen=True)
class _PricedTarget:
    """A market target that can trade: a target size and an anchor price to bound its orders."""

    market: Market
    current: Decimal
    target: Decimal
    anchor: Decimal
    mark: Decimal | None
    notes: tuple[Reason, ...] = ()
    forced: bool = False


@dataclass(frozen=True)
class _Room:
    """A margin pool as growth uses it up within one plan."""

    equity_usd: Decimal
    notional_usd: Decimal
    initial_usd: Decimal


class _Planner:
    """One planning run over one snapshot (built, used once, discarded)."""

    def __init__(
        self, snapshot: Snapshot, settings: StrategySettings, state: PlannerState, ratios: Mapping[str, HedgeRatio]
    ):
        self.snapshot, self.settings, self.state, self.ratios = snapshot, settings, state, ratios
        self.now = snapshot.block_timestamp
        self.views = price_views(snapshot, settings, state)
        self.pools = self._margin_pools()
        self.results: list[GuardResult] = [*self._account_results()]
        self.results += [r for view in self.views.values() for r in view.results]
        self.results += [r for pool in self.pools.values() for r in self._pool_results(pool)]
        self.hours = {
            asset: g.market_hours(asset, calendar, snapshot.oracle(asset), self.now)
            for asset in sorted({m.asset for m in snapshot.markets} | {o.asset for o in snapshot.oracles})
            if (calendar := settings.market_hours.for_asset(asset)) is not None
        }
        self.reasons: list[Reason] = []
        self.actions: list[Action] = []
        self.added_usd: dict[str, Decimal] = {}  # per pool: collateral added by this plan
        self.wallet_used: dict[str, Decimal] = {}  # per wallet token: what this plan's collateral takes
        self.order_collateral: dict[str, Decimal] = {}  # per isolated market: collateral for its growing order
        self.targets: dict[str, Decimal] = {}  # per perp asset: target signed units before caps

    # --- prices and guards ---------------------------------------------------------------------------

    def anchor(self, asset: str) -> Decimal | None:
        view = self.views.get(asset)
        return None if view is None else view.anchor

    def stable_assets(self) -> frozenset[str]:
        held = {b.asset for b in self.snapshot.balances if b.stablecoin}
        return frozenset(held | {m.collateral_token for m in self.snapshot.margins})

    def _account_results(self) -> list[GuardResult]:
        guards = self.settings.guards
        stables = [self.snapshot.oracle(asset) for asset in sorted(self.stable_assets())]
        return [g.sequencer(self.snapshot.sequencer, guards)] + [g.stablecoin(r, guards) for r in stables if r]

    def _margin_pools(self) -> dict[str, MarginPool]:
        """A pool per cross-margin venue (its account) and per isolated market (its position)."""
        cross = sorted({m.venue for m in self.snapshot.markets if not is_isolated(m)})
        pools = [self._cross_pool(venue) for venue in cross]
        pools += [self._isolated_pool(m) for m in self.snapshot.markets if is_isolated(m)]
        return {pool.key: pool for pool in pools}

    def _cross_pool(self, venue: str) -> MarginPool:
        account = self.snapshot.margin(venue)
        token = account.collateral_token if account else None
        wallet = next((b for b in self.snapshot.balances if token and token in (b.token, b.asset)), None)
        return cross_pool(venue, account, wallet, self._token_price(wallet.asset if wallet else token or ""))

    def _isolated_pool(self, market: Market) -> MarginPool:
        """The market's position; its collateral token (or the market's, for a new position) funds it from
        the wallet only if it is a stablecoin."""
        position = self.snapshot.position(market.venue, market.symbol)
        token = (position.collateral_token if position else None) or market.collateral_token
        wallet = next((b for b in self.snapshot.balances if b.stablecoin and token in (b.token, b.asset)), None)
        price = self._token_price(wallet.asset if wallet else token or "")
        pending = self.snapshot.pending(market.venue, market.symbol)
        return isolated_pool(market, position, wallet, price, self.anchor(market.asset), pending)

    def _token_price(self, asset: str) -> Decimal:
        """A collateral token's value: its feed price capped like a stablecoin's, or 1 without a price."""
        view = self.views.get(asset)
        return g.stable_value(view.price, self.settings.guards) if view and view.price else Decimal(1)

    def _pool_results(self, pool: MarginPool) -> list[GuardResult]:
        if not pool.judged:
            return []
        guards, max_leverage = self.settings.guards, self.settings.sizing.max_leverage
        if pool.account is not None:
            equity_usd = pool.account.equity_usd if pool.equity_usd is None else pool.equity_usd
            distance = g.liquidation_distance(pool.account, guards, equity_usd)
            lev = g.leverage(pool.account.notional_usd, equity_usd, max_leverage, pool.venue)
            return [distance.scoped(pool.key), lev.scoped(pool.key)]
        if pool.market is None:  # a cross venue without an account: nothing to judge
            return []
        where = pool.market.key
        if pool.equity_usd is None:
            return [g.margin_unknown(where).scoped(pool.key)]
        distance = g.margin_buffer(where, pool.equity_usd, pool.maintenance_usd, guards)
        lev = g.leverage(pool.notional_usd, pool.equity_usd, max_leverage, where)
        return [distance.scoped(pool.key), lev.scoped(pool.key)]

    def _market_results(self, market: Market, side: Side, current: Decimal) -> list[GuardResult]:
        guards, scope = self.settings.guards, g.market_scope(market.key)
        funding = self.snapshot.funding_of(market.venue, market.symbol)
        results = [g.funding_known(funding, guards)]
        if funding is not None and funding.known:
            results.append(g.punitive_funding(funding, side, guards))
        anchor = self.anchor(market.asset)
        results.append(g.mark_vs_oracle(self.mark(market), anchor, guards))
        if anchor is not None:
            notional = abs(current) * anchor
            results.append(g.notional_cap(notional, self.settings.sizing.max_notional_usd, market.key))
        return [r.scoped(scope) for r in results]

    def mark(self, market: Market) -> Decimal | None:
        funding = self.snapshot.funding_of(market.venue, market.symbol)
        return funding.mark_price if funding is not None else None

    def verdict(self, market: Market, contributors: Iterable[str] = ()) -> tuple[Verdict, list[GuardResult]]:
        scopes = {g.GLOBAL, g.venue_scope(market.venue), g.market_scope(market.key), g.asset_scope(market.asset)}
        scopes |= {g.asset_scope(a) for a in contributors}
        relevant = [r for r in self.results if r.scope in scopes]
        return g.most_severe(relevant), [r for r in relevant if r.verdict is not Verdict.ALLOW]

    def current(self, market: Market) -> Decimal:
        position = self.snapshot.position(market.venue, market.symbol)
        return ZERO if position is None else position.signed_size

    # --- the run ------------------------------------------------------------------------------------

    def plan(self) -> Plan:
        prices = {asset: view.anchor for asset, view in self.views.items()}
        targets = target_units(self.snapshot.exposures, self.ratios, prices, self.settings.sizing, self.stable_assets())
        self.targets = dict(targets.units)
        self.reasons += targets.unsized.values()
        market_targets = [
            t for asset in sorted(self._perp_assets(targets)) for t in self._asset_targets(asset, targets)
        ]
        self.reasons += [note for t in market_targets for note in t.notes]
        market_targets = self._liquidation_band(market_targets)
        decided = [d for d in (self._decide(t) for t in market_targets) if d is not None]
        capacity = self._collateral_for_growth(decided, targets)
        for target, decision in decided:
            self._orders(target, decision, capacity, targets.contributors.get(target.market.asset, ()))
        return self._assemble(targets)

    def _perp_assets(self, targets: Targets) -> set[str]:
        held = {p.asset for p in self.snapshot.positions}
        return (set(targets.units) | held) - set(targets.unsized)

    def _asset_targets(self, asset: str, targets: Targets) -> list[_MarketTarget]:
        markets = [m for m in self.snapshot.markets if m.asset == asset]
        total = targets.units.get(asset, ZERO)
        hours = self.hours.get(asset)
        if markets and hours is not None and hours.code in g.MARKET_HOURS_BLOCKING:
            self.reasons.append(Reason(hours.code, hours.message, {**hours.values, "target": total}))
            return []
        if not markets:
            if total != 0:
                self.reasons.append(Reason("no_market", f"no perp market for {asset}", {"target": total}))
            return []
        side = Side.of(total) if total != 0 else Side.SHORT
        for market in markets:
            self.results += self._market_results(market, side, self.current(market))
        if total == 0:
            return [self._market_target(m, ZERO, ()) for m in markets]
        chosen, target, notes = self._choose_market(markets, total, side)
        return [self._market_target(m, target if m is chosen else ZERO, notes if m is chosen else ()) for m in markets]

    def _choose_market(
        self, markets: list[Market], total: Decimal, side: Side
    ) -> tuple[Market, Decimal, tuple[Reason, ...]]:
        """The cheapest market by net carry among those that may grow (or already hold the hedge), and the
        target there after the carry budget; returns (market, target, notes)."""
        horizon = self.settings.sizing.carry_horizon_h
        quotes = [
            carry_quote(m, self.snapshot.funding_of(m.venue, m.symbol), side, horizon, self.current(m) != 0)
            for m in markets
        ]
        eligible = [q for q in quotes if self.current(q.market) != 0 or self.verdict(q.market)[0] is Verdict.ALLOW]
        best = cheapest(eligible or quotes)
        target, note = within_carry_budget(total, best, self.settings.sizing.carry_budget_rel)
        notes = [Reason("venue_choice", f"{best.market.key} has the cheapest net carry", best.values)]
        if len(quotes) > 1:
            notes[0] = replace(notes[0], values={**best.values, "candidates": [q.values for q in quotes]})
        if note is not None:
            notes.append(note)
        return best.market, target, tuple(notes)

    def _market_target(self, market: Market, target: Decimal, notes: tuple[Reason, ...]) -> _MarketTarget:
        anchor = self.anchor(market.asset)
        collected = list(notes)
        if anchor is not None and target != 0:
            target, note = cap_notional(target, anchor, self.settings.sizing.max_notional_usd)
            collected += [note] if note else []
        target = toward_zero(target, market.size_step)
        return _MarketTarget(market, self.current(market), target, anchor, self.mark(market), tuple(collected))

    # --- margin ----------------------------------------------------------------------------------------

    def _liquidation_band(self, targets: list[_MarketTarget]) -> list[_MarketTarget]:
        """Where a margin pool is near liquidation: add wallet collateral back to the target buffer; what the
        wallet cannot cover is made up by shrinking the pool's positions (forced, bypassing the policy)."""
        out = []
        shrink = {key: self._shrink_fraction(pool) for key, pool in self.pools.items()}
        for target in targets:
            fraction = shrink.get(pool_key(target.market))
            if fraction is None or fraction <= 0 or target.current == 0:
                out.append(target)
                continue
            limit = toward_zero(target.current * (1 - fraction), target.market.size_step)
            desired = target.target if target.target is not None else target.current
            bounded = desired if _within(desired, limit) else limit
            out.append(replace(target, target=bounded, forced=bounded != target.current))
        return out

    def _shrink_fraction(self, pool: MarginPool) -> Decimal | None:
        guards, sizing = self.settings.guards, self.settings.sizing
        if not pool.judged or pool.equity_usd is None or pool.maintenance_usd <= 0:
            return None
        if pool.equity_usd / pool.maintenance_usd >= guards.min_liquidation_buffer:
            return None
        needed_usd = sizing.liquidation_buffer_target * pool.maintenance_usd - pool.equity_usd
        added_usd = self._add_collateral(pool, needed_usd - pool.pending_collateral_usd, "near_liquidation")
        equity = pool.equity_usd + pool.pending_collateral_usd + added_usd
        return shrink_fraction(equity, pool.maintenance_usd, sizing.liquidation_buffer_target)

    def _wallet_tokens(self, pool: MarginPool, needed_usd: Decimal) -> Decimal:
        """Wallet tokens for up to `needed_usd` of collateral, taken out of what this plan has left in the
        wallet; zero below `min_collateral_update_usd` or without a wallet balance."""
        wallet = pool.wallet
        if wallet is None:
            return ZERO
        left_usd = (wallet.amount - self.wallet_used.get(wallet.token, ZERO)) * pool.token_price
        usd = min(needed_usd, left_usd)
        if usd <= 0 or usd < self.settings.sizing.min_collateral_update_usd:
            return ZERO
        tokens = toward_zero(usd / pool.token_price, Decimal(1).scaleb(-wallet.decimals))
        self.wallet_used[wallet.token] = self.wallet_used.get(wallet.token, ZERO) + tokens
        self.added_usd[pool.key] = self.added_usd.get(pool.key, ZERO) + tokens * pool.token_price
        return tokens

    def _add_collateral(self, pool: MarginPool, needed_usd: Decimal, code: str) -> Decimal:
        """An ADD_COLLATERAL action for up to `needed_usd` from the wallet; returns the USD added. Cross: to
        the venue account; isolated: an order of size 0 on the position's market (it needs an anchor price)."""
        wallet, market, position = pool.wallet, pool.market, pool.position
        if wallet is None:
            return ZERO
        anchor = None if market is None else self.anchor(market.asset)
        if market is not None and anchor is None:
            if needed_usd > 0:
                message = f"{market.key}: no trusted or fallback price to bound a collateral order"
                self.reasons.append(Reason("no_price", message, {}))
            return ZERO
        if market is not None and position is None:  # an isolated pool without a position: nothing to top up
            return ZERO
        wallet_usd = wallet.amount * pool.token_price
        tokens = self._wallet_tokens(pool, needed_usd)
        if tokens == 0:
            return ZERO
        values = {"needed_usd": needed_usd, "wallet_usd": wallet_usd, "token_price": pool.token_price}
        reason = Reason(code, f"{pool.venue}: add {tokens} {wallet.token} of collateral", values)
        if market is not None and position is not None and anchor is not None:
            self.actions.append(self._top_up(market, position, anchor, wallet.token, tokens, reason))
        else:
            self.actions.append(
                Action(ActionKind.ADD_COLLATERAL, pool.venue, wallet.token, reason, collateral_delta=tokens)
            )
        return tokens * pool.token_price

    def _top_up(
        self, market: Market, position: Position, anchor: Decimal, token: str, tokens: Decimal, reason: Reason
    ) -> Action:
        """Collateral-only order on an isolated position: size 0, priced like an increase of it."""
        message = f"{market.key}: add {tokens} {token} of collateral to the {position.side.value}"
        price = acceptable_price(position.signed_size, anchor, self.mark(market), self.settings.sizing.slippage_rel)
        return Action(
            ActionKind.ADD_COLLATERAL,
            market.venue,
            market.symbol,
            replace(reason, message=message),
            collateral_delta=tokens,
            acceptable_price=price,
        )

    def _collateral_for_growth(
        self, decided: list[tuple[_PricedTarget, RebalanceDecision]], targets: Targets
    ) -> dict[str, _Room]:
        """Per margin pool, the room left for growth; where growth needs more collateral, adds it from the
        wallet first (cross: an ADD_COLLATERAL action; isolated: carried by the market's growing order)."""
        capacity: dict[str, _Room] = {}
        for key, pool in self.pools.items():
            growing = [
                (t, growth(t.current, t.target) * t.anchor)
                for t, _ in decided
                if pool_key(t.market) == key
                and self.verdict(t.market, targets.contributors.get(t.market.asset, ()))[0] is Verdict.ALLOW
            ]
            base = self._growth_base(pool, [t for t, _ in growing])
            equity = (base.equity_usd or ZERO) + self.added_usd.get(key, ZERO)
            growth_usd = sum((usd for _, usd in growing), ZERO)
            if growth_usd > 0:
                needed = collateral_for_leverage_usd(
                    equity, base.notional_usd, growth_usd, self.settings.sizing.target_leverage
                )
                if needed > 0:
                    equity += self._fund_growth(base, needed)
            capacity[key] = _Room(equity, base.notional_usd, base.initial_usd)
        return capacity

    @staticmethod
    def _growth_base(pool: MarginPool, growing: list[_PricedTarget]) -> MarginPool:
        """What growth builds on: the pool, or for an isolated position that flips side, a new empty one
        (the old position is closed with its collateral; the new one starts from what its order brings)."""
        flips = any(t.current != 0 and t.target != 0 and (t.current > 0) != (t.target > 0) for t in growing)
        return pool.empty() if pool.isolated and flips else pool

    def _fund_growth(self, pool: MarginPool, needed_usd: Decimal) -> Decimal:
        if pool.market is None:
            return self._add_collateral(pool, needed_usd, "collateral_for_hedge")
        tokens = self._wallet_tokens(pool, needed_usd)
        self.order_collateral[pool.market.key] = tokens
        return tokens * pool.token_price

    # --- per market ------------------------------------------------------------------------------------

    def _decide(self, unpriced: _MarketTarget) -> tuple[_PricedTarget, RebalanceDecision] | None:
        """The rebalancing decision for one market, or None (and a reason) when it does not trade."""
        market = unpriced.market
        if self._pending(market):
            return None
        target = unpriced.priced()
        if target is None:
            self.reasons.append(Reason("no_price", f"{market.key}: no trusted or fallback price", {}))
            return None
        if target.forced:
            return target, _forced_decision(target)
        since = self.state.seconds_since_trade(market.key, self.now)
        gap_usd = (target.target - target.current) * target.anchor
        policy = replace(self.settings.policy, fee_rate=market.taker_fee_for(gap_usd))
        decision = rebalance_decision(target.current, target.target, target.anchor, since, policy)
        if not decision.trade:
            values = {"current": target.current, "target": target.target, "seconds_since_last": since}
            if decision.code != "on_target":
                self.reasons.append(Reason(decision.code, f"{market.key}: no rebalance ({decision.code})", values))
            return None
        return target, decision

    def _pending(self, market: Market) -> bool:
        """A pending order blocks new orders on its market; one older than the minimum delay is cancelled."""
        pending = self.snapshot.pending(market.venue, market.symbol)
        for order in pending:
            age_s = self.now - order.created_at
            values = {"order_id": order.order_id, "age_s": age_s, "size_delta": order.size_delta}
            cancellable_at = order.extra.get("cancellable_at")  # the venue refuses a cancel before (GMX)
            if cancellable_at is not None and self.now < cancellable_at:
                message = f"{market.key}: order {order.order_id} pending; the venue cancels it from {cancellable_at}"
                self.reasons.append(Reason("order_pending", message, values | {"cancellable_at": cancellable_at}))
            elif age_s >= self.settings.policy.min_cancel_delay_s or order.expired(self.now):
                reason = Reason("stale_order", f"{market.key}: order {order.order_id} pending {age_s} s", values)
                self.actions.append(
                    Action(ActionKind.CANCEL_ORDER, market.venue, market.symbol, reason, order_id=order.order_id)
                )
            else:
                self.reasons.append(Reason("order_pending", f"{market.key}: an order is pending", values))
        return bool(pending)

    def _orders(
        self,
        target: _PricedTarget,
        decision: RebalanceDecision,
        capacity: dict[str, _Room],
        contributors: Iterable[str],
    ) -> None:
        market, notes = target.market, list(target.notes)
        verdict, blocking = self.verdict(market, contributors)
        goal = target.target
        if verdict is Verdict.ALLOW and growth(target.current, goal) > 0:
            goal, notes = self._within_capacity(target, goal, capacity, notes)
        goal = toward_zero(goal, market.size_step)
        if goal == target.current:
            self.reasons += [n for n in notes if n.code == "capped_by_leverage"]
        for leg_from, leg_to in _legs(target.current, goal):
            self._leg(target, leg_from, leg_to, decision.code, notes, verdict, blocking)

    def _within_capacity(
        self, target: _PricedTarget, goal: Decimal, capacity: dict[str, _Room], notes: list[Reason]
    ) -> tuple[Decimal, list[Reason]]:
        """Cap the growth at the margin pool's room, and take what it uses out of the room."""
        market, key = target.market, pool_key(target.market)
        room = capacity[key]
        max_leverage = min(self.settings.sizing.max_leverage, market.max_leverage)
        room_usd = leverage_capacity_usd(
            room.equity_usd, room.notional_usd, room.initial_usd, market.initial_margin_ratio, max_leverage
        )
        capped, used_usd, note = cap_growth(target.current, goal, target.anchor, room_usd)
        capacity[key] = replace(
            room,
            notional_usd=room.notional_usd + used_usd,
            initial_usd=room.initial_usd + used_usd * market.initial_margin_ratio,
        )
        return capped, notes + ([note] if note else [])

    def _leg(
        self,
        target: _PricedTarget,
        start: Decimal,
        end: Decimal,
        code: str,
        notes: list[Reason],
        verdict: Verdict,
        blocking: list[GuardResult],
    ) -> None:
        market = target.market
        size = end - start
        if size == 0:
            return
        if end != 0 and not _meets_minimums(market, size, target.anchor):
            values = {"size": size, "min_size": market.min_size, "min_notional_usd": market.min_notional_usd}
            self.reasons.append(Reason("below_venue_minimum", f"{market.key}: order below the venue minimum", values))
            return
        policy = self.settings.policy
        position = start
        notional = abs(size) * target.anchor
        if notional > policy.max_order_notional_usd * MAX_ORDERS_PER_TRADE:  # checked before any list is built
            values = {"notional_usd": notional, "max_order_notional_usd": policy.max_order_notional_usd}
            message = (f"{market.key}: the trade ({notional:.2f} USD) would take over {MAX_ORDERS_PER_TRADE} orders"
                       f" of at most {policy.max_order_notional_usd} USD: raise max_order_notional_usd")  # fmt: skip
            self.reasons.append(Reason("too_many_orders", message, values))
            return
        pieces = split_order(size, target.anchor, policy.max_order_notional_usd, market.size_step)
        for index, piece in enumerate(pieces):
            action = self._order(target, position, piece, code, notes, index, len(pieces))
            position += piece
            self._admit(action, verdict, blocking)

    def _order(
        self,
        target: _PricedTarget,
        position: Decimal,
        piece: Decimal,
        code: str,
        notes: list[Reason],
        index: int,
        count: int,
    ) -> Action:
        market = target.market
        values = {
            "current": target.current,
            "target": target.target,
            "position_before": position,
            "position_after": position + piece,
            "price": target.anchor,
            "mark": target.mark,
            "order": f"{index + 1}/{count}",
            "sizing": [n.code for n in notes],
        }
        kind = _kind(position, position + piece)
        collateral = self._order_collateral(market, kind)
        if collateral:
            values["collateral_delta"] = collateral
        message = f"{market.key}: {kind.value} {abs(piece).normalize():f} ({code})"
        return Action(
            kind=kind,
            venue=market.venue,
            symbol=market.symbol,
            reason=Reason(code, message, values),
            size_delta=piece,
            collateral_delta=collateral,
            acceptable_price=acceptable_price(piece, target.anchor, target.mark, self.settings.sizing.slippage_rel),
        )

    def _order_collateral(self, market: Market, kind: ActionKind) -> Decimal:
        """Isolated margin: the first order that grows the position carries the collateral planned for it."""
        if kind not in (ActionKind.OPEN, ActionKind.INCREASE):
            return ZERO
        return self.order_collateral.pop(market.key, ZERO)

    def _admit(self, action: Action, verdict: Verdict, blocking: list[GuardResult]) -> None:
        if verdict is Verdict.ALLOW or action.reduces_risk:
            self.actions.append(action)
            return
        values = {"verdict": verdict.value, "guards": [r.code for r in blocking], "size_delta": action.size_delta}
        message = f"{action.venue}:{action.symbol}: {action.kind.value} blocked ({verdict.value})"
        self.reasons.append(Reason("blocked_by_guard", message, values))

    def _assemble(self, targets: Targets) -> Plan:
        """The plan's verdict is the most severe among the guards that govern some market: account-wide,
        venue and market guards, and the oracle guards of assets that are traded or hedged (a stablecoin's
        feed governs through the account-wide stablecoin guard)."""
        hedged = {m.asset for m in self.snapshot.markets} | {a for c in targets.contributors.values() for a in c}
        governing = {g.asset_scope(asset) for asset in hedged}
        verdict = g.most_severe(
            r for r in self.results if r.scope in governing or not r.scope.startswith(g.ASSET_SCOPE)
        )
        findings = [r.reason for r in self.results if r.verdict is not Verdict.ALLOW or r.code in NOTABLE_ALLOW_CODES]
        actions = sorted(self.actions, key=_action_order)
        return Plan(
            network=self.snapshot.network,
            account=self.snapshot.account,
            block_number=self.snapshot.block_number,
            block_timestamp=self.snapshot.block_timestamp,
            verdict=verdict,
            actions=tuple(actions),
            reasons=tuple(findings + self.reasons),
        )


def _forced_decision(target: _PricedTarget) -> RebalanceDecision:
    return RebalanceDecision(True, target.target - target.current, REDUCE_NEAR_LIQUIDATION)


def _within(desired: Decimal, limit: Decimal) -> bool:
    """`desired` is no larger than `limit` and on the same side (or zero)."""
    return desired == 0 or ((desired > 0) == (limit > 0) and abs(desired) <= abs(limit))


def _legs(current: Decimal, goal: Decimal) -> list[tuple[Decimal, Decimal]]:
    """A move that crosses zero is two legs: close, then open on the other side."""
    if current != 0 and goal != 0 and (current > 0) != (goal > 0):
        return [(current, ZERO), (ZERO, goal)]
    return [(current, goal)]


def _kind(before: Decimal, after: Decimal) -> ActionKind:
    if before == 0:
        return ActionKind.OPEN
    if after == 0:
        return ActionKind.CLOSE
    return ActionKind.INCREASE if abs(after) > abs(before) else ActionKind.DECREASE


def _meets_minimums(market: Market, size: Decimal, price: Decimal) -> bool:
    return abs(size) >= market.min_size and abs(size) * price >= market.min_notional_usd


def acceptable_price(size_delta: Decimal, anchor: Decimal, mark: Decimal | None, slippage_rel: Decimal) -> Decimal:
    """The worst fill accepted: the worse of mark and anchor for this direction, moved by the slippage."""
    buying = size_delta > 0
    reference = anchor if mark is None else (max(anchor, mark) if buying else min(anchor, mark))
    return reference * (1 + slippage_rel) if buying else reference * (1 - slippage_rel)


_ACTION_ORDER = {
    ActionKind.ADD_COLLATERAL: 0,
    ActionKind.CANCEL_ORDER: 1,
    ActionKind.CLOSE: 2,
    ActionKind.DECREASE: 2,
    ActionKind.OPEN: 3,
    ActionKind.INCREASE: 3,
    ActionKind.WITHDRAW_COLLATERAL: 4,
}


def _action_order(action: Action) -> int:
    return _ACTION_ORDER[action.kind]
