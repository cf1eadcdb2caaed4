"""Cross-asset hedges on daily (and coarser) closes of markets that keep hours: a stock hedged with an index perp
(its beta), oil hedged with another oil, a holding hedged with a basket of perps. Out of sample, next to the
static in-sample ceiling.

Data
- `arch:<name>` reads a data set shipped inside the `arch` wheel (MIT; a dev dependency of hedger) from the
  installed package's directory at run time, never copied: `arch:sp500` and `arch:nasdaq` (daily, 1999–2018, adjusted
  close), `arch:wti` (WTI spot, daily, 1986–2019, FRED DCOILWTICO), `arch:crude.WTI` and `arch:crude.Brent`
  (monthly, 1987–2020).
- `NAME=PATH` reads any CSV of dated closes (a `Date` column or the first column; `Adj Close` if present,
  else `Close`). The GOOG file of the `backtesting` wheel is read this way, by path: that package is AGPL and
  hedger never imports it (`scripts/wheel_data.py` prints the path).

Calendars: these markets trade on weekdays only, and not on holidays. A row is a trading day (or a month) that
has a close; returns are taken between consecutive dates on which every series has a close, and only when they
span at most `max_gap` (5 days by default: a weekend plus a holiday; `--max-gap 40D` for monthly data). A
longer silence is a gap, counted and never filled, and a date only some series have drops out.

Out of sample: the sample is split at `train_fraction`; every estimator's ratio at close t uses returns up to
t only and is held over the next period. The static in-sample ceiling is the OLS (or basket) ratio fitted on
the test period itself and applied to it: the best any fixed ratio could have done there, known only
afterwards. Hedge effectiveness is Ederington's 1 − Var(hedged) / Var(unhedged) on the test period.

Funding for these perps is *modelled*, not observed (the data are spot closes): a configured annual rate paid
by the short hedge (`funding_apr`; positive: the short pays), accrued per calendar day held, and a taker fee on
every change of the hedge. Both are reported as costs per year of the spot value; they barely move the variance.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hedger.backtest.data import UNREADABLE, numbers, times, unreadable
from hedger.errors import DataError
from hedger.strategy.ratio import BasketHedge, EWMARatio, OLSRatio, RollingOLSRatio

ARCH_SETS = {
    "sp500": ("sp500", "Adj Close", "S&P 500 index, daily adjusted close (Yahoo), 1999–2018"),
    "nasdaq": ("nasdaq", "Adj Close", "NASDAQ Composite index, daily adjusted close (Yahoo), 1999–2018"),
    "wti": ("wti", "DCOILWTICO", "WTI crude spot, daily (FRED DCOILWTICO), 1986–2019"),
    "crude.WTI": ("crude", "WTI", "WTI crude, monthly, 1987–2020"),
    "crude.Brent": ("crude", "Brent", "Brent crude, monthly, 1987–2020"),
}
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class CloseSeries:
    """Dated closes of one market, and where they came from."""

    name: str
    closes: pd.Series
    source: str


def load_closes(spec: str) -> CloseSeries:
    """`arch:<set>` or `NAME=PATH` (see the module docstring)."""
    if spec.startswith("arch:"):
        return _arch(spec.removeprefix("arch:"))
    name, separator, path = spec.partition("=")
    if not separator or not name or not path:
        raise DataError(f"{spec!r}: expected arch:<set> or NAME=PATH", f"arch sets: {', '.join(sorted(ARCH_SETS))}")
    return _csv(name.upper(), Path(path))


def _arch(key: str) -> CloseSeries:
    """A data set of the installed arch wheel, read in place from its package directory (finding the package
    does not import it: arch's own import pulls in its models, and only the data are needed)."""
    if key not in ARCH_SETS:
        raise DataError(f"unknown arch data set {key!r}", f"use one of {', '.join(sorted(ARCH_SETS))}")
    module, column, description = ARCH_SETS[key]
    spec = importlib.util.find_spec("arch")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the arch package is not installed", "install the dev dependencies (make setup)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / module / f"{module}.csv.gz"
    frame = pd.read_csv(path, index_col="Date", parse_dates=["Date"])
    closes = pd.to_numeric(frame[column], errors="coerce").dropna()
    name = key.split(".")[-1].upper()
    return CloseSeries(name, closes.rename(name), f"arch wheel, arch/data/{module}/{path.name}: {description}")


def _csv(name: str, path: Path) -> CloseSeries:
    try:
        frame = pd.read_csv(path)
    except UNREADABLE as error:
        raise unreadable(path, error, "expected a CSV of dated closes: Date (or the first column), Close") from error
    date_column = "Date" if "Date" in frame.columns else frame.columns[0]
    column = "Adj Close" if "Adj Close" in frame.columns else "Close"
    if column not in frame.columns:
        raise DataError(f"{path}: no Close or Adj Close column", f"columns: {list(frame.columns)}")
    dates = pd.DatetimeIndex(times(frame, date_column, path, utc=False))
    closes = pd.Series(numbers(frame, column, path), index=dates, name=name)
    return CloseSeries(name, closes.dropna().sort_index(), f"{path.name} ({column}, {len(closes)} rows)")


@dataclass(frozen=True)
class CrossConfig:
    train_fraction: float = 0.5
    window: int = 250  # rolling OLS window, in periods (about a trading year of days)
    ewma_lambda: float = 0.97
    max_gap: str = "5D"
    funding_apr: float = 0.05  # modelled: the short hedge pays 5 % a year (funding + borrowing)
    fee_rel: float = 0.0006  # taker fee per unit of hedge notional traded (gTrade's 0.06 % position fee)


@dataclass
class CrossResult:
    spot: str
    hedges: list[str]
    sources: dict[str, str]
    periods: int
    gaps: int
    train: tuple[str, str]
    test: tuple[str, str]
    in_sample_ratio: dict[str, Any]
    ceiling: dict[str, Any]
    policies: dict[str, dict[str, float]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def cross_backtest(spot: CloseSeries, hedges: list[CloseSeries], config: CrossConfig | None = None) -> CrossResult:
    """Hedge `spot` with one perp (beta) or several (a basket), out of sample; see the module docstring."""
    config = config or CrossConfig()
    if not hedges:
        raise DataError("no hedge series", "give at least one perp underlying")
    spot_r, perp_r, days, gaps = _returns(spot, hedges, config.max_gap)
    if len(spot_r) < 60:
        raise DataError(
            f"only {len(spot_r)} overlapping returns of {spot.name} and the hedges", "check the date ranges"
        )
    split = int(len(spot_r) * config.train_fraction)
    train, test = spot_r.index[:split], spot_r.index[split:]
    single = len(hedges) == 1
    names = [h.name for h in hedges]
    in_sample = _fit(spot_r.loc[train], perp_r.loc[train], single)
    ceiling = _fit(spot_r.loc[test], perp_r.loc[test], single)
    ratios = _walk_forward(spot_r, perp_r, config, single)
    policies = {
        name: _evaluate(ratio.loc[test], spot_r.loc[test], perp_r.loc[test], days.loc[test], config)
        for name, ratio in ratios.items()
    }
    static_train = pd.DataFrame([in_sample["ratio"]] * len(test), index=test, columns=names)
    policies["static_train_ols"] = _evaluate(static_train, spot_r.loc[test], perp_r.loc[test], days.loc[test], config)
    best = pd.DataFrame([ceiling["ratio"]] * len(test), index=test, columns=names)
    policies["ceiling_static_on_test"] = _evaluate(best, spot_r.loc[test], perp_r.loc[test], days.loc[test], config)
    return CrossResult(
        spot=spot.name,
        hedges=names,
        sources={s.name: s.source for s in (spot, *hedges)},
        periods=len(spot_r),
        gaps=gaps,
        train=(str(train[0].date()), str(train[-1].date())),
        test=(str(test[0].date()), str(test[-1].date())),
        in_sample_ratio=in_sample,
        ceiling=ceiling,
        policies=policies,
        config=dataclasses.asdict(config),
    )


def _returns(
    spot: CloseSeries, hedges: list[CloseSeries], max_gap: str
) -> tuple[pd.Series, pd.DataFrame, pd.Series, int]:
    """Log returns between consecutive dates on which every series has a close, kept when they span at most
    `max_gap`; the number of longer spans (gaps, never bridged) is returned with them. Dates where only some
    series closed (their holidays differ) drop out of the grid, so the next return spans them."""
    closes = pd.concat({"__spot__": spot.closes, **{h.name: h.closes for h in hedges}}, axis=1, sort=True)
    closes = closes.dropna()
    if (closes <= 0).any().any():
        raise DataError("a close ≤ 0 in the data", "check the files")
    logs = closes.apply(np.log)
    spans = pd.Series(closes.index, index=closes.index).diff()
    kept = spans <= pd.Timedelta(max_gap)
    returns = logs.diff()[kept]
    days = spans[kept].dt.total_seconds() / 86400.0  # calendar days each return holds the hedge (funding accrues)
    gaps = int((spans > pd.Timedelta(max_gap)).sum())
    return returns.pop("__spot__"), returns, days.astype(float), gaps


def _fit(spot: pd.Series, perps: pd.DataFrame, single: bool) -> dict[str, Any]:
    """The min-variance ratio on these returns, with its standard errors and R²."""
    if single:
        estimate = OLSRatio().estimate(spot, perps.iloc[:, 0])
        ratio = {perps.columns[0]: float(estimate.ratio)}
        se = {perps.columns[0]: float(estimate.std_error)}
        robust = {perps.columns[0]: float(estimate.robust_std_error)}
    else:
        estimate = BasketHedge().estimate(spot, perps)
        ratio = {k: float(v) for k, v in estimate.ratio.items()}
        se = {k: float(v) for k, v in estimate.std_error.items()}
        robust = {}
    return {
        "ratio": ratio,
        "std_error": se,
        "robust_std_error": robust,
        "ci95": {k: (ratio[k] - 1.96 * se[k], ratio[k] + 1.96 * se[k]) for k in ratio},
        "r_squared": float(estimate.r_squared),
        "effectiveness": float(estimate.effectiveness),
        "observations": int(estimate.observations),
        "method": estimate.method,
    }


def _walk_forward(spot: pd.Series, perps: pd.DataFrame, config: CrossConfig, single: bool) -> dict[str, pd.DataFrame]:
    """Each estimator's ratio to hold over each period, from returns strictly before it (shifted by one)."""
    if single:
        perp = perps.iloc[:, 0]
        name = perps.columns[0]
        raw = {
            "one_to_one": pd.Series(1.0, index=spot.index),
            "expanding_ols": OLSRatio().series(spot, perp),
            f"rolling_ols_{config.window}": RollingOLSRatio(config.window).series(spot, perp),
            f"ewma_{config.ewma_lambda:g}": EWMARatio(config.ewma_lambda).series(spot, perp),
        }
        return {k: v.shift(1).to_frame(name) for k, v in raw.items()}
    one = pd.DataFrame(1.0 / perps.shape[1], index=spot.index, columns=perps.columns)
    return {
        "equal_weights": one,
        "expanding_basket": BasketHedge().series(spot, perps).shift(1),
        f"rolling_basket_{config.window}": BasketHedge(config.window).series(spot, perps).shift(1),
    }


def _evaluate(
    ratio: pd.DataFrame, spot: pd.Series, perps: pd.DataFrame, days: pd.Series, config: CrossConfig
) -> dict[str, float]:
    """Effectiveness and costs of holding `ratio` (value of each perp shorted per unit of spot value)."""
    ratio = ratio.reindex(spot.index).ffill().fillna(1.0 / perps.shape[1])
    hedge = (ratio * perps).sum(axis=1)
    hedged = spot - hedge
    unhedged_var, hedged_var = float(spot.var()), float(hedged.var())
    years = float(days.sum()) / DAYS_PER_YEAR
    notional = ratio.abs().sum(axis=1)
    funding = float((notional * config.funding_apr * days / DAYS_PER_YEAR).sum()) / years
    turnover = float(ratio.diff().abs().sum(axis=1).fillna(0.0).sum() + notional.iloc[0])
    fees = turnover * config.fee_rel / years
    return {
        "effectiveness": 1.0 - hedged_var / unhedged_var,
        "vol_unhedged_annual": math.sqrt(unhedged_var * len(spot) / years),
        "vol_hedged_annual": math.sqrt(hedged_var * len(spot) / years),
        "mean_ratio": float(notional.mean()),
        "funding_cost_per_year_modelled": funding,
        "fee_cost_per_year": fees,
    }


def summary(result: CrossResult) -> str:
    """A table: one row per policy, with the in-sample ratio and its uncertainty above it."""
    fit = result.in_sample_ratio
    ratio = ", ".join(
        f"{k} {v:.3f} ± {fit['std_error'][k]:.3f} (95 % {fit['ci95'][k][0]:.3f}–{fit['ci95'][k][1]:.3f})"
        for k, v in fit["ratio"].items()
    )
    ceiling = ", ".join(f"{k} {v:.3f}" for k, v in result.ceiling["ratio"].items())
    lines = [
        f"{result.spot} hedged with {' + '.join(result.hedges)}: {result.periods} returns, {result.gaps} gaps; "
        f"train {result.train[0]} → {result.train[1]}, test {result.test[0]} → {result.test[1]}",
        f"in-sample ratio (train): {ratio}; R² {fit['r_squared']:.3f}",
        f"static ceiling on the test period: {ceiling}, HE {result.ceiling['effectiveness']:.2%}",
        f"funding modelled at {result.config['funding_apr']:.1%} a year paid by the short; fee "
        f"{result.config['fee_rel']:.2%} of notional traded",
        f"{'policy':<28}{'HE out of sample':>18}{'vol hedged':>12}{'mean ratio':>12}{'funding/yr':>12}{'fees/yr':>10}",
    ]
    for name, m in result.policies.items():
        lines.append(
            f"{name:<28}{m['effectiveness']:>18.2%}{m['vol_hedged_annual']:>12.2%}{m['mean_ratio']:>12.3f}"
            f"{m['funding_cost_per_year_modelled']:>12.2%}{m['fee_cost_per_year']:>10.3%}"
        )
    return "\n".join(lines)


def write(result: CrossResult, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "cross_asset.json"
    path.write_text(json.dumps(result.to_json(), indent=1, default=_plain))
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")
