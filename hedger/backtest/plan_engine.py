"""The plan engine: market history replayed through the live planner, `hedger.strategy.plan.build_plan`.

At every hourly close the engine builds the `Snapshot` the keeper would have read at that moment and asks the
live planner what to do, carrying the planner's state (`advance_state`, `record_trades`) as the keeper does; a
simulated venue then fills the plan's orders and collateral moves. Nothing about the decision is mirrored: the
guards, sizing (with its caps), margin, venue minimums, the band, cooldown and worth-it rules are the live ones.

The snapshot at close t:
- the wallet holds the spot asset (the book's units, as an 18-decimal token) and a stablecoin for collateral;
- oracles: one primary feed per asset with `updated_at` = the last valid close (so a gap in the history is a feed
  that stopped updating: after its heartbeat the staleness guard fires exactly as it would live); the spot asset's
  price is its spot close, the hedge asset's the hedge perp's close (the history holds no separate index for it);
- the venue: one market on the hedge asset (initial/maintenance margin, taker fee = the backtest's fee + slippage,
  minimum size and step), the position and its cross-margin account as the simulated venue holds them, and the
  funding quote: the last settled rate with its interval (until the first settlement the rate is unknown, and
  the planner's unknown-funding guard applies), the perp close as mark and the oracle as index.

The simulated venue fills every order of an allowed plan at the perp close of t (the planner's acceptable price
bounds it: a fill outside it is rejected and counted), charges the fee and slippage, books collateral moves,
settles funding, and liquidates a position whose equity falls below maintenance. At an invalid close the venue has
no price: nothing fills. The P&L accounting is the fast engine's (`engine._account`) over the positions held, so
the two engines are compared on decisions alone (`tests/unit/backtest/test_plan_engine.py`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from hedger.backtest.data import HedgeHistory
from hedger.backtest.engine import BacktestConfig, BacktestResult, PreparedHistory, _account, _Path, planner_policy
from hedger.backtest.policies import HedgePolicy, target_ratio
from hedger.model import (
    ActionKind,
    Balance,
    FundingRate,
    MarginAccount,
    Market,
    OracleReading,
    Plan,
    Position,
    Side,
    Snapshot,
    Source,
    Verdict,
)
from hedger.strategy.parameters import SizingSettings, StrategySettings
from hedger.strategy.plan import advance_state, build_plan
from hedger.strategy.state import PlannerState
from hedger.wallet import exposures

VENUE = "sim"
STABLE = "USDC"
FEED_DECIMALS = 8
SPOT_DECIMALS = 18
STABLE_DECIMALS = 6
ZERO = Decimal(0)
TRADES = (ActionKind.OPEN, ActionKind.INCREASE, ActionKind.DECREASE, ActionKind.CLOSE)


@dataclass(frozen=True)
class PlanEngineConfig:
    """What the replay needs beyond the fast engine's costs and margin.

    - `settings`: the live strategy settings (guards, sizing, policy); the policy's band and cooldown come from
      the hedge policy being tested, its gas from the backtest's costs. Default: the live defaults with sizing's
      notional cap lifted to 1e12 USD (the fast engine hedges the whole book).
    - `wallet_stable_usd`: stablecoin in the wallet for collateral (default: 2 × the spot value).
    - `initial_collateral_usd`: collateral already on the venue at the start.
    - `heartbeat_s`: the feeds' heartbeat; `initial_margin_ratio`, `min_size`, `size_step`: the market's.
    """

    settings: StrategySettings | None = None
    wallet_stable_usd: float | None = None
    initial_collateral_usd: float = 0.0
    heartbeat_s: int = 3600
    initial_margin_ratio: Decimal = Decimal("0.1")
    min_size: Decimal = ZERO
    size_step: Decimal = ZERO
    min_notional_usd: Decimal = ZERO


@dataclass(frozen=True)
class PlanReplay:
    """The replay's accounting (a `BacktestResult`, as the fast engine gives) and what the planner said."""

    result: BacktestResult
    verdicts: dict[str, int]
    reason_codes: dict[str, int]
    guard_codes: dict[str, int]
    halted_rows: tuple[int, ...]
    rejected_fills: int
    collateral_added_usd: float
    seconds_per_bar: float = 0.0
    plans: tuple[Plan, ...] = field(default=(), repr=False)


