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
after the loop; the loop itself works on Python floats only.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from hedger.backtest.data import HedgeHistory
from hedger.backtest.policies import HedgePolicy, target_ratio
from hedger.strategy.policy import RebalancePolicy, rebalance_decision


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
        value = self.spot_units * self.history.spot_usd[self._first_valid] + np.cumsum(self.book_pnl_usd)
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

    @property
    def _first_valid(self) -> int:
        return int(np.flatnonzero(self.history.valid)[0])

    def _ratio_of(self, size: np.ndarray) -> np.ndarray:
        h = self.history
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = -size / (self.spot_units * h.perp_units_per_spot_unit)
        return np.where(h.valid, ratio, np.nan)


def run_backtest(
    history: HedgeHistory,
    policy: HedgePolicy,
    config: BacktestConfig | None = None,
    ratio: np.ndarray | None = None,
) -> BacktestResult:
    """Run one policy over a history. `ratio` (the target ratio per hour) may be passed to share it in sweeps."""
    config = config or BacktestConfig()
    policy = policy.for_history(history)
    ratio = target_ratio(history, policy) if ratio is None else ratio
    first = int(np.flatnonzero(history.valid)[0])
    spot_units = config.spot_value_usd / history.spot_usd[first]
    rebalance = planner_policy(policy, config.costs)
    path = _simulate(history, target_perp_units(history, ratio, spot_units), rebalance, config.margin)
    return _account(history, policy, rebalance, config, ratio, spot_units, path)


def target_perp_units(history: HedgeHistory, ratio: np.ndarray, spot_units: float) -> np.ndarray:
    """Signed perp units the hedge targets at each close: `hedger.strategy.sizing.target_units`, vectorised."""
    return -ratio * spot_units * history.perp_units_per_spot_unit


@dataclass
class _Path:
    """What the loop records: the position after each decision and the sparse path-dependent events."""

    perp_size: list[float]
    trade_rows: list[int] = field(default_factory=list)
    trade_sizes: list[float] = field(default_factory=list)
    liquidation_rows: list[int] = field(default_factory=list)
    liquidation_equity_usd: list[float] = field(default_factory=list)
    top_up_usd: list[float] = field(default_factory=list)
    codes: Counter[str] = field(default_factory=Counter)


def _simulate(history: HedgeHistory, target_size: np.ndarray, rebalance: RebalancePolicy, margin: MarginModel) -> _Path:
    maintenance_ratio = margin.maintenance_margin_ratio
    initial_ratio = 1.0 / margin.leverage
    top_up_ratio = -math.inf if margin.top_up_below is None else margin.top_up_below * initial_ratio
    decide = rebalance_decision
    perp = history.perp_usd.tolist()
    funding_rate, funding_price = history.funding_rate.tolist(), history.funding_price_usd.tolist()
    valid, target, close_s = history.valid.tolist(), target_size.tolist(), history.close_time.as_unit("s").asi8.tolist()
    path = _Path(perp_size=[0.0] * len(perp))
    recorded_sizes, codes = path.perp_size, path.codes
    size = equity = 0.0
    last_trade_s = -math.inf
    previous_perp = math.nan
    for i, price in enumerate(perp):
        if not valid[i]:
            recorded_sizes[i] = size
            continue
        if size:
            equity += size * (price - previous_perp) - size * funding_rate[i] * funding_price[i]
            notional = abs(size) * price
            if equity < maintenance_ratio * notional:
                path.liquidation_rows.append(i)
                path.liquidation_equity_usd.append(equity)
                size = equity = 0.0
                last_trade_s = close_s[i]
            elif equity < top_up_ratio * notional:
                path.top_up_usd.append(initial_ratio * notional - equity)
                equity = initial_ratio * notional
        previous_perp = price
        decision = decide(size, target[i], price, close_s[i] - last_trade_s, rebalance)
        codes[decision.code] += 1
        if decision.trade:
            size += decision.size_delta
            equity = initial_ratio * abs(size) * price
            last_trade_s = close_s[i]
            path.trade_rows.append(i)
            path.trade_sizes.append(decision.size_delta)
        recorded_sizes[i] = size
    return path


def planner_policy(policy: HedgePolicy, costs: CostModel) -> RebalancePolicy:
    """The policy's rebalance thresholds as floats, its worth-it test priced with the backtest's costs."""
    fee_rate = Decimal(str(costs.taker_fee_rate + costs.slippage_rate))
    gas_usd = Decimal(str(costs.gas_usd_per_rebalance))
    return dataclasses.replace(policy.rebalance, fee_rate=fee_rate, gas_usd=gas_usd).as_floats()


def _account(
    history: HedgeHistory,
    policy: HedgePolicy,
    rebalance: RebalancePolicy,
    config: BacktestConfig,
    ratio: np.ndarray,
    spot_units: float,
    path: _Path,
) -> BacktestResult:
    """Vectorised accounting of a simulated path: P&L, funding and costs per hour."""
    n = len(history)
    perp_size = np.asarray(path.perp_size)
    held = np.concatenate(([0.0], perp_size[:-1]))
    liquidated = np.asarray(path.liquidation_rows, dtype=int)
    price_pnl = _price_pnl(history, spot_units, held)
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
        decision_codes=dict(path.codes),
    )


def _price_pnl(history: HedgeHistory, spot_units: float, held: np.ndarray) -> np.ndarray:
    """Spot and perp mark-to-market from the previous valid close to each valid close (spans gaps exactly)."""
    rows = np.flatnonzero(history.valid)
    pnl = np.zeros(len(history))
    spot, perp = history.spot_usd[rows], history.perp_usd[rows]
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
