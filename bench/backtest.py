"""Backtest benchmark: the fast engine beside a vectorised lower bound at 16 years, and a 1,000-configuration sweep.

    .venv/bin/python bench/backtest.py [--data-dir ../shared/data] [--spot ETH --hedge-with BTC] [--workers 2]
                                       [--years-copies 4] [--repeat 5]

16 years: shared/data holds 4 years of hourly closes (2019–2023); the series is the real one chained to itself
`--years-copies` times: each copy's spot, perp and funding-price closes are the original's scaled so that the copy
starts at the previous copy's last close (every hourly return, funding rate and gap is a real one; the seam is one
zero return), on an hourly grid continuing the original's.

Lower bound: what any backtest of the same hedge must compute, vectorised with numpy and nothing else: the perp
units the target ratio asks for at each close (sizing's conversion), held to the next close, and the spot and perp
mark-to-market plus funding on them — the 1:1 (or EWMA) P&L with rebalancing at every close, no band, no margin,
no costs. The engine is timed on the same inputs (history prepared, ratio series given: `run_backtest(prepared,
policy, config, ratio)`), and again end to end (preparing the history and estimating the ratio too).

Sweep: 10 estimators × 5 bands × 4 leverages × 5 taker fees (0, 2, 5, 10, 20 bps) = 1,000 configurations over the
4-year history, `run_sweep` on `--workers` processes, timed from the call (ratio estimation, preparation, the pool)
to the last result.

Targets (issue 18): engine ≤ 10× the lower bound for 1:1 and EWMA at 16 years; 1,000 configurations ≤ 5 s on 2 cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from hedger.backtest.data import HedgeHistory, align, load_binance
from hedger.backtest.engine import BacktestConfig, PreparedHistory, run_backtest, target_perp_units
from hedger.backtest.policies import policy_from_name, target_ratio
from hedger.backtest.sweep import SweepCase, run_sweep, standard_sweep

DEFAULT_DATA_DIR = Path(os.environ.get("HEDGER_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
SWEEP_FEES = (0.0, 0.0002, 0.0005, 0.0010, 0.0020)
TIMED_POLICIES = ("one_to_one", "ewma")


def main() -> None:
    args = _parser().parse_args()
    history = _history(args.data_dir, args.spot, args.hedge_with)
    long = chained(history, args.years_copies)
    single = {name: _single(long, name, args.repeat) for name in TIMED_POLICIES}
    cases = thousand_configurations()
    started = time.perf_counter()
    sweep = run_sweep(history, cases, workers=args.workers)
    sweep_s = time.perf_counter() - started
    print(
        json.dumps(
            {
                "benchmark": "backtest",
                "spot": history.spot_asset,
                "hedge_with": history.hedge_asset,
                "long_history": {
                    "rows": len(long),
                    "valid_rows": int(long.valid.sum()),
                    "years": round(long.years, 2),
                    "built_from": f"shared/data 2019–2023 chained {args.years_copies}×",
                },
                "single_run_16y": single,
                "sweep": {
                    "configurations": len(cases),
                    "rows": len(history),
                    "workers": args.workers,
                    "seconds": round(sweep_s, 3),
                    "per_configuration_ms": round(1000 * sweep_s / len(cases), 2),
                    "rebalances_median": statistics.median(row["rebalances"] for row in sweep),
                    "rebalances_max": max(row["rebalances"] for row in sweep),
                },
                "cpu_count": os.cpu_count(),
                "load_average_1m": round(os.getloadavg()[0], 2),
            },
            indent=2,
        )
    )


def chained(history: HedgeHistory, copies: int) -> HedgeHistory:
    """The history followed by `copies` − 1 copies of itself, each scaled to start where the previous one ended."""
    first, last = np.flatnonzero(history.valid)[[0, -1]]
    parts: dict[str, list[np.ndarray]] = {"spot_usd": [], "perp_usd": [], "funding_price_usd": []}
    scale = dict.fromkeys(parts, 1.0)
    for _ in range(copies):
        for name, chunks in parts.items():
            prices = getattr(history, name)
            chunks.append(prices * scale[name])
            scale[name] *= prices[last] / prices[first]
    hours = len(history) * copies
    grid = pd.date_range(history.close_time[0], periods=hours, freq="h", name=history.close_time.name)
    outlier = None if history.basis_outlier is None else np.tile(history.basis_outlier, copies)
    return dataclasses.replace(
        history,
        close_time=grid,
        **{name: np.concatenate(chunks) for name, chunks in parts.items()},
        funding_rate=np.tile(history.funding_rate, copies),
        valid=np.tile(history.valid, copies),
        basis_outlier=outlier,
    )


def lower_bound_pnl(history: HedgeHistory, ratio: np.ndarray, spot_units: float) -> np.ndarray:
    """Spot + perp mark-to-market + funding of the target hedge re-set at every valid close: numpy only."""
    rows = np.flatnonzero(history.valid)
    held = target_perp_units(history, ratio, spot_units)[rows[:-1]]
    spot, perp = history.spot_usd[rows], history.perp_usd[rows]
    funding = history.funding_rate[rows[1:]] * history.funding_price_usd[rows[1:]]
    return spot_units * np.diff(spot) + held * (np.diff(perp) - funding)


def thousand_configurations() -> list[SweepCase]:
    return [
        SweepCase(case.policy, dataclasses.replace(case.config, costs=dataclasses.replace(case.config.costs,
                                                                                           taker_fee_rate=fee)))
        for fee in SWEEP_FEES
        for case in standard_sweep()
    ]  # fmt: skip


def _single(history: HedgeHistory, name: str, repeat: int) -> dict[str, object]:
    config = BacktestConfig()
    prepared = PreparedHistory.of(history)
    policy = policy_from_name(name)
    ratio = target_ratio(history, policy.for_history(history))
    spot_units = config.spot_value_usd / history.spot_usd[prepared.rows[0]]
    bound = _timed(lambda: lower_bound_pnl(history, ratio, spot_units), repeat)
    engine = _timed(lambda: run_backtest(prepared, policy, config, ratio), repeat)
    end_to_end = _timed(lambda: run_backtest(history, policy, config), max(1, repeat // 2))
    result = run_backtest(prepared, policy, config, ratio)
    return {
        "lower_bound_ms": bound,
        "engine_ms": engine,
        "engine_over_lower_bound": round(engine["median"] / bound["median"], 2),
        "engine_ns_per_row": round(1e6 * engine["median"] / len(history), 1),
        "end_to_end_ms": end_to_end,
        "rebalances": int(np.count_nonzero(result.traded_notional_usd)),
        "top_ups": result.top_ups,
        "liquidations": len(result.liquidations),
    }


def _timed(run: Callable[[], object], repeat: int) -> dict[str, float]:
    run()  # warm
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return {"min": round(1000 * min(seconds), 2), "median": round(1000 * statistics.median(seconds), 2)}


def _history(data_dir: Path, spot: str, hedge_with: str) -> HedgeHistory:
    spot_market = load_binance(data_dir / f"binance_{spot.lower()}usdt_1h_2019_2023.csv")
    hedge = (
        spot_market
        if hedge_with == spot
        else load_binance(data_dir / f"binance_{hedge_with.lower()}usdt_1h_2019_2023.csv")
    )
    return align(spot_market, hedge)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--spot", default="ETH")
    parser.add_argument("--hedge-with", default="BTC")
    parser.add_argument("--years-copies", type=int, default=4, help="copies of the 4-year history chained")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    return parser


if __name__ == "__main__":
    main()
