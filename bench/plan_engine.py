"""Plan-engine benchmark: 4 years of hourly history replayed through the live build_plan; prints JSON.

    .venv/bin/python bench/plan_engine.py [--data-dir ../shared/data] [--spot ETH --hedge-with BTC] [--policy ewma]

Target: ~35k closes in ≤ 60 s on 2 cores. Also runs the fast engine on the same history and reports whether the
two made the same trades.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from hedger.backtest.data import align, load_binance
from hedger.backtest.engine import run_backtest
from hedger.backtest.plan_engine import PlanEngineConfig, run_plan_backtest
from hedger.backtest.policies import policy_from_name

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    args = _parser().parse_args()
    spot = load_binance(args.data_dir / f"binance_{args.spot.lower()}usdt_1h_2019_2023.csv")
    hedge = (
        spot
        if args.hedge_with == args.spot
        else load_binance(args.data_dir / f"binance_{args.hedge_with.lower()}usdt_1h_2019_2023.csv")
    )
    history = align(spot, hedge)
    policy = policy_from_name(args.policy)
    started = time.perf_counter()
    fast = run_backtest(history, policy)
    fast_s = time.perf_counter() - started
    started = time.perf_counter()
    replay = run_plan_backtest(history, policy, engine=PlanEngineConfig(initial_collateral_usd=args.collateral))
    plan_s = time.perf_counter() - started
    fast_rows = np.flatnonzero(np.diff(np.concatenate(([0.0], fast.perp_size))) != 0)
    plan_rows = np.flatnonzero(np.diff(np.concatenate(([0.0], replay.result.perp_size))) != 0)
    print(
        json.dumps(
            {
                "benchmark": "plan_engine",
                "history": f"{args.spot} spot hedged with the {args.hedge_with} perp",
                "closes": len(history),
                "policy": args.policy,
                "plan_engine_s": round(plan_s, 2),
                "plan_engine_ms_per_close": round(1000 * plan_s / len(history), 3),
                "target_s": 60,
                "fast_engine_s": round(fast_s, 3),
                "verdicts": replay.verdicts,
                "guard_codes": replay.guard_codes,
                "halted_closes": len(replay.halted_rows),
                "trades": {"fast": len(fast_rows), "plan": len(plan_rows)},
                "same_trade_closes": bool(np.array_equal(fast_rows, plan_rows)),
                "book_pnl_usd": {
                    "fast": round(float(fast.book_pnl_usd.sum()), 2),
                    "plan": round(float(replay.result.book_pnl_usd.sum()), 2),
                },
            },
            indent=2,
        )
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--spot", default="ETH")
    parser.add_argument("--hedge-with", default="BTC")
    parser.add_argument("--policy", default="ewma")
    parser.add_argument("--collateral", type=float, default=2_000_000.0, help="venue collateral at the start, USD")
    return parser


if __name__ == "__main__":
    main()
