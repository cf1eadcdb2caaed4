"""The accounting loop: one engine for every policy.

A book holds `spot_units` of the spot asset for the whole run and hedges them with a perp position
(negative size: short). At each valid close time, in this order:
1. the position held since the previous valid close is marked to market, and funding settled at this
   close is paid or received on it (positive rate: longs pay shorts, so a short receives it);
2. the margin account is checked: equity below maintenance is a liquidation (the position is closed,
   a liquidation fee is lost); equity below `top_up_below` × initial margin is topped up to it;
3. the live planner's `rebalance_decision` compares the held hedge with the target and may trade; a trade
   pays the taker fee and slippage on the traded notional plus a fixed gas cost, and resets the margin
   account to notional ÷ leverage.
The target is sized as `hedger.strategy.sizing` sizes it, vectorised (`target_perp_units`): −ratio × spot
units for the same asset, −ratio × spot units × spot price ÷ perp price across assets (the ratio is
value-for-value). Sizing's caps (maximum notional, leverage) are not applied: the whole book is hedged.
Everything that is not path-dependent (P&L, funding, costs by step, book value) is computed with numpy
after the loop. The loop goes from event to event (`_Loop`): runs of closes where nothing can happen are found
and booked with numpy, every other close takes the three steps above on Python floats; the result is the
row-by-row loop's, bit for bit (tests/unit/backtest/test_event_loop.py).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from hedger.backtest.data import HedgeHistory
from hedger.backtest.policies import HedgePolicy, target_ratio
from hedger.strategy.policy import DECISION_CODES, INSIDE_BAND, ON_TARGET, RebalancePolicy, rebalance_decision


@dataclass(frozen=True)
class CostModel:
    """Costs of one rebalance: fractions of the traded notional, plus a fixed gas cost in USD."""

    taker_fee_rate: float = 0.0005
    slippage_rate: float = 0.0002
    gas_usd_per_rebalance: float = 1.0


@dataclass(frozen=True)
class MarginModel:
    """Isolated margin for the hedge: collateral = notional / leverage whenever the hedge is traded.

    At each close, equity below maintenance (`maintenance_margin_ratio` × notional) is a liquidation;
    otherwise equity below `top_up_below` × the initial margin (notional / leverage) is topped up from the
    wallet back to the initial margin (a keeper that checks hourly). `top_up_below` None: never top up.
    `liquidation_fee_rate` (fraction of notional, capped at the remaining equity) is lost on liquidation.
    Defaults: dYdX v3's 3% maintenance on BTC/ETH; sizing's 3x maximum leverage.
    """

    leverage: float = 3.0
    maintenance_margin_ratio: float = 0.03
    top_up_below: float | None = 0.5
    liquidation_fee_rate: float = 0.03


@dataclass(frozen=True)
class BacktestConfig:
    spot_value_usd: float = 1_000_000.0
    costs: CostModel = field(default_factory=CostModel)
    margin: MarginModel = field(default_factory=MarginModel)


@dataclass(frozen=True)
class LiquidationEvent:
    close_time_utc: str
    perp_price_usd: float
    notional_usd: float
    equity_usd: float
    loss_usd: float


@dataclass(frozen=True)
class BacktestResult:
    """Per-hour arrays on the history's grid (invalid hours carry the position held through them)."""

    policy: HedgePolicy
    rebalance: RebalancePolicy
    config: BacktestConfig
    history: HedgeHistory
    prepared: PreparedHistory
    spot_units: float
    target_ratio: np.ndarray
    perp_size: np.ndarray
    price_pnl_usd: np.ndarray
    funding_usd: np.ndarray
    trading_fee_usd: np.ndarray
    slippage_usd: np.ndarray
    gas_usd: np.ndarray
    liquidation_loss_usd: np.ndarray
    traded_notional_usd: np.ndarray
    liquidations: tuple[LiquidationEvent, ...]
    top_ups: int
    top_up_usd: float
    decision_codes: dict[str, int]

    @property
    def held_size(self) -> np.ndarray:
        """The perp position held into each close time (before that close's decision)."""
        return np.concatenate(([0.0], self.perp_size[:-1]))

    @property
    def costs_usd(self) -> np.ndarray:
        return self.trading_fee_usd + self.slippage_usd + self.gas_usd

    @property
    def book_pnl_usd(self) -> np.ndarray:
        return self.price_pnl_usd + self.funding_usd - self.costs_usd - self.liquidation_loss_usd

    @property
    def book_value_usd(self) -> np.ndarray:
        """Spot holdings + perp P&L + funding − costs, NaN at invalid hours (the spot cannot be valued)."""
        value = self.spot_units * self.history.spot_usd[self.prepared.rows[0]] + np.cumsum(self.book_pnl_usd)
        return np.where(self.history.valid, value, np.nan)

    @property
    def unhedged_value_usd(self) -> np.ndarray:
        return np.where(self.history.valid, self.spot_units * self.history.spot_usd, np.nan)

    @property
    def realised_ratio(self) -> np.ndarray:
        """Hedge ratio after each decision, in the target's terms (sizing's conversion undone)."""
        return self._ratio_of(self.perp_size)

    @property
    def drift_ratio(self) -> np.ndarray:
        """Hedge ratio held into each close, before its decision: what the band is compared with."""
        return self._ratio_of(self.held_size)

    def _ratio_of(self, size: np.ndarray) -> np.ndarray:
        h = self.history
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = -size / (self.spot_units * h.perp_units_per_spot_unit)
        return np.where(h.valid, ratio, np.nan)


