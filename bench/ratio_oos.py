"""Out-of-sample hedge effectiveness of every ratio estimator on shared/data, beside EWMA, 1:1 and the static
in-sample OLS ceiling; prints JSON.

    .venv/bin/python bench/ratio_oos.py [--data-dir ../shared/data] [--skip-markov-1h]

Walk-forward (`hedger.strategy.ratio.live.walk_forward`): the ratio known at t, from returns up to t, hedges the
return over (t, t+1]. Cases: ETH spot hedged with the BTC perp at 1 h and 1 d; BTC spot with the BTC perp at 1 h
and 1 d (Binance closes, 2019-09 → 2023-12).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hedger.backtest.data import read_price_history
from hedger.errors import DataError
from hedger.strategy.ratio import EWMARatio, OLSRatio, RollingOLSRatio, hedge_effectiveness, paired_returns
from hedger.strategy.ratio.live import walk_forward
from hedger.strategy.ratio.regimes import KalmanRatio, MarkovRatio, TrendConditionedRatio

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
CASES = (("ETH", "BTC", "1h"), ("ETH", "BTC", "1D"), ("BTC", "BTC", "1h"), ("BTC", "BTC", "1D"))


def estimators(interval: str, markov: bool) -> dict:
    hourly = interval == "1h"
    lam = 0.995 if hourly else 0.97
    window = 720 if hourly else 90
    found = {
        f"ewma_{lam}": EWMARatio(lam),
        f"rolling_ols_{window}": RollingOLSRatio(window),
        "expanding_ols": OLSRatio(),
        f"kalman_{lam}": KalmanRatio(lam, warm_up=168 if hourly else 30),
        f"trend_ewma_{lam}_x0.5": TrendConditionedRatio(EWMARatio(lam), lookback=168 if hourly else 30),
    }
    if markov:
        refit = 2160 if hourly else 90
        found["markov_2state"] = MarkovRatio(
            refit=refit, fit_window=2160 if hourly else 365, min_fit=500 if hourly else 180
        )
    return found


def main() -> None:
    args = _parser().parse_args()
    prices = {
        asset: read_price_history(args.data_dir / f"binance_{asset.lower()}usdt_1h_2019_2023.csv")
        for asset in ("ETH", "BTC")
    }
    rows = []
    for spot_asset, perp_asset, interval in CASES:
        spot, perp = paired_returns(prices[spot_asset]["spot_close"], prices[perp_asset]["perp_close"], interval)
        static = OLSRatio().estimate(spot, perp)
        case = {
            "spot": spot_asset, "hedge_perp": perp_asset, "interval": interval,
            "static_ols_in_sample": {"ratio": static.ratio, "he": static.effectiveness},
            "one_to_one_full_sample_he": hedge_effectiveness(spot, perp, 1.0),
            "estimators": {},
        }  # fmt: skip
        markov = not (args.skip_markov_1h and interval == "1h")
        for name, estimator in estimators(interval, markov).items():
            started = time.perf_counter()
            try:
                result = walk_forward(estimator, spot, perp).to_jsonable()
            except DataError as error:  # e.g. a regime model that never fits: reported, not hidden
                result = {"error": str(error.args[0])}
            case["estimators"][name] = {**result, "seconds": round(time.perf_counter() - started, 2)}
            print(spot_asset, perp_asset, interval, name, case["estimators"][name], file=sys.stderr, flush=True)
        rows.append(case)
    print(json.dumps({"benchmark": "ratio_out_of_sample", "cases": rows}, indent=2))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--skip-markov-1h", action="store_true", help="leave out the slow hourly Markov fit")
    return parser


if __name__ == "__main__":
    main()