class _Venue:
    """The simulated venue: one cross-margin account and one position, in Decimals."""

    def __init__(self, market: Market, collateral: Decimal):
        self.market, self.collateral, self.size, self.entry = market, collateral, ZERO, ZERO

    def equity(self, price: Decimal) -> Decimal:
        return self.collateral + self.size * (price - self.entry)

    def fill(self, size_delta: Decimal, price: Decimal, cost_rate: Decimal) -> None:
        """Trade at `price`: realise the P&L of what is closed into collateral, pay the costs from it."""
        new = self.size + size_delta
        if self.size != 0 and (new == 0 or (new > 0) != (self.size > 0) or abs(new) < abs(self.size)):
            closed = min(abs(size_delta), abs(self.size)) * (1 if self.size > 0 else -1)
            self.collateral += closed * (price - self.entry)
        if new != 0 and (self.size == 0 or (new > 0) != (self.size > 0)):
            self.entry = price
        elif new != 0 and abs(new) > abs(self.size):
            self.entry = (self.entry * self.size + price * size_delta) / new
        self.collateral -= abs(size_delta) * price * cost_rate
        self.size = new

    def settle_funding(self, rate: Decimal, price: Decimal) -> None:
        self.collateral -= self.size * rate * price  # positive rate: longs pay shorts

    def liquidate(self, price: Decimal, fee_rate: Decimal) -> Decimal:
        equity = self.equity(price)
        lost = min(max(equity, ZERO), fee_rate * abs(self.size) * price)
        self.collateral = equity - lost
        self.size = self.entry = ZERO
        return equity


