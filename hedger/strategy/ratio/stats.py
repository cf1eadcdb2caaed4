"""Statistics helpers for the ratio estimators: the complete-pair window, OLS with its classical and robust
(White, HAC-scaled) standard errors, running-moment series, the shrinkage weight, hedge effectiveness, and the
multiple regression behind the basket hedge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hedger.errors import DataError
from hedger.strategy.ratio.returns import _complete_pairs, _horizon, aggregate_returns

MIN_OLS_OBSERVATIONS = 3
SHRINKAGE_C = 1.0
"""c in the shrinkage weight (ĥ − prior)² / ((ĥ − prior)² + c·SE²): 1 when the standard error is right. Measured on
2019–2020 only, the realised out-of-sample squared error of the one-day same-asset ratio was 0–1.8 times its robust
(HAC) variance, so the SE needs no inflation (docs/strategy.md); larger c trusts the data less."""


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


def hedge_effectiveness(spot_returns: pd.Series, perp_returns: pd.Series, ratio: float) -> float:
    """Ederington's HE = 1 − Var(spot − ratio·perp) / Var(spot), over the rows where both legs exist."""
    pairs = _complete_pairs(spot_returns, perp_returns)
    spot, perp = pairs["spot"].to_numpy(), pairs["perp"].to_numpy()
    return float(1 - np.var(spot - ratio * perp) / np.var(spot))


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


def _require(window: _Window, needed: int, method: str) -> None:
    if window.observations < needed:
        raise DataError(f"{method}: needs at least {needed} complete return pairs, got {window.observations}")


def _effectiveness(window: _Window, ratio: float) -> float:
    return float(1 - np.var(window.spot - ratio * window.perp) / np.var(window.spot))


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
