"""Regime-aware ratio estimators: a Kalman-filter time-varying beta, a two-state Markov-switching regression, and a
trend-conditioned ("rotational") ratio policy. Each offers `estimate` and an as-of-t `series` (no look-ahead), like
every estimator in `estimators.py`, so the same walk-forward judges them (`hedger.strategy.ratio.live.walk_forward`;
the measured results are in docs/backtest.md).

- `KalmanRatio`: spot_t = β_t·perp_t + e_t, β_t = β_{t−1} + w_t. The observation noise r is the residual variance of
  an OLS fit on the first `warm_up` pairs (no later data); the state noise q is set from `lam` so that, at a typical
  perp move, the gain matches an EWMA of that decay (q = r·(1 − λ)² / (λ·σ²_perp)): one knob, comparable to EWMA,
  and the gain still grows with the size of the move.
- `MarkovRatio`: statsmodels' `MarkovRegression` of spot on perp with a switching slope and variance (two regimes),
  refitted every `refit` pairs on the last `fit_window` pairs known then (by EM: `em_iter` iterations, then
  `maxiter` of statsmodels' quasi-Newton polish, 0 by default: ten times faster for the same likelihood to 0.1%);
  between refits the ratio at t is the regimes' slopes weighted by the probability of each regime at t+1
  *predicted from data up to t*.
- `TrendConditionedRatio`: a base estimator's ratio scaled by `up_scale` while the hedged asset's trailing
  `lookback`-period return is positive (hedge less in an uptrend, fully otherwise): a policy, not a variance model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hedger.errors import DataError
from hedger.strategy.parameters import RatioSpec
from hedger.strategy.ratio.estimators import (
    EWMARatio,
    RatioEstimate,
    RatioEstimator,
    _estimate,
)
from hedger.strategy.ratio.returns import _complete_pairs
from hedger.strategy.ratio.stats import MIN_OLS_OBSERVATIONS, _as_of, _ols, _window


def estimator_for(spec: RatioSpec) -> RatioEstimator:
    if spec.method == "kalman":
        return KalmanRatio(float(spec.lam), warm_up=spec.min_observations)
    if spec.method == "markov":
        return MarkovRatio()
    raise DataError(f"unknown ratio method {spec.method!r}")


@dataclass(frozen=True)
class KalmanRatio:
    lam: float = 0.995
    warm_up: int = 168
    method: str = "kalman"

    def __post_init__(self) -> None:
        if not 0 < self.lam < 1:
            raise DataError(f"Kalman λ must be strictly between 0 and 1, got {self.lam}")
        if self.warm_up < MIN_OLS_OBSERVATIONS:
            raise DataError(f"Kalman warm-up must be at least {MIN_OLS_OBSERVATIONS} pairs, got {self.warm_up}")

    def _filter(self, spot: np.ndarray, perp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """β_t and its variance P_t after each pair (NaN before the warm-up ends)."""
        n = len(spot)
        betas, variances = np.full(n, np.nan), np.full(n, np.nan)
        if n < self.warm_up:
            return betas, variances
        x0, y0 = perp[: self.warm_up], spot[: self.warm_up]
        sxx = float(x0 @ x0)
        if sxx == 0:
            raise DataError("the perp returns do not vary: no hedge ratio can be estimated")
        beta = float(x0 @ y0) / sxx
        residual = y0 - beta * x0
        r = max(float(residual @ residual) / (self.warm_up - 1), 1e-18)
        p = r / sxx
        q = r * (1 - self.lam) ** 2 / (self.lam * sxx / self.warm_up)
        betas[self.warm_up - 1], variances[self.warm_up - 1] = beta, p
        for t in range(self.warm_up, n):
            x, y = perp[t], spot[t]
            p_pred = p + q
            gain = p_pred * x / (x * x * p_pred + r)
            beta += gain * (y - beta * x)
            p = (1 - gain * x) * p_pred
            betas[t], variances[t] = beta, p
        return betas, variances

    def estimate(self, spot_returns: pd.Series, perp_returns: pd.Series) -> RatioEstimate:
        window = _window(spot_returns, perp_returns)
        if window.observations < self.warm_up:
            raise DataError(
                f"{self.method}: needs at least {self.warm_up} complete return pairs, got {window.observations}"
            )
        betas, variances = self._filter(window.spot, window.perp)
        _, _, r_squared = _ols(window)
        params = {"lam": self.lam, "warm_up": self.warm_up}
        return _estimate(window, self.method, betas[-1], float(np.sqrt(variances[-1])), r_squared, params)

    def series(self, spot_returns: pd.Series, perp_returns: pd.Series) -> pd.Series:
        pairs = _complete_pairs(spot_returns, perp_returns)
        betas, _ = self._filter(pairs["spot"].to_numpy(), pairs["perp"].to_numpy())
        return _as_of(pd.Series(betas, index=pairs.index, name=self.method), spot_returns.index)


@dataclass(frozen=True)
class MarkovRatio:
    refit: int = 720
    fit_window: int = 2160
    min_fit: int = 500
    em_iter: int = 50
    maxiter: int = 0
    method: str = "markov"

    def _fit(self, spot: np.ndarray, perp: np.ndarray) -> Any:
        from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression  # type: ignore[import-untyped]

        model = MarkovRegression(spot, k_regimes=2, exog=perp, trend="c", switching_variance=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return model, model.fit(disp=False, em_iter=self.em_iter, maxiter=self.maxiter)
            except (np.linalg.LinAlgError, ValueError) as error:
                raise DataError(f"{self.method}: the regime model did not fit ({error})") from None

    @staticmethod
    def _slopes(model: Any, result: Any) -> np.ndarray:
        names = list(model.param_names)
        return np.array([result.params[names.index(f"x1[{k}]")] for k in range(2)])

    def _predicted(self, model: Any, result: Any, spot: np.ndarray, perp: np.ndarray) -> np.ndarray:
        """P(regime at t+1 | data up to t) for each t of (spot, perp) under the fitted parameters."""
        from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

        run = MarkovRegression(spot, k_regimes=2, exog=perp, trend="c", switching_variance=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            filtered = run.filter(result.params)
        probabilities = np.asarray(filtered.filtered_marginal_probabilities)
        transition = np.asarray(filtered.regime_transition)[:, :, 0]  # [to, from]
        return probabilities @ transition.T

    def estimate(self, spot_returns: pd.Series, perp_returns: pd.Series) -> RatioEstimate:
        window = _window(spot_returns, perp_returns)
        if window.observations < self.min_fit:
            raise DataError(
                f"{self.method}: needs at least {self.min_fit} complete return pairs, got {window.observations}"
            )
        spot, perp = window.spot[-self.fit_window :], window.perp[-self.fit_window :]
        model, result = self._fit(spot, perp)
        slopes = self._slopes(model, result)
        predicted = self._predicted(model, result, spot, perp)[-1]
        ratio = float(predicted @ slopes)
        _, std_error, r_squared = _ols(window)
        params = {
            "slopes": slopes.tolist(),
            "next_regime_probabilities": predicted.tolist(),
            "fit_window": self.fit_window,
        }
        return _estimate(window, self.method, ratio, std_error, r_squared, params)

    def series(self, spot_returns: pd.Series, perp_returns: pd.Series) -> pd.Series:
        pairs = _complete_pairs(spot_returns, perp_returns)
        spot, perp = pairs["spot"].to_numpy(), pairs["perp"].to_numpy()
        ratios = np.full(len(pairs), np.nan)
        for fit_end in range(self.min_fit, len(pairs), self.refit):
            start = max(0, fit_end - self.fit_window)
            try:
                model, result = self._fit(spot[start:fit_end], perp[start:fit_end])
            except DataError:
                continue
            slopes = self._slopes(model, result)
            stop = min(fit_end + self.refit, len(pairs))
            # filter from the fit window's start through the block, with the parameters known at fit_end
            predicted = self._predicted(model, result, spot[start:stop], perp[start:stop])
            block = predicted[fit_end - start - 1 : stop - start - 1]  # for t in [fit_end − 1, stop − 1)
            ratios[fit_end - 1 : stop - 1] = block @ slopes
        return _as_of(pd.Series(ratios, index=pairs.index, name=self.method), spot_returns.index)


@dataclass(frozen=True)
class TrendConditionedRatio:
    base: RatioEstimator = field(default_factory=lambda: EWMARatio(0.995))
    lookback: int = 168
    up_scale: float = 0.5
    method: str = "trend"

    def _trend_up(self, spot_returns: pd.Series) -> pd.Series:
        trailing = spot_returns.rolling(self.lookback, min_periods=self.lookback).sum()
        return trailing > 0

    def estimate(self, spot_returns: pd.Series, perp_returns: pd.Series) -> RatioEstimate:
        base = self.base.estimate(spot_returns, perp_returns)
        up = bool(self._trend_up(spot_returns).iloc[-1])
        ratio = base.ratio * (self.up_scale if up else 1.0)
        window = _window(spot_returns, perp_returns)
        params = {"base": self.base.method, "lookback": self.lookback, "up_scale": self.up_scale, "trend_up": up}
        return _estimate(window, self.method, ratio, base.std_error, base.r_squared, params)

    def series(self, spot_returns: pd.Series, perp_returns: pd.Series) -> pd.Series:
        base = self.base.series(spot_returns, perp_returns)
        scale = np.where(self._trend_up(spot_returns).reindex(base.index, fill_value=False), self.up_scale, 1.0)
        return (base * scale).rename(self.method)
