"""Backtest benchmark: one 4-year hourly run and a sweep of 200 policy configurations; prints JSON.

    .venv/bin/python bench/backtest.py [--data-dir ../shared/data] [--spot ETH --hedge-with BTC] [--workers 2]

Targets: one run ≤ 0.5 s; 200 configurations ≤ 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from hedger.backtest.data import align, load_binance
from hedger.backtest.engine import run_backtest
from hedger.backtest.metrics import compute_metrics
from hedger.backtest.policies import policy_from_name
from hedger.backtest.sweep import run_sweep, standard_sweep

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    args = _parser().parse_args()
    started = time.perf_counter()
    spot = load_binance(args.data_dir / f"binance_{args.spot.lower()}usdt_1h_2019_2023.csv")
    hedge = (
        spot
        if args.hedge_with == args.spot
        else load_binance(args.data_dir / f"binance_{args.hedge_with.lower()}usdt_1h_2019_2023.csv")
    )
    history = align(spot, hedge)
    load_s = time.perf_counter() - started

    policy = policy_from_name(args.policy)
    run_s = _timed(lambda: run_backtest(history, policy), args.repeat)
    run_and_metrics_s = _timed(lambda: compute_metrics(run_backtest(history, policy)), args.repeat)

    cases = standard_sweep()
    started = time.perf_counter()
    sweep = run_sweep(history, cases, workers=args.workers)
    sweep_s = time.perf_counter() - started

    best = max(sweep, key=lambda row: row["he_1h"])
    print(
        json.dumps(
            {
                "rows": len(history),
                "valid_rows": int(history.valid.sum()),
                "spot": history.spot_asset,
                "hedge_with": history.hedge_asset,
                "load_and_align_s": round(load_s, 4),
                "single_run": {"policy": args.policy, "repeats": args.repeat, **run_s},
                "single_run_with_metrics": run_and_metrics_s,
                "sweep": {
                    "configurations": len(cases),
                    "workers": args.workers,
                    "seconds": round(sweep_s, 3),
                    "per_configuration_ms": round(1000 * sweep_s / len(cases), 2),
                    "best_he_1h": {"label": best["label"], "he_1h": best["he_1h"], "he_1d": best["he_1d"]},
                    "liquidations_by_leverage": _liquidations_by_leverage(sweep),
                },
                "cpu_count": os.cpu_count(),
                "load_average_1m": os.getloadavg()[0],
            },
            indent=2,
        )
    )


def _timed(run, repeat: int) -> dict[str, float]:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return {"min_s": round(min(seconds), 4), "median_s": round(statistics.median(seconds), 4)}


def _liquidations_by_leverage(rows: list[dict]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in rows:
        key = f"{row['leverage']:g}x"
        totals[key] = totals.get(key, 0) + row["liquidations"]
    return totals


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--spot", default="ETH")
    parser.add_argument("--hedge-with", default="BTC")
    parser.add_argument("--policy", default="rolling_ols", help="policy of the single timed run")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    return parser


if __name__ == "__main__":
    main()
