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
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any, TypeVar, cast

import numpy as np

from hedger.backtest.data import HedgeHistory
from hedger.backtest.policies import HedgePolicy, target_ratio
from hedger.errors import HedgerError
from hedger.strategy.policy import DECISION_CODES, INSIDE_BAND, ON_TARGET, RebalancePolicy, rebalance_decision

_T = TypeVar("_T")


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

    # Derived arrays are computed once per result (the metrics read several of them more than once).
    @cached_property
    def held_size(self) -> np.ndarray:
        """The perp position held into each close time (before that close's decision)."""
        return np.concatenate(([0.0], self.perp_size[:-1]))

    @cached_property
    def costs_usd(self) -> np.ndarray:
        return self.trading_fee_usd + self.slippage_usd + self.gas_usd

    @cached_property
    def book_pnl_usd(self) -> np.ndarray:
        return self.price_pnl_usd + self.funding_usd - self.costs_usd - self.liquidation_loss_usd

    @cached_property
    def book_value_usd(self) -> np.ndarray:
        """Spot holdings + perp P&L + funding − costs, NaN at invalid hours (the spot cannot be valued)."""
        value = self.spot_units * self.history.spot_usd[self.prepared.rows[0]] + np.cumsum(self.book_pnl_usd)
        return np.where(self.history.valid, value, np.nan)

    @cached_property
    def unhedged_value_usd(self) -> np.ndarray:
        return np.where(self.history.valid, self.spot_units * self.history.spot_usd, np.nan)

    @cached_property
    def realised_ratio(self) -> np.ndarray:
        """Hedge ratio after each decision, in the target's terms (sizing's conversion undone)."""
        return self._ratio_of(self.perp_size)

    @cached_property
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
    funding_paid_usd: np.ndarray  # funding paid per unit long since the first valid close, cumulative, at each row
    funding_received_usd: np.ndarray  # on the grid: funding received per unit long at each close (0 at invalid ones)
    spot_step_usd: np.ndarray  # on the grid: spot close − the previous valid close (0 at invalid ones and the first)
    perp_step_usd: np.ndarray  # the same for the perp
    as_lists: tuple[list[float], list[float], list[int]]  # perp, funding paid, close: the loop's scalars
    hourly_steps: np.ndarray
    daily_ends: tuple[np.ndarray, np.ndarray]
    _memo: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)

    def memo(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """A value every run over this history shares (block maxima, the unhedged side of the metrics), computed by
        the first run that asks for it, once per process."""
        if key not in self._memo:
            self._memo[key] = compute()
        return cast(_T, self._memo[key])

    def margin_maxima(self, margin_ratio: float, short: bool) -> tuple[list[Sequence[float]], float]:
        """Block maxima of the margin quantity for a short (or long) hedge at this margin ratio (see `_Summaries`),
        and the magnitude its rounding scales with."""

        def compute() -> tuple[list[Sequence[float]], float]:
            k, perp, paid = margin_ratio, self.perp_usd, self.funding_paid_usd
            values = (1 + k) * perp - paid if short else (k - 1) * perp + paid
            scale = (2 + abs(k)) * float(np.max(np.abs(perp))) + 2 * float(np.max(np.abs(paid)))  # p, p₀, k·p; F, F₀
            return _block_reduce(_padded(values), np.maximum), scale

        return self.memo(("margin maxima", margin_ratio, short), compute)

    @classmethod
    def of(cls, history: HedgeHistory) -> PreparedHistory:
        rows = np.flatnonzero(history.valid)
        perp = history.perp_usd[rows]
        if np.any(perp <= 0):
            raise HedgerError(
                f"the perp's close is not positive at {int(np.count_nonzero(perp <= 0))} valid hours",
                "a price history must be positive (the loaders drop such rows); check the file or the arrays given",
            )
        paid_per_close = history.funding_rate[rows] * history.funding_price_usd[rows]
        received = np.zeros(len(history))
        received[rows] = -paid_per_close
        paid = np.cumsum(paid_per_close)
        close_s = history.close_time.as_unit("s").asi8[rows]
        midnights = np.flatnonzero(history.valid & (history.close_time.hour == 0))
        whole_days = np.diff(history.close_time[midnights].as_unit("s").asi8) // 3600 == 24
        return cls(
            history=history,
            rows=rows,
            perp_usd=perp,
            funding_paid_usd=paid,
            funding_received_usd=received,
            spot_step_usd=_steps_on_grid(history.spot_usd, rows),
            perp_step_usd=_steps_on_grid(history.perp_usd, rows),
            as_lists=(perp.tolist(), paid.tolist(), close_s.tolist()),
            hourly_steps=np.flatnonzero(history.valid[1:] & history.valid[:-1]) + 1,
            daily_ends=(midnights[:-1][whole_days], midnights[1:][whole_days]),
        )


def _steps_on_grid(prices: np.ndarray, rows: np.ndarray) -> np.ndarray:
    steps = np.zeros(len(prices))
    steps[rows[1:]] = np.diff(prices[rows])
    return steps


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


BLOCK_LEVELS = (4, 16, 128)
"""Rows per block at each level of the quiet-block summaries: powers of two, each a multiple of the one before."""
CERTIFY_TOLERANCE = 1e-9
"""A block is certified quiet only with this relative margin over rounding; rows near a threshold are checked one
by one, with the planner's own float operations."""


class _Loop:
    """The accounting loop, from event to event.

    A row is *quiet* when nothing can happen at it: no margin event (equity stays at or above both thresholds)
    and the band alone decides (`rebalance_decision`'s first tests: on target, or the gap inside the band). The
    position and the margin account's base (equity, perp price and cumulative funding at the last trade or
    top-up) are constant between events, so quiet rows change nothing and are skipped: `_next_event` finds the
    next row that is not quiet, a block of rows at a time where the block's summaries (`_Summaries`) prove it
    quiet with room to spare, and row by row where they do not. That row goes through `_step`: the margin check,
    then the live planner's `rebalance_decision`, on Python floats.

    Equity at a row is the base equity plus the held size times the perp move and funding since the base
    (`_equity`): one formula, at any row, without a running sum."""

    def __init__(self, prepared: PreparedHistory, target: np.ndarray, rebalance: RebalancePolicy, margin: MarginModel):
        self.p, self.rebalance = prepared, rebalance
        self.target, self.targets = target, _floats(target)
        self.perp, self.funding_paid, self.close_s = prepared.as_lists
        self.maintenance_ratio = margin.maintenance_margin_ratio
        self.initial_ratio = 1.0 / margin.leverage
        self.top_up_ratio = -math.inf if margin.top_up_below is None else margin.top_up_below * self.initial_ratio
        self.margin_ratio = max(self.maintenance_ratio, self.top_up_ratio)  # the larger threshold: quiet above it
        self.summaries = _Summaries(prepared, target, float(rebalance.band_rel), self.margin_ratio)
        self.size = 0.0
        self.base: tuple[float, float, float] = (0.0, 0.0, 0.0)  # equity, perp price, cumulative funding: at reset
        self.last_trade_s: float = -math.inf
        self.changes: list[tuple[int, float]] = []  # (loop row, size after its decision) where the size changed
        self.stepped: list[int] = []
        self.path = _Path(perp_size=np.zeros(len(prepared.history)))

    def run(self) -> _Path:
        row, n = 0, len(self.targets)
        while (row := self._next_event(row)) < n:
            self._step(row)
            row += 1
        return self._finish()

    def _equity(self, i: int) -> float:
        equity, price, paid = self.base
        return equity + self.size * ((self.perp[i] - price) - (self.funding_paid[i] - paid))

    def _reset_margin(self, i: int, equity: float) -> None:
        self.base = (equity, self.perp[i], self.funding_paid[i])

    def _step(self, i: int) -> None:
        """One row as the live planner sees it."""
        path, price, close_s = self.path, self.perp[i], self.close_s[i]
        self.stepped.append(i)
        if self.size:
            equity, notional = self._equity(i), abs(self.size) * price
            if equity < self.maintenance_ratio * notional:
                path.liquidation_rows.append(i)
                path.liquidation_equity_usd.append(equity)
                self.size, self.last_trade_s = 0.0, close_s
                self._reset_margin(i, 0.0)
                self.changes.append((i, 0.0))
            elif equity < self.top_up_ratio * notional:
                path.top_up_usd.append(self.initial_ratio * notional - equity)
                self._reset_margin(i, self.initial_ratio * notional)
        trade, size_delta, code = rebalance_decision(
            self.size, self.targets[i], price, close_s - self.last_trade_s, self.rebalance
        )
        path.codes[code] = path.codes.get(code, 0) + 1
        if trade:
            self.size += size_delta
            self.last_trade_s = close_s
            self._reset_margin(i, self.initial_ratio * abs(self.size) * price)
            path.trade_rows.append(i)
            path.trade_sizes.append(size_delta)
            self.changes.append((i, self.size))

    def _next_event(self, i: int) -> int:
        """The first row from `i` on that is not quiet at the held size and margin base (the end when none).

        The hot loop: block tests are unrolled per level, and the row test inlines `_equity`."""
        size, band, margin_ratio, n = self.size, self.rebalance.band_rel, self.margin_ratio, len(self.targets)
        ((a1, b1, c1), (a2, b2, c2), (a3, b3, c3)), (x, y, z) = self.summaries.certificate(size, self.base)
        targets, perp, paid = self.targets, self.perp, self.funding_paid
        base_equity, base_price, base_paid = self.base
        held = abs(size)
        step1, step2, step3 = BLOCK_LEVELS
        while i < n:
            if not i % step1:
                if not i % step2:
                    if not i % step3:
                        j = i // step3
                        if a3[j] < x and b3[j] > y and c3[j] < z:
                            i += step3
                            continue
                    j = i // step2
                    if a2[j] < x and b2[j] > y and c2[j] < z:
                        i += step2
                        continue
                j = i // step1
                if a1[j] < x and b1[j] > y and c1[j] < z:
                    i += step1
                    continue
            target = targets[i]
            gap = target - size
            if gap != 0 and (target == 0 or not abs(gap) / abs(target) < band):
                return i
            if size:
                equity = base_equity + size * ((perp[i] - base_price) - (paid[i] - base_paid))
                if equity < margin_ratio * (held * perp[i]):
                    return i
            i += 1
        return n

    def _finish(self) -> _Path:
        """The size after each decision on the whole grid (invalid rows carry it), the events' loop rows as grid rows,
        and the codes in rule order: the skipped rows are inside the band, or on target where the held size is the
        target exactly."""
        path, rows = self.path, self.p.rows
        path.trade_rows = rows[path.trade_rows].tolist()
        path.liquidation_rows = rows[path.liquidation_rows].tolist()
        at, sizes = zip(*self.changes, strict=True) if self.changes else ((), ())
        changed = rows[np.asarray(at, dtype=int)]
        lengths = np.diff(np.concatenate(([0], changed, [len(path.perp_size)])))
        path.perp_size = np.repeat(np.concatenate(([0.0], sizes)), lengths)
        stepped = np.asarray(self.stepped, dtype=int)
        on_target = self.target == path.perp_size[rows]
        quiet_on_target = int(np.count_nonzero(on_target)) - int(np.count_nonzero(on_target[stepped]))
        quiet = {ON_TARGET: quiet_on_target, INSIDE_BAND: len(rows) - len(stepped) - quiet_on_target}
        counts = {code: path.codes.get(code, 0) + quiet.get(code, 0) for code in DECISION_CODES}
        path.codes = {code: count for code, count in counts.items() if count}
        return path


class _Summaries:
    """Per-block extremes that prove whole blocks quiet (`certificate`): the largest and smallest target of each
    block (per run), and the largest margin quantity (per margin ratio, shared by the runs over one history).

    Held size s ≠ 0, band b, at each row (target t, perp price p, cumulative funding F, margin ratio k):
    - the band, |t − s| < b·|t|: short (s < 0), s/(1 − b) < t < s/(1 + b); long, s/(1 + b) < t < s/(1 − b);
    - the margin, equity = E + s·((p − p₀) − (F − F₀)) ≥ k·|s|·p: short, (1 + k)·p − F ≤ E/|s| + p₀ − F₀;
      long, (k − 1)·p + F ≤ E/|s| − p₀ + F₀.
    Held size 0: the row is quiet only on target, t = 0. Each limit is tightened by `CERTIFY_TOLERANCE`, far
    more than the rounding of either form, so a certified block is quiet by the planner's own arithmetic too."""

    def __init__(self, prepared: PreparedHistory, target: np.ndarray, band: float, margin_ratio: float):
        self.prepared, self.k = prepared, margin_ratio
        self.highest, self.lowest = _block_extremes(target)
        # |s|/(1 + b) and |s|/(1 − b), moved inwards twice: the band narrowed by the tolerance (a margin in gap/target
        # terms, which float rounding cannot cross even at b = 1, where 1/(1 − b) would be infinite), and each limit
        # by the tolerance again (a margin over the rounding of the limit itself, which dominates at a tiny b).
        narrowed = band * (1 - CERTIFY_TOLERANCE)
        self.near = (1 + CERTIFY_TOLERANCE) / (1 + narrowed)
        self.far = (1 - CERTIFY_TOLERANCE) / (1 - narrowed)
        flat_levels = tuple(zip(self.highest, self.lowest, self.highest, strict=True))
        self.flat = (flat_levels, (_SMALLEST, -_SMALLEST, math.inf))  # held size 0: quiet where the target is 0
        self.sides: dict[bool, tuple[_Levels, float]] = {}

    def certificate(self, size: float, base: tuple[float, float, float]) -> tuple[_Levels, tuple[float, float, float]]:
        """Per level (largest target, smallest target, largest margin quantity), and the limits a block's must be
        below, above and below to be quiet."""
        if not size:
            return self.flat
        equity, price, paid = base
        short = size < 0
        levels, scale = self.sides[short] if short in self.sides else self._side(short)
        cushion = equity / abs(size)
        if short:
            upper, lower, headroom = size * self.near, size * self.far, cushion + (price - paid)
        else:
            upper, lower, headroom = size * self.far, size * self.near, cushion - (price - paid)
        return levels, (upper, lower, headroom - CERTIFY_TOLERANCE * (abs(cushion) + scale))

    def _side(self, short: bool) -> tuple[_Levels, float]:
        margin, scale = self.prepared.margin_maxima(self.k, short)
        self.sides[short] = (tuple(zip(self.highest, self.lowest, margin, strict=True)), scale)
        return self.sides[short]


_Levels = tuple[tuple[Sequence[float], Sequence[float], Sequence[float]], ...]
_SMALLEST = math.ulp(0.0)  # below it: exactly zero (for non-negative values)


def _block_extremes(values: np.ndarray) -> tuple[list[Sequence[float]], list[Sequence[float]]]:
    """Maxima and minima over the blocks of each level (`BLOCK_LEVELS`); the partial last block is NaN, never
    certified. Each level is a memoryview: indexed as floats, with no copy."""
    padded = _padded(values)
    return _block_reduce(padded, np.maximum), _block_reduce(padded, np.minimum)


def _padded(values: np.ndarray) -> np.ndarray:
    """The values followed by NaN up to a whole block of the largest level."""
    padded = np.full(-(-len(values) // BLOCK_LEVELS[-1]) * BLOCK_LEVELS[-1], np.nan)
    padded[: len(values)] = values
    return padded


def _block_reduce(padded: np.ndarray, pair: np.ufunc) -> list[Sequence[float]]:
    """`pair` (maximum or minimum: NaN wins) over each level's blocks, halving the rows at each pass: pairwise over
    the two halves of strided views is many times faster than a reduction along a short axis."""
    levels, width, current = [], 1, padded
    for rows in BLOCK_LEVELS:
        while width < rows:
            current, width = pair(current[0::2], current[1::2]), 2 * width
        levels.append(_floats(current))
    return levels


def _floats(values: np.ndarray) -> Sequence[float]:
    return cast(Sequence[float], np.ascontiguousarray(values, dtype=float).data)


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
    funding = held * prepared.funding_received_usd
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
    return spot_units * prepared.spot_step_usd + held * prepared.perp_step_usd


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
