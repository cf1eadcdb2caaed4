"""Hedge-ratio estimators over log returns.

Sign and unit: a ratio h > 0 means *short* h of perp value per unit of spot value held. Returns are
relative, so h is value-for-value; for a same-asset hedge (ETH spot, ETH perp) that is also units for
units, and sizing converts a cross-asset ratio to perp units with the two prices.

Every estimator takes two aligned return series (spot, perp) and offers
- `estimate(spot_returns, perp_returns) -> RatioEstimate`: one estimate from all the data given;
- `series(spot_returns, perp_returns)`: the estimate at each time t from returns up to and including t
  only (no look-ahead), vectorised; NaN until there is enough data. Its last value equals `estimate`.

Cross-asset beta (an asset with no perp of its own, hedged with another asset's perp) is not a separate
estimator: give any estimator the spot returns of one asset and the perp returns of the other
(`paired_returns(eth_spot, btc_perp)`). A basket of spot assets hedged with K perps is `BasketHedge`.

Gaps: a missing price is never filled. `log_returns` turns it into NaN returns; estimators use only
rows where both legs have a return and report how many they dropped (`RatioEstimate.gaps`).

Data hygiene: `basis_outliers` flags closes where a perp and its own asset's spot disagree by more than
`MAX_BASIS` (a listing glitch, an outage print); `paired_returns(..., exclude=...)` treats them like gaps
for estimation and counts them (`attrs["excluded"]`).

Horizon and prior: every estimator can estimate the ratio for a longer holding horizon from overlapping
sums of `horizon` returns (`aggregate_returns`), and `ShrunkRatio` pulls any of them toward a prior ratio
(1 for a same-asset hedge) with an empirical-Bayes weight built on a robust standard error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import pandas as pd

from hedger.errors import DataError

MIN_OLS_OBSERVATIONS = 3
MAX_BASIS = 0.05
"""|ln(perp / spot)| above which a close is not a tradable price: Binance USDⓈ-M perps refuse orders more than
5% from the mark price (PERCENT_PRICE filter 0.95–1.05 on BTCUSDT and ETHUSDT), and the mark follows the spot index."""
SHRINKAGE_C = 1.0
"""c in the shrinkage weight (ĥ − prior)² / ((ĥ − prior)² + c·SE²): 1 when the standard error is right. Measured on
2019–2020 only, the realised out-of-sample squared error of the one-day same-asset ratio was 0–1.8 times its robust
(HAC) variance, so the SE needs no inflation (docs/strategy.md); larger c trusts the data less."""
BURN_IN_PERIODS = 30
"""A shrunk estimator keeps its prior until it has seen this many horizons' worth of observations (30 × horizon)."""


def read_price_history(path: str | Path, time_column: str = "timestamp_utc") -> pd.DataFrame:
    """A price-history CSV (one row per time, one column per price) indexed by UTC time, sorted."""
    frame = pd.read_csv(path)
    if time_column not in frame.columns:
        raise DataError(f"{path}: no time column {time_column!r} (columns: {', '.join(frame.columns)})")
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop(time_column), utc=True), name=time_column)
    return frame.sort_index()


def log_returns(prices: pd.DataFrame, horizon: str = "1h", max_gap: str | None = None) -> pd.DataFrame:
    """Log returns of each price column at `horizon`, with gaps left as NaN.

    1. Each column is resampled to `horizon` buckets (pandas offsets: "1h", "4h", "1D"); a bucket's
       price is the column's last valid price inside it, and a bucket with none is missing. Buckets are
       labelled by their start, like the hourly bars of the input.
    2. With `max_gap=None`, the return at bucket t is log(p_t / p_{t-1}) over the adjacent bucket only:
       it is NaN when either bucket is missing, so an outage produces NaN, never a filled price and never a
       zero return. Each column is treated on its own.
    3. With `max_gap` (e.g. "3h", at least `horizon`), returns are taken between consecutive buckets where
       *every* column has a price, and kept when they span at most `max_gap`: the return after a short
       outage then covers the whole outage, for all columns alike; longer spans are NaN, and so is every
       bucket where some column is missing.

    Either way, all non-NaN returns in one row span the same interval, so the legs of a hedge are always
    compared over the same time. The first row is NaN. `attrs["horizon"]` records the horizon.
    """
    _check_prices(prices)
    buckets = prices.resample(horizon).last()
    logs = cast(pd.DataFrame, np.log(buckets))  # a ufunc keeps the frame (__array_ufunc__); the stubs say ndarray
    returns = logs.diff() if max_gap is None else _bridged_returns(logs, _gap_limit(horizon, max_gap))
    returns.attrs["horizon"] = horizon
    return returns


def _check_prices(prices: pd.DataFrame) -> None:
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise DataError("prices need a DatetimeIndex (read CSVs with read_price_history)")
    if (prices <= 0).any().any():
        bad = prices.columns[(prices <= 0).any()].tolist()
        raise DataError(f"non-positive prices in column(s) {bad}: a log return needs prices > 0")


def _gap_limit(horizon: str, max_gap: str) -> pd.Timedelta:
    limit = pd.Timedelta(max_gap)
    if limit < pd.Timedelta(horizon):
        raise DataError(f"max_gap {max_gap} is shorter than the horizon {horizon}")
    return limit


