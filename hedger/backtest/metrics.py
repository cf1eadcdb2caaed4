"""Metrics of a backtest: hedge effectiveness, tracking, costs, carry, drawdown, liquidations.

Returns are P&L over a period divided by the spot value at its start. A step is used at the 1 h horizon
only when both of its ends are valid consecutive hours (a return spanning a gap is dropped and counted);
at the 1 d horizon, only when both ends are valid UTC midnights exactly 24 hours apart.

- Hedge effectiveness (Ederington): HE = 1 − Var(hedged) / Var(unhedged), on the price P&L of the book
  (spot + perp mark-to-market) — the classic measure; `he_1h_book` also includes funding, costs and
  liquidation losses.
- Tracking error: the standard deviation of (target ratio − held ratio) × perp return, annualised: what
  banding, cooldowns and liquidations cost against holding the target ratio continuously.
- Net carry: funding received − trading fees − slippage − gas (liquidation losses reported apart); per year,
  as a percentage of the average spot value held (the hedge notional of a 1:1 hedge).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hedger.backtest.engine import BacktestResult

HOURS_PER_YEAR = 8760


def ederington(hedged: np.ndarray, unhedged: Steps) -> float:
    """1 − Var(hedged) / Var(unhedged) (sample variances); NaN with fewer than two observations."""
    if len(hedged) < 2 or unhedged.variance == 0:
        return math.nan
    return float(1.0 - np.var(hedged, ddof=1) / unhedged.variance)


@dataclass(frozen=True)
class Steps:
    """The steps of one horizon, (start, end] row pairs, and the unhedged book's returns over them: the same for
    every run over a history, so computed once per history (`PreparedHistory.memo`)."""

    start: np.ndarray
    end: np.ndarray
    spot_start_usd: np.ndarray
    unhedged: np.ndarray
    variance: float  # of `unhedged`, sample (ddof 1); NaN with fewer than two steps


def steps(result: BacktestResult, horizon: str) -> Steps:
    """Hourly steps ("1h"): rows i whose step from i−1 spans exactly one hour with both ends valid; daily ("1d"):
    the UTC days whose midnights are both valid and 24 h apart."""

    def compute() -> Steps:
        prepared = result.prepared
        hours = prepared.hourly_steps
        start, end = (hours - 1, hours) if horizon == "1h" else prepared.daily_ends
        spot = prepared.history.spot_usd
        unhedged = spot[end] / spot[start] - 1.0
        variance = float(np.var(unhedged, ddof=1)) if len(unhedged) >= 2 else math.nan
        return Steps(start, end, spot[start], unhedged, variance)

    return result.prepared.memo(("steps", horizon), compute)


def hedged_returns(result: BacktestResult, pnl_usd: np.ndarray, horizon: Steps) -> np.ndarray:
    """P&L accrued in (start, end] over the spot value at start."""
    cumulative = np.cumsum(pnl_usd)
    return (cumulative[horizon.end] - cumulative[horizon.start]) / (result.spot_units * horizon.spot_start_usd)


def hedge_effectiveness(result: BacktestResult) -> dict[str, float | int]:
    hourly, daily = steps(result, "1h"), steps(result, "1d")
    hedged_1h = hedged_returns(result, result.price_pnl_usd, hourly)
    book_1h = hedged_returns(result, result.book_pnl_usd, hourly)
    hedged_1d = hedged_returns(result, result.price_pnl_usd, daily)
    valid_steps = len(result.prepared.rows) - 1
    return {
        "he_1h": ederington(hedged_1h, hourly),
        "he_1d": ederington(hedged_1d, daily),
        "he_1h_book": ederington(book_1h, hourly),
        "hedged_vol_annualised": float(np.std(hedged_1h, ddof=1) * math.sqrt(HOURS_PER_YEAR)),
        "unhedged_vol_annualised": math.sqrt(hourly.variance * HOURS_PER_YEAR),
        "hours_used": len(hourly.end),
        "hours_dropped_gap": valid_steps - len(hourly.end),
        "days_used": len(daily.end),
    }


def tracking_error(result: BacktestResult) -> float:
    hours = result.prepared.hourly_steps
    perp = result.history.perp_usd
    held_ratio = result.realised_ratio[hours - 1]
    shortfall = (result.target_ratio[hours - 1] - held_ratio) * (perp[hours] / perp[hours - 1] - 1.0)
    return float(np.std(shortfall, ddof=1) * math.sqrt(HOURS_PER_YEAR))


def max_drawdown(value: np.ndarray) -> tuple[float, float]:
    """(largest fall from a running peak in USD, as a fraction of that peak), ignoring NaN hours."""
    value = value[np.isfinite(value)]
    peak = np.maximum.accumulate(value)
    fall = peak - value
    return float(fall.max()), float((fall / peak).max())


def ratio_tracking(result: BacktestResult) -> dict[str, float]:
    valid = result.history.valid
    target, realised, drift = result.target_ratio[valid], result.realised_ratio[valid], result.drift_ratio[valid]
    band = result.rebalance.band_rel
    with np.errstate(invalid="ignore", divide="ignore"):
        off_band = np.abs(drift - target) > band * np.abs(target)
    return {
        "mean_target_ratio": float(np.mean(target)),
        "mean_realised_ratio": float(np.mean(realised)),
        "mean_abs_ratio_gap": float(np.mean(np.abs(realised - target))),
        "share_hours_outside_band": float(np.mean(off_band)),
    }


def carry_and_costs(result: BacktestResult) -> dict[str, float | int]:
    """Funding and costs in USD, and per year as a percentage of the average spot value held."""
    funding = float(result.funding_usd.sum())
    fees, slippage, gas = (float(a.sum()) for a in (result.trading_fee_usd, result.slippage_usd, result.gas_usd))
    net_carry = funding - fees - slippage - gas
    per_year_pct = 100.0 / unhedged_mean_value_usd(result) / result.history.years
    return {
        "rebalances": int(np.count_nonzero(result.traded_notional_usd)),
        "traded_notional_usd": float(result.traded_notional_usd.sum()),
        "trading_fees_usd": fees,
        "slippage_usd": slippage,
        "gas_usd": gas,
        "funding_pnl_usd": funding,
        "net_carry_usd": net_carry,
        "funding_pct_per_year": funding * per_year_pct,
        "net_carry_pct_per_year": net_carry * per_year_pct,
    }


def unhedged_mean_value_usd(result: BacktestResult) -> float:
    return result.prepared.memo(
        ("unhedged mean value", result.spot_units), lambda: float(np.nanmean(result.unhedged_value_usd))
    )


def margin_events(result: BacktestResult) -> dict[str, float | int]:
    return {
        "liquidations": len(result.liquidations),
        "liquidation_loss_usd": float(result.liquidation_loss_usd.sum()),
        "top_ups": result.top_ups,
        "top_up_usd": result.top_up_usd,
    }


def compute_metrics(result: BacktestResult) -> dict[str, float | int]:
    """Every metric of one run, as plain JSON-able numbers."""
    hedged_dd_usd, hedged_dd = max_drawdown(result.book_value_usd)
    _, unhedged_dd = result.prepared.memo(
        ("unhedged drawdown", result.spot_units), lambda: max_drawdown(result.unhedged_value_usd)
    )
    book = result.book_value_usd
    return {
        **hedge_effectiveness(result),
        "tracking_error_annualised": tracking_error(result),
        **carry_and_costs(result),
        **margin_events(result),
        "max_drawdown_usd": hedged_dd_usd,
        "max_drawdown_pct": 100.0 * hedged_dd,
        "unhedged_max_drawdown_pct": 100.0 * unhedged_dd,
        "final_book_value_usd": float(book[np.isfinite(book)][-1]),
        **ratio_tracking(result),
    }
