"""Live hedge ratios: a `RatioSpec` (`[strategy.ratio.<ASSET>]`) and a price history → the Decimal ratio the planner
sizes with, and what stands behind it (standard error, R², observations, window, source).

Pure: the caller reads the history (`hedger.oracles.history`) and passes prices. The estimate is clamped to the
spec's bounds; with fewer complete return pairs than `min_observations`, or none usable, the ratio is the fallback
and says why. `walk_forward` judges an estimator on the same history out of sample: the ratio known at t hedges
the return over (t, t+1].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from hedger.errors import DataError
from hedger.strategy.parameters import RatioSpec
from hedger.strategy.ratio.estimators import (
    EWMARatio,
    FixedRatio,
    OLSRatio,
    RatioEstimator,
    RollingOLSRatio,
    ShrunkRatio,
)
from hedger.strategy.ratio.returns import _complete_pairs, paired_returns

RATIO_PLACES = 4
"""A live ratio is rounded to this many decimals (as `ratios_from_estimates` does)."""


@dataclass(frozen=True)
class LiveRatio:
    """One asset's ratio as the planner uses it, with its statistics and provenance.

    `ratio` is what sizing gets (Decimal, bounded); `estimated` the estimator's raw ratio (NaN when none);
    `fallback` why the fallback ratio is used (None when the estimate is); `bounded` whether a bound clipped it.
    """

    asset: str
    hedge_with: str
    method: str
    ratio: Decimal
    estimated: float
    std_error: float
    r_squared: float
    observations: int
    gaps: int
    window_start: str | None
    window_end: str | None
    interval: str
    source: str
    estimated_at: int
    fallback: str | None = None
    bounded: bool = False

    def to_jsonable(self) -> dict[str, Any]:
        return {
            "asset": self.asset,
            "hedge_with": self.hedge_with,
            "method": self.method,
            "ratio": str(self.ratio),
            "estimated": _finite(self.estimated),
            "std_error": _finite(self.std_error),
            "r_squared": _finite(self.r_squared),
            "observations": self.observations,
            "gaps": self.gaps,
            "window": {"start": self.window_start, "end": self.window_end, "interval": self.interval},
            "source": self.source,
            "estimated_at": self.estimated_at,
            "fallback": self.fallback,
            "bounded": self.bounded,
        }


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def estimator_for(spec: RatioSpec, fallback_ratio: Decimal) -> RatioEstimator:
    """The estimator a spec names (kalman and markov come from `hedger.strategy.ratio.regimes`)."""
    if spec.method == "fixed":
        return FixedRatio(float(spec.ratio if spec.ratio is not None else fallback_ratio))
    if spec.method == "ols":
        return OLSRatio(horizon=spec.horizon)
    if spec.method == "rolling":
        return RollingOLSRatio(spec.window, horizon=spec.horizon)
    if spec.method == "ewma":
        return EWMARatio(float(spec.lam), spec.min_observations, horizon=spec.horizon)
    if spec.method == "shrunk":
        base = EWMARatio(float(spec.lam), spec.min_observations, horizon=spec.horizon)
        return ShrunkRatio(base, prior=float(spec.prior))
    from hedger.strategy.ratio import regimes

    return regimes.estimator_for(spec)


def estimate_live(
    asset: str,
    hedge_with: str,
    spec: RatioSpec,
    spot_prices: pd.Series,
    perp_prices: pd.Series,
    *,
    interval: str,
    source: str,
    now_s: int,
    fallback_ratio: Decimal,
) -> LiveRatio:
    """The live ratio of `asset` hedged with `hedge_with`'s perp from two price series on `interval` buckets."""
    fallback = spec.fallback if spec.fallback is not None else fallback_ratio
    spot, perp = paired_returns(spot_prices, perp_prices, interval)
    pairs = len(_complete_pairs(spot, perp))
    base: dict[str, Any] = {
        "asset": asset, "hedge_with": hedge_with, "method": spec.method, "interval": interval, "source": source,
        "estimated_at": now_s,
    }  # fmt: skip
    if spec.method != "fixed" and pairs < spec.min_observations:
        reason = f"{pairs} complete return pairs, fewer than min_observations {spec.min_observations}"
        return _fallback(base, fallback, reason, pairs)
    try:
        estimate = estimator_for(spec, fallback_ratio).estimate(spot, perp)
    except DataError as error:
        return _fallback(base, fallback, str(error.args[0]), pairs)
    raw = float(estimate.ratio)
    if not np.isfinite(raw):
        return _fallback(base, fallback, "the estimate is not a number", pairs)
    ratio = _decimal(raw)
    bounded = not spec.min_ratio <= ratio <= spec.max_ratio
    ratio = min(max(ratio, spec.min_ratio), spec.max_ratio)
    return LiveRatio(
        **base, ratio=ratio, estimated=raw, std_error=float(estimate.std_error), r_squared=float(estimate.r_squared),
        observations=estimate.observations, gaps=estimate.gaps, window_start=_iso(estimate.start),
        window_end=_iso(estimate.end), bounded=bounded,
    )  # fmt: skip


def _fallback(base: Mapping[str, Any], ratio: Decimal, reason: str, pairs: int) -> LiveRatio:
    return LiveRatio(
        **base, ratio=ratio, estimated=float("nan"), std_error=float("nan"), r_squared=float("nan"),
        observations=pairs, gaps=0, window_start=None, window_end=None, fallback=reason,
    )  # fmt: skip


def _decimal(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-RATIO_PLACES))


def _iso(stamp: pd.Timestamp | None) -> str | None:
    return None if stamp is None else stamp.isoformat()


@dataclass(frozen=True)
class WalkForward:
    """Out-of-sample hedge effectiveness of an estimator next to 1:1, on the same rows."""

    method: str
    observations: int
    he: float
    he_one_to_one: float
    mean_ratio: float

    def to_jsonable(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "observations": self.observations,
            "he_out_of_sample": _finite(self.he),
            "he_one_to_one": _finite(self.he_one_to_one),
            "mean_ratio": _finite(self.mean_ratio),
        }


def walk_forward(estimator: RatioEstimator, spot_returns: pd.Series, perp_returns: pd.Series) -> WalkForward:
    """Apply the ratio known at t (from returns up to t: `series`) to the return over (t, t+1], over every row where
    that ratio and both returns exist; HE = 1 − Var(spot − h·perp) / Var(spot), beside 1:1 on the same rows."""
    ratios = estimator.series(spot_returns, perp_returns).shift(1)
    frame = pd.concat({"spot": spot_returns, "perp": perp_returns, "h": ratios}, axis=1, sort=True).dropna()
    if len(frame) < 3:
        raise DataError(f"{estimator.method}: too little history for a walk-forward ({len(frame)} rows)")
    spot, perp, h = frame["spot"].to_numpy(), frame["perp"].to_numpy(), frame["h"].to_numpy()
    variance = np.var(spot)
    return WalkForward(
        estimator.method,
        len(frame),
        float(1 - np.var(spot - h * perp) / variance),
        float(1 - np.var(spot - perp) / variance),
        float(h.mean()),
    )