def _bridged_returns(logs: pd.DataFrame, limit: pd.Timedelta) -> pd.DataFrame:
    complete = logs.dropna()
    returns = complete.diff()
    span = complete.index.to_series().diff()
    returns.loc[span > limit] = np.nan
    return returns.reindex(logs.index)


def paired_returns(
    spot_prices: pd.Series,
    perp_prices: pd.Series,
    horizon: str = "1h",
    max_gap: str | None = None,
    exclude: pd.Series | None = None,
) -> tuple[pd.Series, pd.Series]:
    """Spot and perp log returns on one time grid: the input of every estimator.

    The two series may come from different assets: ETH spot with the BTC perp gives the cross-asset beta
    of ETH on BTC, the ratio to hedge ETH held with a BTC perp.

    `exclude` (booleans on the price index, e.g. `basis_outliers`): prices at those times are not used, so the
    returns into and out of them are NaN, like a gap. How many prices were excluded is in `attrs["excluded"]`
    of both series (0 without `exclude`): never silent.
    """
    frame = pd.concat({"spot": spot_prices, "perp": perp_prices}, axis=1, sort=True)
    excluded = 0
    if exclude is not None:
        mask = exclude.reindex(frame.index, fill_value=False).astype(bool)
        excluded = int(mask.sum())
        frame = frame.mask(mask)
    returns = log_returns(frame, horizon, max_gap)
    spot, perp = returns["spot"], returns["perp"]
    for leg in (spot, perp):
        leg.attrs.update(horizon=horizon, excluded=excluded)
    return spot, perp


def basis_outliers(perp_prices: pd.Series, spot_prices: pd.Series, max_basis: float = MAX_BASIS) -> pd.Series:
    """True where a perp's price and the spot price *of the same asset* disagree: |ln(perp / spot)| > `max_basis`.

    Arbitrage and funding keep a perp within a fraction of a percent of its spot index; a close 5% away (the
    default, `MAX_BASIS`) is not a price anyone could trade at: a listing print, an outage. Times where either
    price is missing are not outliers (they are gaps already). Indexed like `perp_prices`.
    """
    spot = spot_prices.reindex(perp_prices.index)
    with np.errstate(invalid="ignore", divide="ignore"):
        basis = np.log(perp_prices.to_numpy(float) / spot.to_numpy(float))
    return pd.Series(np.abs(basis) > max_basis, index=perp_prices.index, name="basis_outlier")


def aggregate_returns(spot_returns: pd.Series, perp_returns: pd.Series, periods: int) -> tuple[pd.Series, pd.Series]:
    """Overlapping `periods`-period log returns: at each row, the sum of that row's return and the `periods − 1`
    before it, for both legs; NaN when any of those rows lacks either leg (a gap is never bridged).

    The input must be on a regular grid (as `log_returns` gives). `periods=1` returns the input unchanged.
    One observation per input row, so neighbouring observations overlap: see `hac_factor`.
    """
    _check_horizon(periods)
    if periods == 1:
        return spot_returns, perp_returns
    pairs = pd.concat({"spot": spot_returns, "perp": perp_returns}, axis=1, sort=True)
    complete = pairs.where(pairs.notna().all(axis=1))
    sums = complete.rolling(periods, min_periods=periods).sum()
    horizon = _times(_horizon(spot_returns), periods)
    spot, perp = sums["spot"], sums["perp"]
    for leg, source in ((spot, spot_returns), (perp, perp_returns)):
        leg.attrs.update(source.attrs)
        leg.attrs["horizon"] = horizon
    return spot, perp


def hac_factor(periods: int) -> float:
    """How much the White standard error of a slope understates it on overlapping `periods`-period returns.

    The regression scores x·e of two observations `j` rows apart share `periods − j` hours; with serially
    uncorrelated hourly returns their correlation is (1 − j/periods)², and the long-run variance is
    Σ_{|j|<periods} (1 − |j|/periods)² = (2·periods² + 1) / (3·periods) times the White one. Returns the square root.
    """
    return float(np.sqrt((2 * periods * periods + 1) / (3 * periods)))


def shrinkage_weight(deviation: Any, std_error: Any, c: float = SHRINKAGE_C) -> Any:
    """Empirical-Bayes weight on an estimate's deviation from its prior: w = deviation² / (deviation² + c·SE²).

    Hedging with h instead of the prior 1 changes the hedged variance by D(h) = Var(F)·[(h − 1)² − 2(h − 1)(h* − 1)]
    (h* the true minimum-variance ratio; the same with any prior). For h = 1 + w·(ĥ − 1) with ĥ ~ N(h*, SE²),
    E[D] = Var(F)·[w²(δ² + SE²) − 2wδ²] with δ = h* − 1: smallest at w = δ²/(δ² + SE²), and below 0 (better than
    the prior) for any w < 2δ²/(δ² + SE²). This is that weight with δ² replaced by the squared deviation observed;
    c ≥ 1 asks for more evidence. 0 when the deviation is 0 or either input is NaN; 1 when SE is 0. Floats or arrays.
    """
    deviation, std_error = np.asarray(deviation, dtype=float), np.asarray(std_error, dtype=float)
    squared = deviation**2
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = squared / (squared + c * std_error**2)
    weight = np.where(np.isfinite(weight), weight, 0.0)
    return float(weight) if weight.ndim == 0 else weight