@dataclass(frozen=True)
class PreparedHistory:
    """What every run over one history reads, computed once: a sweep prepares it in the parent and shares it with
    every configuration and worker. The loop sees only the valid rows (`rows`: their grid index), so the perp step
    is from the previous valid close; `hourly_steps` and `daily_ends` are the row sets the metrics use."""

    history: HedgeHistory
    rows: np.ndarray
    perp_usd: np.ndarray
    perp_step_usd: np.ndarray  # perp close − the previous valid close (NaN at the first)
    funding_rate: np.ndarray
    funding_price_usd: np.ndarray
    close_s: np.ndarray
    as_lists: tuple[list[float], list[float], list[float], list[int]]  # perp, rate, funding price, close: rows
    hourly_steps: np.ndarray
    daily_ends: tuple[np.ndarray, np.ndarray]

    @classmethod
    def of(cls, history: HedgeHistory) -> PreparedHistory:
        rows = np.flatnonzero(history.valid)
        perp, rate, price = history.perp_usd[rows], history.funding_rate[rows], history.funding_price_usd[rows]
        close_s = history.close_time.as_unit("s").asi8[rows]
        midnights = np.flatnonzero(history.valid & (history.close_time.hour == 0))
        whole_days = np.diff(history.close_time[midnights].as_unit("s").asi8) // 3600 == 24
        return cls(
            history=history,
            rows=rows,
            perp_usd=perp,
            perp_step_usd=np.concatenate(([np.nan], perp[1:] - perp[:-1])),
            funding_rate=rate,
            funding_price_usd=price,
            close_s=close_s,
            as_lists=(perp.tolist(), rate.tolist(), price.tolist(), close_s.tolist()),
            hourly_steps=np.flatnonzero(history.valid[1:] & history.valid[:-1]) + 1,
            daily_ends=(midnights[:-1][whole_days], midnights[1:][whole_days]),
        )


def run_backtest(
    history: HedgeHistory | PreparedHistory,
    policy: HedgePolicy,
    config: BacktestConfig | None = None,
    ratio: np.ndarray | None = None,
) -> BacktestResult:
    """Run one policy over a history (or a prepared one, shared between runs). `ratio` (the target ratio per
    hour) may be passed to share it in sweeps."""
    prepared = history if isinstance(history, PreparedHistory) else PreparedHistory.of(history)
    history = prepared.history
    config = config or BacktestConfig()
    policy = policy.for_history(history)
    ratio = target_ratio(history, policy) if ratio is None else ratio
    spot_units = config.spot_value_usd / history.spot_usd[prepared.rows[0]]
    rebalance = planner_policy(policy, config.costs)
    target = target_perp_units(history, ratio, spot_units)[prepared.rows]
    path = _Loop(prepared, target, rebalance, config.margin).run()
    return _account(prepared, policy, rebalance, config, ratio, spot_units, path)


def target_perp_units(history: HedgeHistory, ratio: np.ndarray, spot_units: float) -> np.ndarray:
    """Signed perp units the hedge targets at each close: `hedger.strategy.sizing.target_units`, vectorised."""
    return -ratio * spot_units * history.perp_units_per_spot_unit


@dataclass
class _Path:
    """What the loop records: the position after each decision and the sparse path-dependent events."""

    perp_size: np.ndarray
    trade_rows: list[int] = field(default_factory=list)
    trade_sizes: list[float] = field(default_factory=list)
    liquidation_rows: list[int] = field(default_factory=list)
    liquidation_equity_usd: list[float] = field(default_factory=list)
    top_up_usd: list[float] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)


STEPPED_ROWS = 2
"""After an event, this many rows go one by one (a trade is often followed by another soon)..."""
DENSE_STEPPED_ROWS = 16
"""...and this many when it came within as many rows of the previous event (stepping is cheaper than jumping there)."""
FIRST_JUMP_ROWS = 256
"""A jump looks this many rows ahead first, and twice as far each time the window holds no event."""
MAX_JUMP_ROWS = 8192


