"""The hedge-ratio estimators (fixed, OLS, rolling OLS, EWMA, shrunk, basket) and what they return."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, cast

import numpy as np
import pandas as pd

from hedger.errors import DataError
from hedger.strategy.ratio.returns import _check_horizon, _complete_pairs, _horizon, aggregate_returns
from hedger.strategy.ratio.stats import (
    MIN_OLS_OBSERVATIONS,
    SHRINKAGE_C,
    _as_of,
    _cumulative_moments,
    _effectiveness,
    _multiple_regression,
    _ols,
    _ols_robust_std_error,
    _powers,
    _regression_series,
    _require,
    _solve_moments,
    _Window,
    _window,
    hac_factor,
    shrinkage_weight,
)

BURN_IN_PERIODS = 30
"""A shrunk estimator keeps its prior until it has seen this many horizons' worth of observations (30 × horizon)."""


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
            raise DataError(
                f"rolling window must be at least {MIN_OLS_OBSERVATIONS} observations, got {self.window}",
                "give a longer window, in observations (policy rolling_ols_720: 30 days of hours)",
            )
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
            raise DataError(
                f"EWMA λ must be strictly between 0 and 1, got {self.lam}",
                "λ is the weight kept by the past at each step: 0.995 is a half-life of 138 steps (policy ewma_0.995)",
            )
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
        ratio, std_error, r_squared, effectiveness = _multiple_regression(
            cast(pd.DataFrame, complete["spot"]), cast(pd.DataFrame, complete["perp"])
        )
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