def _times(horizon: str | None, periods: int) -> str | None:
    if horizon is None or periods == 1:
        return horizon
    try:
        return (pd.tseries.frequencies.to_offset(horizon) * periods).freqstr
    except ValueError:
        return f"{periods}x{horizon}"


def oracle_round_prices(
    updated_at_s: Sequence[int], answers: Sequence[int], decimals: int, heartbeat_s: int, horizon: str = "1h"
) -> pd.Series:
    """An oracle's round history (read on-chain) as one price per `horizon` bucket, for `log_returns`.

    A Chainlink answer stands until the next round, but only for a heartbeat: each bucket gets the latest
    answer updated before the bucket's end and at most `heartbeat_s` earlier; otherwise it is missing.
    This is the feed's own validity rule, not a fill across an outage.
    """
    updated = pd.DatetimeIndex(pd.to_datetime(np.asarray(updated_at_s), unit="s", utc=True))
    rounds = pd.DataFrame({"at": updated, "price": np.asarray(answers, dtype=float) / 10**decimals}).sort_values("at")
    labels = pd.date_range(updated.min().floor(horizon), updated.max(), freq=horizon)
    ends = pd.DataFrame({"label": labels, "at": labels + pd.Timedelta(horizon)})
    matched = pd.merge_asof(
        ends, rounds, on="at", direction="backward", tolerance=pd.Timedelta(heartbeat_s, "s"), allow_exact_matches=False
    )
    return pd.Series(matched["price"].to_numpy(), index=pd.DatetimeIndex(labels), name="oracle")


def hedge_effectiveness(spot_returns: pd.Series, perp_returns: pd.Series, ratio: float) -> float:
    """Ederington's HE = 1 − Var(spot − ratio·perp) / Var(spot), over the rows where both legs exist."""
    pairs = _complete_pairs(spot_returns, perp_returns)
    spot, perp = pairs["spot"].to_numpy(), pairs["perp"].to_numpy()
    return float(1 - np.var(spot - ratio * perp) / np.var(spot))


@dataclass(frozen=True)
class RatioEstimate:
    """A hedge ratio, how sure it is, and what data it saw.

    - `ratio`: short this much perp value per unit of spot value (a Series indexed by perp for a basket
      with one spot, a DataFrame perps × spots for several spots).
    - `std_error`: standard error of the ratio (0 for a fixed ratio).
    - `r_squared`: squared correlation of the legs over the data (OLS: the regression's R²; EWMA: weighted).
    - `effectiveness`: in-sample hedge effectiveness 1 − Var(hedged)/Var(unhedged) at this ratio.
    - `start`, `end`: first and last return used; `observations`: complete return pairs used;
      `gaps`: rows between start and end dropped because a leg had no return.
    - `horizon`: the return interval ("1h", "24h" for a ratio estimated over 24 hourly periods), when known;
      `params`: the estimator's parameters.
    - `robust_std_error`: heteroskedasticity-robust (White) standard error of the ratio, times `hac_factor`
      when the returns overlap; NaN where not computed (fixed ratios, baskets). What `ShrunkRatio` weighs.
    """

    ratio: Any
    std_error: Any
    r_squared: Any
    effectiveness: Any
    method: str
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    observations: int
    gaps: int
    horizon: str | None
    params: Mapping[str, Any] = field(default_factory=dict)
    robust_std_error: Any = np.nan

    def to_jsonable(self) -> dict[str, Any]:
        return {
            "ratio": _plain(self.ratio),
            "std_error": _plain(self.std_error),
            "robust_std_error": _plain(self.robust_std_error),
            "r_squared": _plain(self.r_squared),
            "effectiveness": _plain(self.effectiveness),
            "method": self.method,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "observations": self.observations,
            "gaps": self.gaps,
            "horizon": self.horizon,
            "params": dict(self.params),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, pd.DataFrame | pd.Series):
        return value.to_dict()
    return float(value)


class RatioEstimator(Protocol):
    """What every estimator offers: one estimate from all the data, and an as-of-t series."""

    @property
    def method(self) -> str: ...

    def estimate(self, spot_returns: pd.Series, perp_returns: pd.Series) -> RatioEstimate: ...

    def series(self, spot_returns: pd.Series, perp_returns: pd.Series) -> pd.Series: ...


@dataclass(frozen=True)
class _Window:
    """The complete return pairs an estimate used, with where they sit in the input."""

    spot: np.ndarray
    perp: np.ndarray
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    gaps: int
    horizon: str | None

    @property
    def observations(self) -> int:
        return len(self.spot)


def _complete_pairs(spot_returns: pd.Series, perp_returns: pd.Series) -> pd.DataFrame:
    return pd.concat({"spot": spot_returns, "perp": perp_returns}, axis=1, sort=True).dropna()


