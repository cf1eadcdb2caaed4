"""Live ratios from specs (bounds, fallback), the walk-forward, regime estimators, the [strategy.ratio] table."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from hedger.errors import ConfigError
from hedger.strategy.parameters import RatioSpec, StrategySettings
from hedger.strategy.ratio import EWMARatio, FixedRatio, OLSRatio
from hedger.strategy.ratio.live import estimate_live, estimator_for, walk_forward
from hedger.strategy.ratio.regimes import KalmanRatio, MarkovRatio, TrendConditionedRatio


def prices(beta: float = 0.8, n: int = 600, seed: int = 3, noise: float = 0.003) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    perp = rng.normal(0, 0.01, n)
    spot = beta * perp + rng.normal(0, noise, n)
    return (
        pd.Series(100 * np.exp(np.cumsum(spot)), index=index),
        pd.Series(200 * np.exp(np.cumsum(perp)), index=index),
    )


def live(spec: RatioSpec, spot: pd.Series, perp: pd.Series):
    return estimate_live(
        "ETH", "BTC", spec, spot, perp, interval="1h", source="test", now_s=1, fallback_ratio=Decimal(1)
    )


def test_an_estimate_is_a_rounded_decimal_with_its_statistics():
    spot, perp = prices(0.8)
    result = live(RatioSpec(method="ols", min_observations=50), spot, perp)
    assert result.fallback is None and not result.bounded
    assert float(result.ratio) == pytest.approx(0.8, abs=0.03)
    assert result.ratio == result.ratio.quantize(Decimal("0.0001"))
    assert 0 < result.std_error < 0.05 and 0.8 < result.r_squared < 1
    assert result.observations == 599 and result.window_start and result.to_jsonable()["ratio"] == str(result.ratio)


def test_bounds_clamp_and_short_data_falls_back_with_a_reason():
    spot, perp = prices(0.8)
    clamped = live(RatioSpec(method="ols", min_observations=50, min_ratio=Decimal("0.9")), spot, perp)
    assert clamped.ratio == Decimal("0.9") and clamped.bounded and clamped.estimated == pytest.approx(0.8, abs=0.03)
    short = live(RatioSpec(method="ewma", min_observations=1000, fallback=Decimal("0.7")), spot, perp)
    assert short.ratio == Decimal("0.7") and "fewer than min_observations 1000" in short.fallback
    default = live(RatioSpec(method="ewma", min_observations=1000), spot, perp)
    assert default.ratio == Decimal(1)  # sizing.default_ratio
    fixed = live(RatioSpec(method="fixed", ratio=Decimal("0.5")), spot, perp)
    assert fixed.ratio == Decimal("0.5") and fixed.fallback is None


def test_every_method_builds_an_estimator():
    kinds = {m: type(estimator_for(RatioSpec(method=m), Decimal(1))).__name__ for m in
             ("fixed", "ols", "rolling", "ewma", "shrunk", "kalman", "markov")}  # fmt: skip
    assert kinds == {"fixed": "FixedRatio", "ols": "OLSRatio", "rolling": "RollingOLSRatio", "ewma": "EWMARatio",
                     "shrunk": "ShrunkRatio", "kalman": "KalmanRatio", "markov": "MarkovRatio"}  # fmt: skip


def test_walk_forward_uses_only_the_past_and_matches_one_to_one_for_a_fixed_one():
    spot, perp = prices(1.0, noise=0.002)
    s, p = np.log(spot).diff(), np.log(perp).diff()
    one = walk_forward(FixedRatio(1.0), s, p)
    assert one.he == pytest.approx(one.he_one_to_one, abs=1e-12)
    ols = walk_forward(OLSRatio(), s, p)
    assert ols.he == pytest.approx(ols.he_one_to_one, abs=0.01)
    # changing the last return changes no ratio applied before it
    changed = s.copy()
    changed.iloc[-1] += 0.05
    a = OLSRatio().series(s, p).shift(1)
    b = OLSRatio().series(changed, p).shift(1)
    pd.testing.assert_series_equal(a, b)


def test_kalman_follows_a_change_in_beta_that_a_full_sample_ols_averages():
    rng = np.random.default_rng(7)
    n = 2000
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    perp = rng.normal(0, 0.01, n)
    beta = np.where(np.arange(n) < n // 2, 0.6, 1.2)
    spot = beta * perp + rng.normal(0, 0.002, n)
    s, p = pd.Series(spot, index=index), pd.Series(perp, index=index)
    kalman = KalmanRatio(0.98, warm_up=100)
    assert kalman.estimate(s, p).ratio == pytest.approx(1.2, abs=0.05)
    assert OLSRatio().estimate(s, p).ratio == pytest.approx(0.9, abs=0.05)
    series = kalman.series(s, p)
    assert series.iloc[n // 2 - 1] == pytest.approx(0.6, abs=0.1)
    assert walk_forward(kalman, s, p).he > walk_forward(EWMARatio(0.995), s, p).he


@pytest.mark.slow  # statsmodels' import and EM fits: ~2.5 s
def test_markov_switching_finds_two_slopes_and_its_series_is_causal():
    rng = np.random.default_rng(11)
    n = 700
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    regime = (np.arange(n) // 100) % 2
    perp = rng.normal(0, 0.01, n)
    spot = np.where(regime == 0, 0.5, 1.3) * perp + rng.normal(0, np.where(regime == 0, 0.001, 0.004), n)
    s, p = pd.Series(spot, index=index), pd.Series(perp, index=index)
    markov = MarkovRatio(refit=300, fit_window=400, min_fit=300)
    estimate = markov.estimate(s, p)
    assert sorted(estimate.params["slopes"]) == pytest.approx([0.5, 1.3], abs=0.1)
    series = markov.series(s, p)
    assert series.iloc[:299].isna().all() and series.iloc[299:].notna().all()
    truncated = markov.series(s.iloc[:600], p.iloc[:600])  # later data changes no earlier ratio
    np.testing.assert_allclose(series.iloc[299:599].to_numpy(), truncated.iloc[299:599].to_numpy(), rtol=1e-6)


def test_trend_conditioning_scales_the_base_ratio_in_an_uptrend():
    spot, perp = prices(0.8)
    s, p = np.log(spot).diff(), np.log(perp).diff()
    trend = TrendConditionedRatio(EWMARatio(0.97), lookback=24, up_scale=0.5)
    base = EWMARatio(0.97).series(s, p)
    up = s.rolling(24, min_periods=24).sum() > 0
    ratio = trend.series(s, p)
    assert ratio[up].dropna().to_numpy() == pytest.approx(0.5 * base[up].dropna().to_numpy())
    assert ratio[~up].dropna().to_numpy() == pytest.approx(base[~up].dropna().to_numpy())


@pytest.mark.parametrize(
    ("table", "key", "problem"),
    [
        ({"ratio": {"ETH": {"method": "magic"}}}, "strategy.ratio.ETH.method", "must be one of"),
        ({"ratio": {"ETH": {"min_ratio": 2, "max_ratio": 1}}}, "strategy.ratio.ETH.min_ratio", "must not exceed"),
        ({"ratio": {"interval": "soon"}}, "strategy.ratio.interval", "time interval"),
        ({"ratio": {"source": "file", "ETH": {}}}, "strategy.ratio.files.ETH", "needs a file"),
        ({"ratio": {"ETH": {"hedge_with": "BTC"}}}, "strategy.ratio.ETH.hedge_with", "set sizing.hedge_with"),
        ({"ratio": {"ETH": {"window": "long"}}}, "strategy.ratio.ETH.window", "integer"),
    ],
)
def test_bad_ratio_settings_name_the_key(table, key, problem):
    with pytest.raises(ConfigError) as raised:
        StrategySettings.from_mapping(table, "networks/test.toml")
    assert (raised.value.file, raised.value.key) == ("networks/test.toml", key)
    assert problem in raised.value.problem


def test_ratio_settings_read_per_asset_tables():
    settings = StrategySettings.from_mapping(
        {"sizing": {"hedge_with": {"ETH": "BTC"}},
         "ratio": {"lookback_days": 14, "ETH": {"method": "kalman", "hedge_with": "BTC", "lam": 0.99}}},
    )  # fmt: skip
    assert settings.ratio.lookback_days == 14
    spec = settings.ratio.assets["ETH"]
    assert (spec.method, spec.hedge_with, spec.lam, spec.reestimate_s) == ("kalman", "BTC", Decimal("0.99"), 3600)
