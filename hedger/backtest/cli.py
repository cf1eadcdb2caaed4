"""`hedger backtest`: run named policies over history files and write a report.

    hedger backtest --data binance_btcusdt_1h_2019_2023.csv --policy one_to_one,ols --out reports/btc
    hedger backtest --data binance_ethusdt_1h_2019_2023.csv,binance_btcusdt_1h_2019_2023.csv \\
        --spot ETH --hedge-with BTC --out reports/eth-with-btc
    hedger backtest --data binance_btcusdt_1h_2019_2023.csv,dydx_btcusd_funding_1h_2022_2023.csv \\
        --funding dydx --out reports/btc-dydx

`--data` takes Binance hourly files (spot, perp, mark, 8-hourly funding) and dYdX hourly funding files,
comma-separated; the kind is read from each file's header and the asset from its name or `Symbol`
column (or given as `ASSET=PATH`). `--spot` picks the asset held, `--hedge-with` the perp that hedges it,
`--funding` whose funding the perp pays (Binance 8-hourly, or dYdX hourly over its 2022–2023 span).

Across asset classes, on daily (or monthly) closes of markets that keep hours (hedger/backtest/cross_asset.py):

    hedger backtest --cross "GOOG=$(.venv/bin/python scripts/wheel_data.py backtesting test/GOOG.csv)" \\
        --hedge-with arch:nasdaq --out reports/goog-nasdaq
    hedger backtest --cross arch:crude.WTI --hedge-with arch:crude.Brent --max-gap 40D --window 60 --out reports/wti

`--cross` is the holding's closes (`arch:<set>` from the arch wheel, or `NAME=CSV`), `--hedge-with` one perp
underlying or several (a basket, comma-separated); funding is modelled (`--funding-apr`).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from hedger.errors import ConfigError, DataError

if TYPE_CHECKING:
    from hedger.backtest.data import HedgeHistory

BASIS_POINT = 1e-4
STANDARD_POLICIES = "unhedged,one_to_one,partial_50,ols,rolling_ols,ewma,band_1,band_10,band_25"
DATA_FILES = (
    "--data takes Binance hourly CSVs (timestamp_utc, perp_close, spot_close, mark_close, funding_rate) and dYdX "
    "funding CSVs (Symbol, Date, Funding Rate)"
)


class Bounds(NamedTuple):
    """The values a numeric flag takes: from `low` to `high` (None: unbounded), each included unless `*_open`."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def problem(self, value: float) -> str | None:
        """Why `value` is refused, or None."""
        if not math.isfinite(value):
            return "not a finite number"
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        return f"outside {self}" if below or above else None

    def __str__(self) -> str:
        low = "(-∞" if self.low is None else f"{'(' if self.low_open else '['}{self.low:g}"
        high = "∞)" if self.high is None else f"{self.high:g}{')' if self.high_open else ']'}"
        return f"{low}, {high}"


POSITIVE, NOT_NEGATIVE = Bounds(0, low_open=True), Bounds(0)
WRITABLE = "give a directory you can create and write to"