def _window(spot_returns: pd.Series, perp_returns: pd.Series, last: int | None = None) -> _Window:
    """The complete pairs (the last `last` of them if given), and the gaps between its first and last."""
    aligned = pd.concat({"spot": spot_returns, "perp": perp_returns}, axis=1, sort=True)
    complete = aligned.dropna()
    if last is not None:
        complete = complete.iloc[-last:]
    if complete.empty:
        return _Window(np.empty(0), np.empty(0), None, None, 0, _horizon(spot_returns))
    start, end = complete.index[0], complete.index[-1]
    gaps = int(aligned.loc[start:end].isna().any(axis=1).sum())
    return _Window(complete["spot"].to_numpy(), complete["perp"].to_numpy(), start, end, gaps, _horizon(spot_returns))


def _horizon(returns: pd.Series | pd.DataFrame) -> str | None:
    if "horizon" in returns.attrs:
        return returns.attrs["horizon"]
    if isinstance(returns.index, pd.DatetimeIndex) and len(returns.index) > 1:
        step = pd.Series(returns.index).diff().median()
        return pd.tseries.frequencies.to_offset(step).freqstr
    return None


def _require(window: _Window, needed: int, method: str) -> None:
    if window.observations < needed:
        raise DataError(f"{method}: needs at least {needed} complete return pairs, got {window.observations}")


def _effectiveness(window: _Window, ratio: float) -> float:
    return float(1 - np.var(window.spot - ratio * window.perp) / np.var(window.spot))


def _estimate(
    window: _Window,
    method: str,
    ratio: float,
    std_error: float,
    r_squared: float,
    params: Mapping[str, Any],
    robust_std_error: float = np.nan,
) -> RatioEstimate:
    return RatioEstimate(
        ratio=float(ratio),
        std_error=float(std_error),
        r_squared=float(r_squared),
        effectiveness=_effectiveness(window, ratio),
        method=method,
        start=window.start,
        end=window.end,
        observations=window.observations,
        gaps=window.gaps,
        horizon=window.horizon,
        params=params,
        robust_std_error=float(robust_std_error),
    )


def _ols(window: _Window) -> tuple[float, float, float]:
    """Slope of spot on perp (with intercept), its standard error, and R²."""
    spot = window.spot - window.spot.mean()
    perp = window.perp - window.perp.mean()
    sxx, sxy, syy = perp @ perp, perp @ spot, spot @ spot
    if sxx == 0:
        raise DataError("the perp returns do not vary: no hedge ratio can be estimated")
    slope = sxy / sxx
    residual = spot - slope * perp
    std_error = np.sqrt(residual @ residual / (window.observations - 2) / sxx)
    r_squared = sxy * sxy / (sxx * syy) if syy > 0 else np.nan
    return slope, std_error, r_squared


def _ols_robust_std_error(window: _Window, slope: float, periods: int) -> float:
    """White (HC0) standard error of the OLS slope, √(Σ x̃²e²) / Σ x̃² (x̃ demeaned perp, e the residual),
    times `hac_factor(periods)` for overlapping returns."""
    perp = window.perp - window.perp.mean()
    residual = window.spot - window.spot.mean() - slope * perp
    return float(np.sqrt((perp * perp) @ (residual * residual)) / (perp @ perp) * hac_factor(periods))


def _as_of(values: pd.Series, index: pd.Index) -> pd.Series:
    """Estimates computed on complete pairs, reported at every input time: at a gap the estimate is the
    one known then (the last computed), which uses no future data."""
    return values.reindex(index).ffill()


# --- Moments for the as-of-t series -------------------------------------------------------------------
# The series are built from running sums of products of x (perp) and d = spot − perp: the slope of d on x
# is h − 1, and the residual of d on x is the residual of spot on perp. Working with d keeps the robust
# variance (a difference of fourth moments) accurate when the ratio is close to 1, as for a same-asset hedge.

_OLS_POWERS = ((1, 0), (0, 1), (2, 0), (1, 1), (0, 2), (3, 0), (2, 1), (1, 2), (4, 0), (3, 1), (2, 2))