def run_plan_backtest(
    history: HedgeHistory,
    policy: HedgePolicy,
    config: BacktestConfig | None = None,
    engine: PlanEngineConfig | None = None,
    ratio: np.ndarray | None = None,
    keep_plans: bool = False,
) -> PlanReplay:
    """Replay `history` through `build_plan` under `policy` (its ratio estimator and band), as the keeper would."""
    import time

    started = time.perf_counter()
    config, engine = config or BacktestConfig(), engine or PlanEngineConfig()
    policy = policy.for_history(history)
    ratio = target_ratio(history, policy) if ratio is None else ratio
    rebalance = planner_policy(policy, config.costs)
    settings = _settings(engine, policy, config, history)
    first = int(np.flatnonzero(history.valid)[0])
    spot_units = config.spot_value_usd / history.spot_usd[first]
    cost_rate = Decimal(repr(config.costs.taker_fee_rate + config.costs.slippage_rate))
    market = Market(
        VENUE, history.hedge_asset, history.hedge_asset, "1", engine.initial_margin_ratio,
        Decimal(repr(config.margin.maintenance_margin_ratio)), cost_rate, engine.min_size, engine.size_step,
        engine.min_notional_usd,
    )  # fmt: skip
    venue = _Venue(market, Decimal(repr(engine.initial_collateral_usd)))
    spot_raw = int(Decimal(repr(float(spot_units))).scaleb(SPOT_DECIMALS))
    stable_usd = engine.wallet_stable_usd if engine.wallet_stable_usd is not None else 2 * config.spot_value_usd
    wallet_stable = Decimal(repr(stable_usd)).quantize(Decimal(1).scaleb(-STABLE_DECIMALS))

    n = len(history)
    close_s = history.close_time.as_unit("s").asi8.tolist()
    valid = history.valid.tolist()
    spot_prices, perp_prices = history.spot_usd.tolist(), history.perp_usd.tolist()
    rates = history.funding_rate.tolist()
    settles = (history.close_time.hour % history.funding_interval_h == 0).tolist()
    funding_prices = history.funding_price_usd.tolist()
    path = _Path(perp_size=np.zeros(n))
    state = PlannerState()
    verdicts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    guards: Counter[str] = Counter()
    halted: list[int] = []
    plans: list[Plan] = []
    rejected = 0
    added = ZERO
    feeds = _Feeds(history, engine.heartbeat_s)
    last_rate: Decimal | None = None
    liquidation_fee = Decimal(repr(config.margin.liquidation_fee_rate))

    for i in range(n):
        now = close_s[i]
        perp = _dec(perp_prices[i]) if valid[i] else None
        if valid[i]:
            feeds.update(i, now, spot_prices[i], perp_prices[i])
            rate = rates[i]
            if rate == rate and rate != 0:  # funding settled at this close on the position held into it
                venue.settle_funding(_dec(rate), _dec(funding_prices[i]))
            if settles[i]:
                last_rate = _dec(rate)
            if venue.size != 0 and perp is not None:
                notional = abs(venue.size) * perp
                if venue.equity(perp) < market.maintenance_margin_ratio * notional:
                    path.liquidation_rows.append(i)
                    path.liquidation_equity_usd.append(float(venue.liquidate(perp, liquidation_fee)))
        snapshot = _snapshot(history, i, now, market, venue, spot_raw, wallet_stable, feeds, last_rate, perp)
        plan = build_plan(snapshot, settings, {history.spot_asset: _dec(ratio[i])}, state)
        verdicts[plan.verdict.value] += 1
        reasons.update(r.code for r in plan.reasons)
        if plan.verdict is Verdict.HALT:
            halted.append(i)
        if keep_plans:
            plans.append(plan)
        sent = []
        delta = ZERO
        for action in plan.actions:
            if action.kind is ActionKind.ADD_COLLATERAL:
                tokens = min(action.collateral_delta, wallet_stable)
                wallet_stable -= tokens
                venue.collateral += tokens
                added += tokens
                path.top_up_usd.append(float(tokens))
                sent.append(action)
            elif action.kind in TRADES:
                if perp is None or not _within_acceptable(action.size_delta, perp, action.acceptable_price):
                    rejected += 1
                    continue
                venue.fill(action.size_delta, perp, cost_rate)
                delta += action.size_delta
                sent.append(action)
        if delta != 0:
            path.trade_rows.append(i)
            path.trade_sizes.append(float(delta))
        path.perp_size[i] = float(venue.size)
        state = advance_state(state, snapshot, settings)
        if any(a.kind in TRADES for a in sent):
            state = state.record_trades(sent, now)
        for code in {r.code for r in plan.reasons} & _GUARD_CODES:
            guards[code] += 1

    path.codes.update(reasons)
    result = _account(PreparedHistory.of(history), policy, rebalance, config, ratio, spot_units, path)
    elapsed = time.perf_counter() - started
    return PlanReplay(
        result, dict(verdicts), dict(reasons), dict(guards), tuple(halted), rejected, float(added), elapsed / n,
        tuple(plans),
    )  # fmt: skip


_GUARD_CODES = frozenset(
    {
        "oracle_stale", "oracle_broken", "oracle_missing", "oracle_jump", "oracle_sources_apart", "no_price",
        "mark_blocked", "mark_worse_price", "punitive_funding", "funding_unknown", "notional_cap", "leverage",
        "liquidation_distance", "margin_buffer", "blocked_by_guard", "capped_by_leverage", "below_venue_minimum",
    }
)  # fmt: skip


def _settings(
    engine: PlanEngineConfig, policy: HedgePolicy, config: BacktestConfig, history: HedgeHistory
) -> StrategySettings:
    """The live settings, with the tested policy's rebalance rules, the backtest's gas, and (across assets) the
    spot asset hedged with the history's perp."""
    base = engine.settings or StrategySettings(sizing=SizingSettings(max_notional_usd=Decimal(10) ** 12))
    sizing = base.sizing
    if not history.same_asset:
        sizing = dataclasses.replace(sizing, hedge_with={**sizing.hedge_with, history.spot_asset: history.hedge_asset})
    gas = Decimal(repr(config.costs.gas_usd_per_rebalance))
    return dataclasses.replace(base, sizing=sizing, policy=dataclasses.replace(policy.rebalance, gas_usd=gas))


