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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from hedger.errors import DataError

MIN_OLS_OBSERVATIONS = 3


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
    logs = np.log(buckets)
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
    spot_prices: pd.Series, perp_prices: pd.Series, horizon: str = "1h", max_gap: str | None = None
) -> tuple[pd.Series, pd.Series]:
    """Spot and perp log returns on one time grid: the input of every estimator.

    The two series may come from different assets: ETH spot with the BTC perp gives the cross-asset beta
    of ETH on BTC, the ratio to hedge ETH held with a BTC perp.
    """
    frame = pd.concat({"spot": spot_prices, "perp": perp_prices}, axis=1, sort=True)
    returns = log_returns(frame, horizon, max_gap)
    spot, perp = returns["spot"], returns["perp"]
    spot.attrs["horizon"] = perp.attrs["horizon"] = horizon
    return spot, perp


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
    - `horizon`: the return interval ("1h"), when known; `params`: the estimator's parameters.
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

    def to_jsonable(self) -> dict[str, Any]:
        return {
            "ratio": _plain(self.ratio),
            "std_error": _plain(self.std_error),
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

    method: str

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


def _estimate(
    window: _Window, method: str, ratio: float, std_error: float, r_squared: float, params: Mapping[str, Any]
) -> RatioEstimate:
    effectiveness = 1 - np.var(window.spot - ratio * window.perp) / np.var(window.spot)
    return RatioEstimate(
        ratio=float(ratio),
        std_error=float(std_error),
        r_squared=float(r_squared),
        effectiveness=float(effectiveness),
        method=method,
        start=window.start,
        end=window.end,
        observations=window.observations,
        gaps=window.gaps,
        horizon=window.horizon,
        params=params,
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


def _as_of(values: pd.Series, index: pd.Index) -> pd.Series:
    """Estimates computed on complete pairs, reported at every input time: at a gap the estimate is the
    one known then (the last computed), which uses no future data."""
    return values.reindex(index).ffill()


@dataclass(frozen=True)
class FixedRatio:
    """A ratio chosen, not estimated: 1 (full hedge), 0.5 (partial), …; the data only measure it."""

    ratio: float
    method: str = "fixed"

    def estimate(self, spot_returns: pd.Series, perp_returns: pd.Series) -> RatioEstimate:
        window = _window(spot_returns, perp_returns)
        if window.observations < MIN_OLS_OBSERVATIONS:
            return _estimate_without_data(self.method, self.ratio, window)
        r_squared = np.corrcoef(window.spot, window.perp)[0, 1] ** 2
        return _estimate(window, self.method, self.ratio, 0.0, r_squared, {"ratio": self.ratio})

    def series(self, spot_returns: pd.Series, perp_returns: pd.Series) -> pd.Series:
        return pd.Series(float(self.ratio), index=spot_returns.index, name=self.method)


def _estimate_without_data(method: str, ratio: float, window: _Window) -> RatioEstimate:
    """A fixed ratio needs no data; with too little to measure it, the measures are NaN."""
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
        {"ratio": ratio},
    )


@dataclass(frozen=True)
class OLSRatio:
    """The minimum-variance hedge h* = Cov(spot, perp) / Var(perp) (Ederington 1979) over all the data.

    `series` is the expanding estimate: at t, the OLS ratio of all pairs up to t.
    """

    method: str = "ols"

    def estimate(self, spot_returns: pd.Series, perp_returns: pd.Series) -> RatioEstimate:
        window = _window(spot_returns, perp_returns)
        _require(window, MIN_OLS_OBSERVATIONS, self.method)
        return _estimate(window, self.method, *_ols(window), {})

    def series(self, spot_returns: pd.Series, perp_returns: pd.Series) -> pd.Series:
        pairs = _complete_pairs(spot_returns, perp_returns)
        expanding = pairs.expanding(min_periods=MIN_OLS_OBSERVATIONS)
        ratio = expanding["spot"].cov(pairs["perp"]) / expanding["perp"].var()
        return _as_of(ratio.rename(self.method), spot_returns.index)


@dataclass(frozen=True)
class RollingOLSRatio:
    """The OLS ratio over the last `window` complete return pairs (window counted in observations)."""

    window: int
    method: str = "rolling_ols"

    def __post_init__(self) -> None:
        if self.window < MIN_OLS_OBSERVATIONS:
            raise DataError(f"rolling window must be at least {MIN_OLS_OBSERVATIONS} observations, got {self.window}")

    def estimate(self, spot_returns: pd.Series, perp_returns: pd.Series) -> RatioEstimate:
        window = _window(spot_returns, perp_returns, last=self.window)
        _require(window, self.window, self.method)
        return _estimate(window, self.method, *_ols(window), {"window": self.window})

    def series(self, spot_returns: pd.Series, perp_returns: pd.Series) -> pd.Series:
        pairs = _complete_pairs(spot_returns, perp_returns)
        rolling = pairs.rolling(self.window)
        ratio = rolling["spot"].cov(pairs["perp"]) / rolling["perp"].var()
        return _as_of(ratio.rename(self.method), spot_returns.index)


@dataclass(frozen=True)
class EWMARatio:
    """RiskMetrics-style exponentially weighted ratio: h_t = S_t / V_t with
    S_t = λ·S_{t−1} + s_t·p_t and V_t = λ·V_{t−1} + p_t² (zero-mean returns, as RiskMetrics assumes).

    λ = 0.97 gives a half-life of about 23 observations. Weights decay per observation, not per clock
    hour: a gap does not age the estimate. `min_observations` (default ≈ 1/(1−λ)) is the warm-up before
    the first estimate. The standard error treats the weights as fixed (weighted least squares).
    """

    lam: float
    min_observations: int | None = None
    method: str = "ewma"

    def __post_init__(self) -> None:
        if not 0 < self.lam < 1:
            raise DataError(f"EWMA λ must be strictly between 0 and 1, got {self.lam}")

    @property
    def warm_up(self) -> int:
        if self.min_observations is not None:
            return max(self.min_observations, MIN_OLS_OBSERVATIONS)
        return max(round(1 / (1 - self.lam)), MIN_OLS_OBSERVATIONS)

    def estimate(self, spot_returns: pd.Series, perp_returns: pd.Series) -> RatioEstimate:
        window = _window(spot_returns, perp_returns)
        _require(window, self.warm_up, self.method)
        weights = self.lam ** np.arange(window.observations - 1, -1, -1, dtype=float)
        spot, perp = window.spot, window.perp
        cross, perp_sq, spot_sq = weights @ (spot * perp), weights @ (perp * perp), weights @ (spot * spot)
        ratio = cross / perp_sq
        residual = spot - ratio * perp
        effective_n = weights.sum() ** 2 / (weights @ weights)
        residual_var = (weights @ residual**2) / weights.sum() * effective_n / (effective_n - 1)
        std_error = np.sqrt(residual_var * (weights**2 @ perp**2)) / perp_sq
        r_squared = cross**2 / (perp_sq * spot_sq)
        return _estimate(window, self.method, ratio, std_error, r_squared, {"lam": self.lam})

    def series(self, spot_returns: pd.Series, perp_returns: pd.Series) -> pd.Series:
        pairs = _complete_pairs(spot_returns, perp_returns)
        products = pd.DataFrame({"cross": pairs["spot"] * pairs["perp"], "perp_sq": pairs["perp"] ** 2})
        smoothed = products.ewm(alpha=1 - self.lam, adjust=True, min_periods=self.warm_up).mean()
        ratio = smoothed["cross"] / smoothed["perp_sq"]
        return _as_of(ratio.rename(self.method), spot_returns.index)


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
        ratio, std_error, r_squared, effectiveness = _multiple_regression(complete["spot"], complete["perp"])
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


def _multiple_regression(spots: pd.DataFrame, perps: pd.DataFrame):
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
    labels = {"index": perps.columns, "columns": spots.columns}
    return (
        pd.DataFrame(coef, **labels),
        pd.DataFrame(std_error, **labels),
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