def _powers(x: np.ndarray, d: np.ndarray, powers: Sequence[tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame({f"{a}{b}": x**a * d**b for a, b in powers})


def _ols_from_sums(sums: pd.DataFrame, n: np.ndarray, periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Ratio (with intercept) and its robust standard error from running sums S_ab = Σ x^a d^b over n pairs."""
    s = {name: sums[name].to_numpy() for name in sums.columns}
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, md = s["10"] / n, s["01"] / n
        cxx = s["20"] - n * mx * mx
        slope = (s["11"] - n * mx * md) / cxx
        # Σ x̃²d̃², Σ x̃³d̃, Σ x̃⁴ (x̃, d̃ demeaned), expanded into the raw sums
        x2d2 = (
            s["22"] - 2 * md * s["21"] + md * md * s["20"] - 2 * mx * s["12"] + 4 * mx * md * s["11"]
            - 2 * mx * md * md * s["10"] + mx * mx * s["02"] - 2 * mx * mx * md * s["01"] + n * mx * mx * md * md
        )  # fmt: skip
        x3d = (
            s["31"] - md * s["30"] - 3 * mx * s["21"] + 3 * mx * md * s["20"] + 3 * mx * mx * s["11"]
            - 3 * mx * mx * md * s["10"] - mx**3 * s["01"] + n * mx**3 * md
        )  # fmt: skip
        x4 = s["40"] - 4 * mx * s["30"] + 6 * mx * mx * s["20"] - 4 * mx**3 * s["10"] + n * mx**4
        score_ss = np.maximum(x2d2 - 2 * slope * x3d + slope * slope * x4, 0.0)
        robust = np.sqrt(score_ss) / cxx * hac_factor(periods)
    return 1.0 + slope, robust


def _regression_series(
    spot_returns: pd.Series, perp_returns: pd.Series, periods: int, window: int | None, minimum: int, name: str
) -> pd.DataFrame:
    """Expanding (window None) or rolling OLS ratio and robust standard error at each complete pair."""
    pairs = _complete_pairs(*aggregate_returns(spot_returns, perp_returns, periods))
    x = pairs["perp"].to_numpy()
    products = _powers(x, pairs["spot"].to_numpy() - x, _OLS_POWERS)
    if window is None:
        sums = products.cumsum()
        n = np.arange(1, len(pairs) + 1, dtype=float)
    else:
        sums = products.rolling(window, min_periods=1).sum()
        n = np.minimum(np.arange(1, len(pairs) + 1), window).astype(float)
    ratio, robust = _ols_from_sums(sums, n, periods)
    ready = n >= minimum
    return pd.DataFrame(
        {name: np.where(ready, ratio, np.nan), "robust_std_error": np.where(ready, robust, np.nan)}, index=pairs.index
    )


@dataclass(frozen=True)
class FixedRatio:
    """A ratio chosen, not estimated: 1 (full hedge), 0.5 (partial), …; the data only measure it."""

    ratio: float
    method: str = "fixed"

    def estimate(self, spot_returns: pd.Series, perp_returns: pd.Series) -> RatioEstimate:
        window = _window(spot_returns, perp_returns)
        if window.observations < MIN_OLS_OBSERVATIONS:
            return _estimate_without_data(self.method, self.ratio, window, {"ratio": self.ratio})
        r_squared = np.corrcoef(window.spot, window.perp)[0, 1] ** 2
        return _estimate(window, self.method, self.ratio, 0.0, r_squared, {"ratio": self.ratio})

    def series(self, spot_returns: pd.Series, perp_returns: pd.Series) -> pd.Series:
        return pd.Series(float(self.ratio), index=spot_returns.index, name=self.method)


def _estimate_without_data(method: str, ratio: float, window: _Window, params: Mapping[str, Any]) -> RatioEstimate:
    """A ratio that needs no data (fixed, or a prior); with too little data to measure it, the measures are NaN."""
    return RatioEstimate(
        float(ratio),
        0.0,
        np.nan,
        np.nan,
        method,
        window.start,
        window.end,
        window.observations,
        window.gaps,
        window.horizon,
        params,
    )


def _check_horizon(periods: int) -> None:
    if periods < 1:
        raise DataError(f"horizon must be at least 1 period, got {periods}")


@dataclass(frozen=True)
class OLSRatio:
    """The minimum-variance hedge h* = Cov(spot, perp) / Var(perp) (Ederington 1979) over all the data.

    `series` is the expanding estimate: at t, the OLS ratio of all pairs up to t. `horizon` (periods of the
    input, default 1) estimates the ratio for a hedge held that long, from overlapping sums of `horizon`
    returns (`aggregate_returns`).
    """

    method: str = "ols"
    horizon: int = 1

    def __post_init__(self) -> None:
        _check_horizon(self.horizon)

    def estimate(self, spot_returns: pd.Series, perp_returns: pd.Series) -> RatioEstimate:
        window = self.window_of(spot_returns, perp_returns)
        _require(window, MIN_OLS_OBSERVATIONS, self.method)
        slope, std_error, r_squared = _ols(window)
        robust = _ols_robust_std_error(window, slope, self.horizon)
        return _estimate(window, self.method, slope, std_error, r_squared, {"horizon": self.horizon}, robust)

    def series(self, spot_returns: pd.Series, perp_returns: pd.Series) -> pd.Series:
        return _as_of(self.series_with_errors(spot_returns, perp_returns)[self.method], spot_returns.index)

    def series_with_errors(self, spot_returns: pd.Series, perp_returns: pd.Series) -> pd.DataFrame:
        """The ratio and its robust standard error at each complete (aggregated) pair, NaN before the warm-up."""
        return _regression_series(spot_returns, perp_returns, self.horizon, None, MIN_OLS_OBSERVATIONS, self.method)

    def window_of(self, spot_returns: pd.Series, perp_returns: pd.Series) -> _Window:
        """The complete (aggregated) return pairs `estimate` uses."""
        return _window(*aggregate_returns(spot_returns, perp_returns, self.horizon))


@dataclass(frozen=True)
class RollingOLSRatio:
    """The OLS ratio over the last `window` complete return pairs (window counted in observations);
    `horizon` as for `OLSRatio`."""

    window: int
    method: str = "rolling_ols"
    horizon: int = 1

    def __post_init__(self) -> None:
        if self.window < MIN_OLS_OBSERVATIONS:
            raise DataError(f"rolling window must be at least {MIN_OLS_OBSERVATIONS} observations, got {self.window}")
        _check_horizon(self.horizon)

    def estimate(self, spot_returns: pd.Series, perp_returns: pd.Series) -> RatioEstimate:
        window = self.window_of(spot_returns, perp_returns)
        _require(window, self.window, self.method)
        slope, std_error, r_squared = _ols(window)
        robust = _ols_robust_std_error(window, slope, self.horizon)
        params = {"window": self.window, "horizon": self.horizon}
        return _estimate(window, self.method, slope, std_error, r_squared, params, robust)

    def series(self, spot_returns: pd.Series, perp_returns: pd.Series) -> pd.Series:
        return _as_of(self.series_with_errors(spot_returns, perp_returns)[self.method], spot_returns.index)

    def series_with_errors(self, spot_returns: pd.Series, perp_returns: pd.Series) -> pd.DataFrame:
        """The ratio and its robust standard error at each complete (aggregated) pair, NaN before the warm-up."""
        return _regression_series(spot_returns, perp_returns, self.horizon, self.window, self.window, self.method)

    def window_of(self, spot_returns: pd.Series, perp_returns: pd.Series) -> _Window:
        """The complete (aggregated) return pairs `estimate` uses."""
        return _window(*aggregate_returns(spot_returns, perp_returns, self.horizon), last=self.window)


@dataclass(frozen=True)
class EWMARatio:
    """RiskMetrics-style exponentially weighted ratio: h_t = S_t / V_t with
    S_t = λ·S_{t−1} + s_t·p_t and V_t = λ·V_{t−1} + p_t² (zero-mean returns, as RiskMetrics assumes).

    λ = 0.97 gives a half-life of about 23 observations. Weights decay per observation, not per clock
    hour: a gap does not age the estimate. `min_observations` (default ≈ 1/(1−λ)) is the warm-up before
    the first estimate. The standard error treats the weights as fixed (weighted least squares); the robust
    one is √(Σ w²p²e²) / Σ wp². `horizon` as for `OLSRatio`.
    """

    lam: float
    min_observations: int | None = None
    method: str = "ewma"
    horizon: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.lam < 1:
            raise DataError(f"EWMA λ must be strictly between 0 and 1, got {self.lam}")
        _check_horizon(self.horizon)

    @property
    def warm_up(self) -> int:
        if self.min_observations is not None:
            return max(self.min_observations, MIN_OLS_OBSERVATIONS)
        return max(round(1 / (1 - self.lam)), MIN_OLS_OBSERVATIONS)

    def estimate(self, spot_returns: pd.Series, perp_returns: pd.Series) -> RatioEstimate:
        window = self.window_of(spot_returns, perp_returns)
        _require(window, self.warm_up, self.method)
        weights = self.lam ** np.arange(window.observations - 1, -1, -1, dtype=float)
        spot, perp = window.spot, window.perp
        cross, perp_sq, spot_sq = weights @ (spot * perp), weights @ (perp * perp), weights @ (spot * spot)
        ratio = cross / perp_sq
        residual = spot - ratio * perp
        effective_n = weights.sum() ** 2 / (weights @ weights)
        residual_var = (weights @ residual**2) / weights.sum() * effective_n / (effective_n - 1)
        std_error = np.sqrt(residual_var * (weights**2 @ perp**2)) / perp_sq
        robust = np.sqrt(weights**2 @ (perp * residual) ** 2) / perp_sq * hac_factor(self.horizon)
        r_squared = cross**2 / (perp_sq * spot_sq)
        params = {"lam": self.lam, "horizon": self.horizon}
        return _estimate(window, self.method, ratio, std_error, r_squared, params, robust)

    def series(self, spot_returns: pd.Series, perp_returns: pd.Series) -> pd.Series:
        return _as_of(self.series_with_errors(spot_returns, perp_returns)[self.method], spot_returns.index)

    def series_with_errors(self, spot_returns: pd.Series, perp_returns: pd.Series) -> pd.DataFrame:
        """The ratio and its robust standard error at each complete (aggregated) pair, NaN before the warm-up."""
        pairs = _complete_pairs(*aggregate_returns(spot_returns, perp_returns, self.horizon))
        x = pairs["perp"].to_numpy()
        d = pairs["spot"].to_numpy() - x
        count = np.arange(1, len(pairs) + 1, dtype=float)
        once = _powers(x, d, ((1, 1), (2, 0))).ewm(alpha=1 - self.lam, adjust=True).mean()
        twice = _powers(x, d, ((2, 2), (3, 1), (4, 0))).ewm(alpha=1 - self.lam**2, adjust=True).mean()
        weight_sum = (1 - self.lam**count) / (1 - self.lam)  # Σ w and Σ w² over the pairs so far
        weight_sq_sum = (1 - self.lam ** (2 * count)) / (1 - self.lam**2)
        perp_sq = once["20"].to_numpy() * weight_sum
        slope = once["11"].to_numpy() / once["20"].to_numpy()
        score_ss = weight_sq_sum * (
            twice["22"].to_numpy() - 2 * slope * twice["31"].to_numpy() + slope**2 * twice["40"].to_numpy()
        )
        robust = np.sqrt(np.maximum(score_ss, 0.0)) / perp_sq * hac_factor(self.horizon)
        ready = count >= self.warm_up
        return pd.DataFrame(
            {self.method: np.where(ready, 1.0 + slope, np.nan), "robust_std_error": np.where(ready, robust, np.nan)},
            index=pairs.index,
        )

    def window_of(self, spot_returns: pd.Series, perp_returns: pd.Series) -> _Window:
        """The complete (aggregated) return pairs `estimate` uses."""
        return _window(*aggregate_returns(spot_returns, perp_returns, self.horizon))


@dataclass(frozen=True)
class ShrunkRatio:
    """An estimator's ratio pulled toward a prior ratio: h = prior + w·(ĥ − prior), with the empirical-Bayes
    weight w = (ĥ − prior)² / ((ĥ − prior)² + c·SE²) on the base estimate's robust standard error
    (`shrinkage_weight`).

    - `prior`: the ratio believed before any data. 1 for a same-asset hedge (spot and perp of one asset are
      tied by arbitrage and funding: any other ratio must prove itself); no sensible default across assets.
    - `c` (default `SHRINKAGE_C` = 1): how many times the reported SE² the estimate must beat.
    - `burn_in` (default `BURN_IN_PERIODS` × the base's horizon): complete observations seen before the estimate
      may leave the prior; until then it is the prior.

    With no evidence the estimate *is* the prior, so `series` is the prior before the first observation, and
    `estimate` returns the prior (with NaN measures) when the base cannot estimate yet.
    """

    base: OLSRatio | RollingOLSRatio | EWMARatio
    prior: float = 1.0
    c: float = SHRINKAGE_C
    burn_in: int | None = None

    def __post_init__(self) -> None:
        if self.c < 0:
            raise DataError(f"shrinkage c must be at least 0, got {self.c}")
        if self.burn_in is not None and self.burn_in < 0:
            raise DataError(f"burn-in must be at least 0 observations, got {self.burn_in}")

    @property
    def method(self) -> str:
        return f"{self.base.method}_shrunk"

    @property
    def required_observations(self) -> int:
        return BURN_IN_PERIODS * self.base.horizon if self.burn_in is None else self.burn_in

    def estimate(self, spot_returns: pd.Series, perp_returns: pd.Series) -> RatioEstimate:
        seen = len(_complete_pairs(*aggregate_returns(spot_returns, perp_returns, self.base.horizon)))
        params = {"prior": self.prior, "c": self.c, "burn_in": self.required_observations, "base": self.base.method}
        try:
            base = self.base.estimate(spot_returns, perp_returns)
        except DataError:
            window = self.base.window_of(spot_returns, perp_returns)
            return _estimate_without_data(self.method, self.prior, window, {**params, "weight": 0.0})
        deviation = base.ratio - self.prior
        weight = (
            shrinkage_weight(deviation, base.robust_std_error, self.c) if seen >= self.required_observations else 0.0
        )
        ratio = self.prior + weight * deviation
        window = self.base.window_of(spot_returns, perp_returns)
        params = {**base.params, **params, "weight": weight, "unshrunk_ratio": base.ratio}
        return replace(
            base, ratio=ratio, effectiveness=_effectiveness(window, ratio), method=self.method, params=params
        )

    def series(self, spot_returns: pd.Series, perp_returns: pd.Series) -> pd.Series:
        fitted = self.base.series_with_errors(spot_returns, perp_returns)
        deviation = fitted[self.base.method].to_numpy() - self.prior
        weight = shrinkage_weight(deviation, fitted["robust_std_error"].to_numpy(), self.c)
        weight[np.arange(1, len(fitted) + 1) < self.required_observations] = 0.0
        ratio = pd.Series(self.prior + weight * np.nan_to_num(deviation), index=fitted.index, name=self.method)
        return _as_of(ratio, spot_returns.index).fillna(self.prior)


@dataclass(frozen=True)
class BasketHedge:
    """Spot asset(s) hedged with K perps: the hedge vector that minimises the residual variance.

    The multiple regression (with intercept) of each spot's returns on the K perps' returns:
    B = Σ_pp⁻¹ Σ_ps. `spot_returns` is a Series (one spot, or a basket's value-weighted return) or a
    DataFrame (several spots); `perp_returns` a DataFrame with one column per perp. The ratio is a Series
    indexed by perp (one spot) or a DataFrame perps × spots. With `window`, only the last `window` complete
    rows count. `series` (one spot only) returns a DataFrame: the ratio vector as of each time.
    """

    window: int | None = None
    method: str = "basket_ols"

    def estimate(self, spot_returns: pd.Series | pd.DataFrame, perp_returns: pd.DataFrame) -> RatioEstimate:
        spots, perps = _as_frame(spot_returns, "spot"), _as_frame(perp_returns, "perp")
        aligned = pd.concat({"spot": spots, "perp": perps}, axis=1, sort=True)
        complete = aligned.dropna()
        if self.window is not None:
            complete = complete.iloc[-self.window :]
        _require_basket(len(complete), perps.shape[1], self.method)
        start, end = complete.index[0], complete.index[-1]
        # a top-level label of the two-level columns selects a frame (the stubs say Series)
        spot_part, perp_part = cast(pd.DataFrame, complete["spot"]), cast(pd.DataFrame, complete["perp"])
        ratio, std_error, r_squared, effectiveness = _multiple_regression(spot_part, perp_part)
        single = isinstance(spot_returns, pd.Series)
        return RatioEstimate(
            ratio=ratio.iloc[:, 0] if single else ratio,
            std_error=std_error.iloc[:, 0] if single else std_error,
            r_squared=float(r_squared.iloc[0]) if single else r_squared,
            effectiveness=float(effectiveness.iloc[0]) if single else effectiveness,
            method=self.method,
            start=start,
            end=end,
            observations=len(complete),
            gaps=int(aligned.loc[start:end].isna().any(axis=1).sum()),
            horizon=_horizon(spot_returns),
            params={"window": self.window, "perps": list(perps.columns)},
        )

    def series(self, spot_returns: pd.Series, perp_returns: pd.DataFrame) -> pd.DataFrame:
        perps = _as_frame(perp_returns, "perp")
        pairs = pd.concat({"spot": _as_frame(spot_returns, "spot"), "perp": perps}, axis=1, sort=True).dropna()
        x, y = pairs["perp"].to_numpy(), pairs["spot"].to_numpy()[:, 0]
        sums = _cumulative_moments(x, y, self.window)
        ratios = _solve_moments(sums, minimum=self.window or perps.shape[1] + 2)
        frame = pd.DataFrame(ratios, index=pairs.index, columns=perps.columns)
        return frame.reindex(spot_returns.index).ffill()


def _as_frame(returns: pd.Series | pd.DataFrame, name: str) -> pd.DataFrame:
    return returns.to_frame(returns.name or name) if isinstance(returns, pd.Series) else returns


def _require_basket(rows: int, perps: int, method: str) -> None:
    needed = perps + 2
    if rows < needed:
        raise DataError(f"{method}: needs at least {needed} complete rows for {perps} perps, got {rows}")


def _multiple_regression(
    spots: pd.DataFrame, perps: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    x = (perps - perps.mean()).to_numpy()
    y = (spots - spots.mean()).to_numpy()
    gram = x.T @ x
    try:
        inverse = np.linalg.inv(gram)
    except np.linalg.LinAlgError as exc:
        raise DataError("the perp returns are collinear: the basket hedge is not identified") from exc
    coef = inverse @ x.T @ y
    residual = y - x @ coef
    dof = len(y) - x.shape[1] - 1
    residual_ss = (residual**2).sum(axis=0)
    std_error = np.sqrt(np.outer(np.diag(inverse), residual_ss / dof))
    total_ss = (y**2).sum(axis=0)
    r_squared = 1 - residual_ss / total_ss
    raw_spots = spots.to_numpy()
    hedged = raw_spots - perps.to_numpy() @ coef
    effectiveness = 1 - hedged.var(axis=0) / raw_spots.var(axis=0)
    return (
        pd.DataFrame(coef, index=perps.columns, columns=spots.columns),
        pd.DataFrame(std_error, index=perps.columns, columns=spots.columns),
        pd.Series(r_squared, index=spots.columns),
        pd.Series(effectiveness, index=spots.columns),
    )


def _cumulative_moments(x: np.ndarray, y: np.ndarray, window: int | None) -> dict[str, np.ndarray]:
    """Running sums n, Σx, Σy, Σxxᵀ, Σxy up to each row (over the last `window` rows if given)."""
    sums = {
        "n": np.arange(1, len(y) + 1, dtype=float),
        "x": np.cumsum(x, axis=0),
        "y": np.cumsum(y),
        "xx": np.cumsum(x[:, :, None] * x[:, None, :], axis=0),
        "xy": np.cumsum(x * y[:, None], axis=0),
    }
    if window is None:
        return sums
    return {name: total - _shifted(total, window) for name, total in sums.items()}


def _shifted(values: np.ndarray, by: int) -> np.ndarray:
    shifted = np.zeros_like(values)
    shifted[by:] = values[:-by]
    return shifted


def _solve_moments(sums: dict[str, np.ndarray], minimum: int) -> np.ndarray:
    n = sums["n"]
    mean_x = sums["x"] / n[:, None]
    cov_xx = sums["xx"] / n[:, None, None] - mean_x[:, :, None] * mean_x[:, None, :]
    cov_xy = sums["xy"] / n[:, None] - mean_x * (sums["y"] / n)[:, None]
    ready = n >= minimum
    identity = np.broadcast_to(np.eye(cov_xx.shape[1]), cov_xx.shape)
    safe = np.where(ready[:, None, None], cov_xx, identity)
    try:
        ratios = np.linalg.solve(safe, cov_xy[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError as exc:
        raise DataError("the perp returns are collinear: the basket hedge is not identified") from exc
    ratios[~ready] = np.nan
    return ratios