def _dec(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def _within_acceptable(size_delta: Decimal, price: Decimal, acceptable: Decimal | None) -> bool:
    if acceptable is None:
        return True
    return price <= acceptable if size_delta > 0 else price >= acceptable


class _Feeds:
    """The feeds' latest and previous rounds: the spot asset at its spot close, the hedge asset at its perp close."""

    def __init__(self, history: HedgeHistory, heartbeat_s: int):
        self.history, self.heartbeat_s = history, heartbeat_s
        self.assets = (history.spot_asset,) if history.same_asset else (history.spot_asset, history.hedge_asset)
        self.rounds: dict[str, list[tuple[int, int, int]]] = {a: [] for a in self.assets}  # (round, answer, at)

    def update(self, i: int, now: int, spot: float, perp: float) -> None:
        prices = {self.history.spot_asset: spot}
        if not self.history.same_asset:
            prices[self.history.hedge_asset] = perp
        for asset, price in prices.items():
            answer = int((Decimal(repr(price)).scaleb(FEED_DECIMALS)).to_integral_value())
            rounds = self.rounds[asset]
            rounds.append((len(rounds) + 1, answer, now))
            del rounds[:-2]

    def readings(self, now: int) -> tuple[OracleReading, ...]:
        out = []
        for asset in self.assets:
            rounds = self.rounds[asset]
            source = Source(f"history:{asset}", 0, now)
            base = dict(
                feed=f"{asset}/USD", asset=asset, source=source, decimals=FEED_DECIMALS, heartbeat_s=self.heartbeat_s,
                min_price=Decimal("0.00000001"), max_price=Decimal(10) ** 12,
            )  # fmt: skip
            if not rounds:
                out.append(OracleReading(**base, error="no round yet"))  # type: ignore[arg-type]
                continue
            round_id, answer, at = rounds[-1]
            previous = rounds[-2] if len(rounds) > 1 else None
            out.append(
                OracleReading(
                    **base,  # type: ignore[arg-type]
                    answer=answer,
                    round_id=round_id,
                    started_at=at,
                    updated_at=at,
                    previous_answer=previous[1] if previous else None,
                    previous_updated_at=previous[2] if previous else None,
                )
            )
        return tuple(out)


def _snapshot(
    history: HedgeHistory,
    i: int,
    now: int,
    market: Market,
    venue: _Venue,
    spot_raw: int,
    wallet_stable: Decimal,
    feeds: _Feeds,
    rate: Decimal | None,
    perp: Decimal | None,
) -> Snapshot:
    source = Source("history", i, now)
    balances = (
        Balance(f"W{history.spot_asset}", history.spot_asset, spot_raw, SPOT_DECIMALS, source),
        Balance(STABLE, STABLE, int(wallet_stable.scaleb(STABLE_DECIMALS)), STABLE_DECIMALS, source, None, True),
    )
    oracles = feeds.readings(now)
    mark = perp if perp is not None else _last_price(feeds, history.hedge_asset)
    positions: tuple[Position, ...] = ()
    if venue.size != 0:
        positions = (
            Position(
                VENUE, market.symbol, market.asset, Side.of(venue.size), abs(venue.size), venue.entry, mark,
                None if mark is None else venue.size * (mark - venue.entry), source,
            ),
        )  # fmt: skip
    notional = abs(venue.size) * mark if mark is not None else ZERO
    equity = venue.equity(mark) if mark is not None else venue.collateral
    margins = (
        MarginAccount(
            VENUE, STABLE, venue.collateral, equity, notional * market.initial_margin_ratio,
            notional * market.maintenance_margin_ratio, notional, source,
        ),
    )  # fmt: skip
    funding = (
        FundingRate(
            VENUE, market.symbol, rate, history.funding_interval_h * 3600, source,
            mark_price=mark, index_price=_last_price(feeds, market.asset),
        ),
    )  # fmt: skip
    return Snapshot(
        network="history", chain_id=0, account="backtest", block_number=i, block_timestamp=now,
        balances=balances, markets=(market,), positions=positions, funding=funding, oracles=oracles,
        margins=margins, exposures=exposures(balances, positions, oracles),
    )  # fmt: skip


def _last_price(feeds: _Feeds, asset: str) -> Decimal | None:
    rounds = feeds.rounds.get(asset)
    if not rounds:
        return None
    return Decimal(rounds[-1][1]).scaleb(-FEED_DECIMALS)