class _Loop:
    """The accounting loop, from event to event.

    A row is *quiet* when nothing can happen at it: no margin event (equity stays at or above both thresholds)
    and the band alone decides (`rebalance_decision`'s first tests: on target, or the gap inside the band).
    Between events the position is constant, so a run of quiet rows is found and accounted with numpy at once
    (`_jump`: the equity path is the running sum of the same increments, in the same order, as row by row).
    Every other row, and the few rows after each event, go through `_step`: the margin check, then the live
    planner's `rebalance_decision`, on Python floats. Both give the same numbers bit for bit."""

    def __init__(self, prepared: PreparedHistory, target: np.ndarray, rebalance: RebalancePolicy, margin: MarginModel):
        self.p, self.rebalance = prepared, rebalance
        self.target, self.target_abs = target, np.abs(target)
        self.maintenance_ratio = margin.maintenance_margin_ratio
        self.initial_ratio = 1.0 / margin.leverage
        self.top_up_ratio = -math.inf if margin.top_up_below is None else margin.top_up_below * self.initial_ratio
        self.size = self.equity = 0.0
        self.last_trade_s: float = -math.inf
        self.changes: list[tuple[int, float]] = []  # (loop row, size after its decision) where the size changed
        self.path = _Path(perp_size=np.zeros(len(prepared.history)))
        self.quiet = {ON_TARGET: 0, INSIDE_BAND: 0}

    def run(self) -> _Path:
        n, row, window = len(self.target), 0, FIRST_JUMP_ROWS
        last_event: float = -math.inf
        with np.errstate(divide="ignore", invalid="ignore"):  # |gap| / |target| where the target is 0: inf or NaN
            while row < n:
                row, window = self._jump(row, window)
                stop = row + 1  # the row that is not quiet, then more after an event (many when events are dense)
                while row < min(n, stop):
                    if self._step(row):
                        dense = row - last_event <= DENSE_STEPPED_ROWS
                        stop = row + 1 + (DENSE_STEPPED_ROWS if dense else STEPPED_ROWS)
                        last_event = row
                    row += 1
        return self._finish()

    def _step(self, i: int) -> bool:
        """One row as the live planner sees it; True when something happened (a trade or a margin event)."""
        perp, rate, funding_price, close_s = self.p.as_lists
        price, size, path, event = perp[i], self.size, self.path, False
        if size:
            self.equity += size * (price - perp[i - 1]) - size * rate[i] * funding_price[i]
            notional = abs(size) * price
            if self.equity < self.maintenance_ratio * notional:
                path.liquidation_rows.append(int(self.p.rows[i]))
                path.liquidation_equity_usd.append(self.equity)
                self.size = self.equity = 0.0
                self.last_trade_s = close_s[i]
                self.changes.append((i, 0.0))
                event = True
            elif self.equity < self.top_up_ratio * notional:
                path.top_up_usd.append(self.initial_ratio * notional - self.equity)
                self.equity = self.initial_ratio * notional
                event = True
        decision = rebalance_decision(self.size, self.target.item(i), price, close_s[i] - self.last_trade_s,
                                      self.rebalance)  # fmt: skip
        path.codes[decision.code] = path.codes.get(decision.code, 0) + 1
        if decision.trade:
            self.size += decision.size_delta
            self.equity = self.initial_ratio * abs(self.size) * price
            self.last_trade_s = close_s[i]
            path.trade_rows.append(int(self.p.rows[i]))
            path.trade_sizes.append(decision.size_delta)
            self.changes.append((i, self.size))
            event = True
        return event

    def _jump(self, start: int, window: int) -> tuple[int, int]:
        """Account the quiet rows from `start` on; returns the first row that is not quiet (or the end) and the
        next window (doubled after a window with no event, back to the first after one)."""
        end = min(len(self.target), start + window)
        size = self.size
        gap = self.target[start:end] - size
        quiet = (gap == 0) | (np.abs(gap) / self.target_abs[start:end] < self.rebalance.band_rel)
        run = len(quiet) if quiet.all() else int(np.argmin(quiet))
        if size and run:  # margin: the first row whose equity is under either threshold (the larger, ≥ 0 notional)
            equity = self._equity_path(start, start + run)
            threshold = max(self.maintenance_ratio, self.top_up_ratio) * (
                abs(size) * self.p.perp_usd[start : start + run]
            )
            breach = equity < threshold
            run = int(np.argmax(breach)) if breach.any() else run
            if run:
                self.equity = float(equity[run - 1])
        if run:
            on_target = int(np.count_nonzero(gap[:run] == 0))
            self.quiet[ON_TARGET] += on_target
            self.quiet[INSIDE_BAND] += run - on_target
        grown = min(MAX_JUMP_ROWS, 2 * window) if run == end - start else FIRST_JUMP_ROWS
        return start + run, grown

    def _equity_path(self, start: int, end: int) -> np.ndarray:
        """Margin equity after each row of [start, end) at the held size: the row-by-row sums, in order."""
        size, p = self.size, self.p
        sums = np.empty(end - start + 1)
        sums[0] = self.equity
        sums[1:] = size * p.perp_step_usd[start:end] - size * p.funding_rate[start:end] * p.funding_price_usd[start:end]
        return np.cumsum(sums, out=sums)[1:]

    def _finish(self) -> _Path:
        """The size after each decision on the whole grid (invalid rows carry it), and the codes in rule order."""
        path, rows = self.path, self.p.rows
        if self.changes:
            at, sizes = zip(*self.changes, strict=True)
            changed = rows[np.asarray(at)]
            since = np.searchsorted(changed, np.arange(len(path.perp_size)), side="right") - 1
            path.perp_size = np.where(since >= 0, np.asarray(sizes)[since], 0.0)
        counts = {code: path.codes.get(code, 0) + self.quiet.get(code, 0) for code in DECISION_CODES}
        path.codes = {code: count for code, count in counts.items() if count}
        return path