def add_backtest_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `backtest` on the `hedger` subcommands."""
    parser = subparsers.add_parser(
        "backtest",
        help="run hedge policies over price and funding history; write metrics.json, charts and an HTML report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=_comma_list, help="FILE[,FILE]: Binance and dYdX CSVs")
    parser.add_argument("--cross", help="cross-asset mode: the holding's daily closes, arch:<set> or NAME=CSV")
    parser.add_argument("--window", type=int, default=250, help="cross-asset: rolling window, in periods")
    parser.add_argument("--max-gap", default="5D", help="cross-asset: longest span one return may cover")
    parser.add_argument(
        "--funding-apr", type=float, default=0.05, help="cross-asset: modelled funding the short pays a year"
    )
    parser.add_argument(
        "--policy",
        type=_comma_list,
        default=STANDARD_POLICIES,
        help=f"NAME[,NAME] (default {STANDARD_POLICIES}); see hedger/backtest/policies.py for the names",
    )
    parser.add_argument("--out", required=True, type=Path, help="directory for the report")
    parser.add_argument("--spot", help="asset held (default: the first Binance file's)")
    parser.add_argument("--hedge-with", help="asset of the perp that hedges it (default: --spot)")
    parser.add_argument("--funding", choices=("binance", "dydx"), default="binance", help="funding source")
    parser.add_argument("--spot-usd", type=float, default=1_000_000.0, help="spot value held at the start")
    parser.add_argument("--fee-bps", type=float, default=5.0, help="taker fee, bps of traded notional")
    parser.add_argument("--slippage-bps", type=float, default=2.0, help="slippage, bps of traded notional")
    parser.add_argument("--gas-usd", type=float, default=1.0, help="gas per rebalance, USD")
    parser.add_argument("--leverage", type=float, default=3.0, help="collateral = notional / leverage")
    parser.add_argument("--maintenance-margin", type=float, default=0.03, help="fraction of notional")
    parser.add_argument(
        "--top-up-below",
        type=float,
        default=0.5,
        help="top up to initial margin when equity falls below this fraction of it (0: never)",
    )
    parser.add_argument(
        "--engine",
        choices=("fast", "plan"),
        default="fast",
        help="fast: the vectorised accounting loop; plan: every close replayed through the live build_plan",
    )
    parser.add_argument(
        "--sweep",
        choices=("standard",),
        help="run a sweep instead of --policy: standard = 10 estimators x 5 bands x 4 leverages (200 runs)",
    )
    parser.add_argument("--workers", type=int, default=2, help="sweep: local worker processes")
    parser.add_argument("--scheduler", help="sweep: run on this dask.distributed scheduler (tcp://HOST:PORT)")
    parser.set_defaults(handler=run_backtest_command)
    return parser


def run_backtest_command(args: argparse.Namespace) -> int:
    check_flags(args)
    if args.cross:
        return run_cross_asset(args)
    if not args.data:
        raise DataError("--data is required (or --cross for a cross-asset backtest)", "see `hedger backtest --help`")
    # Imported here, not at the top: `hedger --help` should not load pandas and matplotlib.
    from hedger.backtest.engine import BacktestConfig, CostModel, MarginModel, run_backtest
    from hedger.backtest.metrics import compute_metrics
    from hedger.backtest.policies import policy_from_name
    from hedger.backtest.report import summary_table, write_report

    policies = [policy_from_name(name) for name in args.policy]  # a bad name is refused before the files are read
    history = history_from_files(args.data, args.spot, args.hedge_with, args.funding)
    for warning in history.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    config = BacktestConfig(
        spot_value_usd=args.spot_usd,
        costs=CostModel(args.fee_bps * BASIS_POINT, args.slippage_bps * BASIS_POINT, args.gas_usd),
        margin=MarginModel(args.leverage, args.maintenance_margin, args.top_up_below or None, args.maintenance_margin),
    )
    if args.sweep:
        return _sweep(history, config, args)
    if args.engine == "plan":
        from hedger.backtest.plan_engine import run_plan_backtest

        replays = [run_plan_backtest(history, policy, config) for policy in policies]
        results = [replay.result for replay in replays]
        for replay in replays:
            halts = len(replay.halted_rows)
            print(f"{replay.result.policy.name}: plan verdicts {replay.verdicts}; {halts} halted closes; "
                  f"guards {replay.guard_codes or 'none'}; {replay.rejected_fills} fills rejected")  # fmt: skip
    else:
        results = [run_backtest(history, policy, config) for policy in policies]
    metrics = {result.policy.name: compute_metrics(result) for result in results}
    files = write_report(results, metrics, args.out)
    print(_headline(history))
    print(summary_table(metrics))
    if args.engine != "plan":
        print(_FAST_ENGINE_NOTE.format(top_ups=f"topped up from outside the book below {args.top_up_below:g} of its"
                                       " initial margin" if args.top_up_below else "never topped up"))  # fmt: skip
    print(f"wrote {files.metrics_json}, {len(files.charts)} charts and {files.html}")
    return 0


_FAST_ENGINE_NOTE = (
    "fast engine: the live rebalance rule on a model margin account ({top_ups}), no guards; `--engine plan`"
    " replays the keeper's own planner (guards, the wallet's collateral) and may differ a lot (docs/backtest.md)"
)


def _sweep(history: HedgeHistory, config: object, args: argparse.Namespace) -> int:
    import json

    from hedger.backtest.sweep import run_sweep, standard_sweep

    rows = run_sweep(history, standard_sweep(config), workers=args.workers, scheduler=args.scheduler)  # type: ignore[arg-type]
    path = args.out / "sweep.json"
    path.write_text(json.dumps({"history": history.describe(), "runs": rows}, indent=2, default=str))
    best = max(rows, key=lambda row: float(row["he_1h"]))  # type: ignore[arg-type]
    where = f"on {args.scheduler}" if args.scheduler else f"on {args.workers} local processes"
    print(_headline(history))
    print(f"{len(rows)} runs {where}; best hourly HE {best['label']}: {float(best['he_1h']):.4%}")  # type: ignore[arg-type]
    print(f"wrote {path}")
    return 0


def run_cross_asset(args: argparse.Namespace) -> int:
    """`--cross`: the holding hedged with one perp underlying or a basket, out of sample (cross_asset.py)."""
    from hedger.backtest.cross_asset import CrossConfig, cross_backtest, load_closes, summary, write

    if not args.hedge_with:
        raise DataError("--cross needs --hedge-with", "give arch:<set> or NAME=CSV, comma-separated for a basket")
    config = CrossConfig(
        window=args.window, max_gap=args.max_gap, funding_apr=args.funding_apr, fee_rel=args.fee_bps * BASIS_POINT
    )
    hedges = [load_closes(spec) for spec in _comma_list(args.hedge_with)]
    result = cross_backtest(load_closes(args.cross), hedges, config)
    print(summary(result))
    print(f"wrote {write(result, args.out)}")
    return 0


def check_flags(args: argparse.Namespace) -> None:
    """Refuse a numeric flag outside its range, a margin that liquidates as it opens, an empty `--policy` and an
    `--out` that cannot be written, before any file is read (ConfigError naming the flag)."""
    from hedger.strategy.ratio.stats import MIN_OLS_OBSERVATIONS

    bounds = {
        "--spot-usd": (POSITIVE, "the spot value held at the start, USD"),
        "--fee-bps": (NOT_NEGATIVE, "the taker fee, bps of traded notional"),
        "--slippage-bps": (NOT_NEGATIVE, "slippage, bps of traded notional"),
        "--gas-usd": (NOT_NEGATIVE, "gas per rebalance, USD"),
        "--leverage": (POSITIVE, "the notional over the collateral"),
        "--maintenance-margin": (Bounds(0, 1, high_open=True), "a fraction of the notional"),
        "--top-up-below": (Bounds(0, 1), "a fraction of the initial margin; 0 never tops up"),
        "--funding-apr": (Bounds(), "the modelled funding a year, a fraction (0.05: 5 %)"),
        "--window": (Bounds(MIN_OLS_OBSERVATIONS), "the rolling window, in periods"),
        "--workers": (Bounds(1), "local worker processes"),
    }
    for flag, (allowed, meaning) in bounds.items():
        value = getattr(args, flag.removeprefix("--").replace("-", "_"))
        if problem := allowed.problem(value):
            raise ConfigError(flag, f"{value:g}", problem, f"{flag} is {meaning}: give a value in {allowed}")
    if args.maintenance_margin >= 1 / args.leverage:
        raise ConfigError(
            "--maintenance-margin", f"{args.maintenance_margin:g}",
            f"not below the initial margin 1 / --leverage = {1 / args.leverage:.4g}: every hedge would be "
            "liquidated as it opens", "lower --maintenance-margin or --leverage",
        )  # fmt: skip
    if not args.policy:
        raise ConfigError(
            "--policy", "(empty)", "names no policy", f"e.g. --policy one_to_one,ewma (default {STANDARD_POLICIES})"
        )
    _check_max_gap(args.max_gap)
    _check_writable(args.out)


def _check_max_gap(text: str) -> None:
    import pandas as pd

    try:
        positive = pd.Timedelta(text) > pd.Timedelta(0)
    except ValueError:
        positive = False
    if not positive:
        raise ConfigError("--max-gap", text, "not a positive time span", "e.g. 5D (five days), 40D for monthly closes")


def _check_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        writable = os.access(directory, os.W_OK)
    except OSError as error:
        raise ConfigError("--out", str(directory), error.strerror or str(error), WRITABLE) from error
    if not writable:
        raise ConfigError("--out", str(directory), "not writable", WRITABLE)


def history_from_files(
    paths: list[str], spot: str | None = None, hedge_with: str | None = None, funding: str = "binance"
) -> HedgeHistory:
    """Load the files, then align the spot asset with the hedge perp and the chosen funding."""
    from hedger.backtest.data import MarketHistory, align, load_binance, load_dydx_funding

    markets: dict[str, MarketHistory] = {}
    dydx = {}
    for entry in paths:
        asset, path = _asset_and_path(entry)
        if _is_dydx(path):
            rates = load_dydx_funding(path)
            dydx[asset or rates.asset] = rates
        else:
            market = load_binance(path, asset)
            markets.setdefault(market.asset, market)
    if not markets:
        raise DataError("no Binance price file in --data", "pass at least one binance_<asset>usdt_1h_*.csv")
    spot = (spot or next(iter(markets))).upper()
    hedge_with = (hedge_with or spot).upper()
    for asset in (spot, hedge_with):
        if asset not in markets:
            raise DataError(
                f"no price file for {asset} in --data (have {sorted(markets)})",
                f"add binance_{asset.lower()}usdt_1h_*.csv to --data, or pick --spot/--hedge-with among those",
            )
    if funding == "dydx" and hedge_with not in dydx:
        raise DataError(
            f"--funding dydx needs the dYdX funding file of {hedge_with} in --data",
            f"add dydx_{hedge_with.lower()}usd_funding_1h_*.csv to --data, or use --funding binance",
        )
    return align(markets[spot], markets[hedge_with], dydx.get(hedge_with) if funding == "dydx" else None)


def _asset_and_path(entry: str) -> tuple[str | None, str]:
    asset, separator, path = entry.partition("=")
    return (asset.upper(), path) if separator else (None, entry)


def _is_dydx(path: str) -> bool:
    from hedger.backtest.data import UNREADABLE, unreadable

    try:
        with open(path) as file:
            return file.readline().startswith("Symbol,")
    except UNREADABLE as error:
        raise unreadable(path, error, DATA_FILES) from error


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _headline(history: HedgeHistory) -> str:
    from hedger.strategy.ratio import MAX_BASIS

    described = history.describe()
    return (
        f"{history.spot_asset} spot hedged with the {history.hedge_asset} perp, funding {history.funding_source} "
        f"every {history.funding_interval_h} h; {described['first_close_utc']} → {described['last_close_utc']}, "
        f"{described['valid_hours']:,} of {described['hours']:,} hours valid ({history.gaps.invalid_hours} gap hours); "
        f"{history.gaps.basis_outlier_hours} hours with the perp over {MAX_BASIS:.0%} from its spot "
        "left out of estimation"
    )
