"""Named hedge policies: a ratio estimator from `hedger.strategy.ratio` plus a `RebalancePolicy`.

Names (see `policy_from_name`):
    unhedged · one_to_one · partial_<pct> · ols · rolling_ols[_<hours>] · ewma[_<lambda>]
    any of them + `_band_<pct>` (rebalance band in % of the target), and `band_<pct>` = one_to_one_band_<pct>
e.g. `partial_50`, `rolling_ols_720`, `ewma_0.995_band_10`, `band_2`.

Out of sample: the ratio set at close t comes from `series(...)` at t, i.e. from returns up to and including
t, and is held over (t, t+1]: estimated on the past, applied to the next period. Until an estimator has
enough data (its warm-up), the policy holds `fallback_ratio` (1:1 by default).

Same asset or not: an estimator policy (`ols`, `rolling_ols`, `ewma`) carries two estimators. Across assets
(ETH held, BTC perp) it uses the plain hourly estimator: there is no prior ratio to lean on. When the spot and
the perp are the same asset it uses the same estimator for a one-day holding horizon (`SAME_ASSET_HORIZON_H`),
shrunk toward the prior 1 (`ShrunkRatio`): spot and perp of one asset are tied by arbitrage, their hourly
slope is biased by basis noise that mean-reverts within hours, and a ratio other than 1 must prove itself.
Basis-outlier closes (`HedgeHistory.basis_outlier`) are left out of every estimate.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd

from hedger.backtest.data import HedgeHistory
from hedger.errors import DataError
from hedger.strategy.policy import RebalancePolicy
from hedger.strategy.ratio import (
    EWMARatio,
    FixedRatio,
    OLSRatio,
    RatioEstimator,
    RollingOLSRatio,
    ShrunkRatio,
    paired_returns,
)

DEFAULT_ROLLING_WINDOW_H = 720
DEFAULT_EWMA_LAMBDA = 0.995
SAME_ASSET_PRIOR = 1.0
SAME_ASSET_HORIZON_H = 24
"""Holding horizon a same-asset ratio is estimated for: the longer of the two horizons hedges are judged on (1 h,
1 d), and ≫ the basis's half-life (≈ 2 h on 2019–2020 closes), so the basis noise that pulls the hourly slope
below 1 (0.5–0.7% of the hourly perp variance, 0.03–0.06% at 24 h) is averaged out."""


@dataclass(frozen=True)
class HedgePolicy:
    """What to hedge with (the ratio estimator) and when to trade (the live planner's rebalance policy)."""

    name: str
    estimator: RatioEstimator
    rebalance: RebalancePolicy = field(default_factory=RebalancePolicy)
    fallback_ratio: float = 1.0
    same_asset_estimator: RatioEstimator | None = None
    """Used instead of `estimator` when the spot and the perp are the same asset; None: `estimator` everywhere."""

    def estimator_for(self, history: HedgeHistory) -> RatioEstimator:
        """The estimator this policy runs on `history`."""
        if history.same_asset and self.same_asset_estimator is not None:
            return self.same_asset_estimator
        return self.estimator

    def for_history(self, history: HedgeHistory) -> HedgePolicy:
        """The same policy with the estimator it runs on `history` as its only estimator (what reports show)."""
        return dataclasses.replace(self, estimator=self.estimator_for(history), same_asset_estimator=None)

    def with_band(self, band_rel: float, name: str | None = None) -> HedgePolicy:
        """The same policy with another band (a breach override narrower than the band is widened to it)."""
        band = Decimal(str(band_rel))
        breach = max(self.rebalance.breach_override_rel, band)
        rebalance = dataclasses.replace(self.rebalance, band_rel=band, breach_override_rel=breach)
        return dataclasses.replace(self, name=name or f"{self.name}_band_{_pct(band_rel)}", rebalance=rebalance)


def policy_from_name(name: str, rebalance: RebalancePolicy | None = None) -> HedgePolicy:
    """Build a named policy (the grammar is in the module docstring); `rebalance` overrides the defaults."""
    rebalance = rebalance or RebalancePolicy()
    base, band = _split_band(name)
    estimator = _estimator(base, name)
    policy = HedgePolicy(name, estimator, rebalance, same_asset_estimator=same_asset_estimator(estimator))
    return policy if band is None else policy.with_band(band, name)


def same_asset_estimator(estimator: RatioEstimator) -> RatioEstimator | None:
    """An estimator as a same-asset hedge runs it: for a one-day horizon, shrunk toward the prior 1.
    None for a fixed ratio (nothing to estimate)."""
    if isinstance(estimator, OLSRatio | RollingOLSRatio | EWMARatio):
        return ShrunkRatio(dataclasses.replace(estimator, horizon=SAME_ASSET_HORIZON_H), prior=SAME_ASSET_PRIOR)
    return None


def target_ratio(history: HedgeHistory, policy: HedgePolicy) -> np.ndarray:
    """The policy's target ratio at each close, from returns up to that close; warm-up holds the fallback."""
    return estimated_ratio(history, policy.estimator_for(history)).fillna(policy.fallback_ratio).to_numpy(float)


def estimated_ratio(history: HedgeHistory, estimator: RatioEstimator) -> pd.Series:
    """`estimator.series` over the history's log returns (NaN before its warm-up, never across a gap; the
    returns into and out of a basis-outlier close are left out like a gap)."""
    prices = history.prices_frame()
    spot_returns, perp_returns = paired_returns(
        prices["spot"], prices["perp"], horizon="1h", exclude=history.estimation_excluded()
    )
    return estimator.series(spot_returns, perp_returns).reindex(history.close_time)


def _split_band(name: str) -> tuple[str, float | None]:
    match = re.fullmatch(r"(?:(.+)_)?band_(\d+(?:\.\d+)?)", name)
    if not match:
        return name, None
    return match.group(1) or "one_to_one", float(match.group(2)) / 100


def _estimator(base: str, full_name: str) -> RatioEstimator:
    fixed = {"unhedged": 0.0, "one_to_one": 1.0}
    if base in fixed:
        return FixedRatio(fixed[base])
    if base == "ols":
        return OLSRatio()
    match = re.fullmatch(r"(partial|rolling_ols|ewma)(?:_(\d+(?:\.\d+)?))?", base)
    if not match:
        raise DataError(
            f"unknown policy {full_name!r}",
            "names: unhedged, one_to_one, partial_<pct>, ols, "
            "rolling_ols[_<hours>], ewma[_<lambda>], each optionally with _band_<pct>; band_<pct>",
        )
    kind, parameter = match.groups()
    if kind == "partial":
        return FixedRatio(float(parameter or 50) / 100)
    if kind == "rolling_ols":
        return RollingOLSRatio(int(parameter or DEFAULT_ROLLING_WINDOW_H))
    return EWMARatio(float(parameter or DEFAULT_EWMA_LAMBDA))


def _pct(fraction: float) -> str:
    return f"{fraction * 100:g}"