def planner_policy(policy: HedgePolicy, costs: CostModel) -> RebalancePolicy:
    """The policy's rebalance thresholds as floats, its worth-it test priced with the backtest's costs."""
    fee_rate = Decimal(str(costs.taker_fee_rate + costs.slippage_rate))
    gas_usd = Decimal(str(costs.gas_usd_per_rebalance))
    return dataclasses.replace(policy.rebalance, fee_rate=fee_rate, gas_usd=gas_usd).as_floats()


def _account(
    prepared: PreparedHistory,
    policy: HedgePolicy,
    rebalance: RebalancePolicy,
    config: BacktestConfig,
    ratio: np.ndarray,
    spot_units: float,
    path: _Path,
) -> BacktestResult:
    """Vectorised accounting of a simulated path: P&L, funding and costs per hour."""
    history = prepared.history
    n = len(history)
    perp_size = path.perp_size
    held = np.concatenate(([0.0], perp_size[:-1]))
    liquidated = np.asarray(path.liquidation_rows, dtype=int)
    price_pnl = _price_pnl(prepared, spot_units, held)
    funding = np.where(history.valid, -held * history.funding_rate * history.funding_price_usd, 0.0)
    rows = np.asarray(path.trade_rows, dtype=int)
    traded = np.zeros(n)
    traded[rows] = np.abs(np.asarray(path.trade_sizes)) * history.perp_usd[rows]
    gas = np.zeros(n)
    gas[rows] = config.costs.gas_usd_per_rebalance
    liquidation_loss, events = _liquidation_losses(history, config.margin, held, liquidated, path)
    return BacktestResult(
        policy=policy,
        rebalance=rebalance,
        config=config,
        history=history,
        prepared=prepared,
        spot_units=spot_units,
        target_ratio=ratio,
        perp_size=perp_size,
        price_pnl_usd=price_pnl,
        funding_usd=funding,
        trading_fee_usd=traded * config.costs.taker_fee_rate,
        slippage_usd=traded * config.costs.slippage_rate,
        gas_usd=gas,
        liquidation_loss_usd=liquidation_loss,
        traded_notional_usd=traded,
        liquidations=events,
        top_ups=len(path.top_up_usd),
        top_up_usd=float(sum(path.top_up_usd)),
        decision_codes=path.codes,
    )


def _price_pnl(prepared: PreparedHistory, spot_units: float, held: np.ndarray) -> np.ndarray:
    """Spot and perp mark-to-market from the previous valid close to each valid close (spans gaps exactly)."""
    rows = prepared.rows
    pnl = np.zeros(len(prepared.history))
    spot, perp = prepared.history.spot_usd[rows], prepared.perp_usd
    pnl[rows[1:]] = spot_units * np.diff(spot) + held[rows[1:]] * np.diff(perp)
    return pnl


def _liquidation_losses(
    history: HedgeHistory, margin: MarginModel, held: np.ndarray, rows: np.ndarray, path: _Path
) -> tuple[np.ndarray, tuple[LiquidationEvent, ...]]:
    loss = np.zeros(len(history))
    events = []
    for row, equity in zip(rows.tolist(), path.liquidation_equity_usd, strict=True):
        price = float(history.perp_usd[row])
        notional = abs(float(held[row])) * price
        lost = min(max(float(equity), 0.0), margin.liquidation_fee_rate * notional)
        loss[row] = lost
        events.append(LiquidationEvent(history.close_time[row].isoformat(), price, notional, float(equity), lost))
    return loss, tuple(events)
