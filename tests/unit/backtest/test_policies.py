"""Named policies map onto the strategy's estimators and rebalance policy."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import numpy as np
import pytest

from hedger.backtest.policies import SAME_ASSET_HORIZON_H, policy_from_name, target_ratio
from hedger.errors import DataError
from hedger.strategy.ratio import EWMARatio, FixedRatio, OLSRatio, RollingOLSRatio, ShrunkRatio
from tests.unit.backtest.synthetic import random_walk, synthetic_history


@pytest.mark.parametrize(
    ("name", "estimator", "band"),
    [
        ("unhedged", FixedRatio(0.0), Decimal("0.05")),
        ("one_to_one", FixedRatio(1.0), Decimal("0.05")),
        ("partial_50", FixedRatio(0.5), Decimal("0.05")),
        ("ols", OLSRatio(), Decimal("0.05")),
        ("rolling_ols", RollingOLSRatio(720), Decimal("0.05")),
        ("rolling_ols_168", RollingOLSRatio(168), Decimal("0.05")),
        ("ewma", EWMARatio(0.995), Decimal("0.05")),
        ("ewma_0.99_band_2", EWMARatio(0.99), Decimal("0.02")),
        ("band_10", FixedRatio(1.0), Decimal("0.1")),
        ("band_0.5", FixedRatio(1.0), Decimal("0.005")),
    ],
)
def test_names_build_the_strategy_objects(name, estimator, band):
    policy = policy_from_name(name)
    assert policy.name == name
    assert policy.estimator == estimator
    assert policy.rebalance.band_rel == band
    if isinstance(estimator, FixedRatio):
        assert policy.same_asset_estimator is None
    else:  # the same estimator for a one-day horizon, shrunk toward the same-asset prior 1
        expected = ShrunkRatio(dataclasses.replace(estimator, horizon=SAME_ASSET_HORIZON_H), prior=1.0)
        assert policy.same_asset_estimator == expected


def test_the_history_decides_which_estimator_runs():
    spot = random_walk(100, seed=2)
    policy = policy_from_name("ewma_band_2")
    same, cross = synthetic_history(spot), synthetic_history(spot, hedge_asset="BTC")

    assert policy.estimator_for(same) == policy.same_asset_estimator
    assert policy.estimator_for(cross) == EWMARatio(0.995)
    assert policy.for_history(same).estimator == policy.same_asset_estimator
    assert policy.for_history(same).rebalance == policy.rebalance


def test_a_band_wider_than_the_breach_override_widens_it():
    policy = policy_from_name("band_40")
    assert policy.rebalance.breach_override_rel == Decimal("0.4")


def test_unknown_names_are_refused_with_the_grammar():
    with pytest.raises(DataError, match="unknown policy 'kelly'"):
        policy_from_name("kelly")


def test_the_estimator_warm_up_holds_the_fallback_then_follows_the_estimate():
    spot = random_walk(300, seed=1)
    history = synthetic_history(spot, spot**0.5 * 10, hedge_asset="OTHER")  # perp log returns are half the spot's
    ratio = target_ratio(history, policy_from_name("rolling_ols_48"))

    assert np.allclose(ratio[:48], 1.0, rtol=0, atol=1e-12)  # fallback until 48 complete return pairs exist
    assert np.allclose(ratio[48:], 2.0)


def test_a_same_asset_estimate_holds_the_prior_through_its_burn_in_then_follows_clear_evidence():
    spot = random_walk(1000, seed=1)
    history = synthetic_history(spot, spot**0.5 * 10)  # "same asset", yet the ratio is exactly 2: no doubt
    ratio = target_ratio(history, policy_from_name("rolling_ols_48"))
    burn_in = 30 * SAME_ASSET_HORIZON_H  # complete one-day returns exist from row 24 on

    assert np.allclose(ratio[: SAME_ASSET_HORIZON_H + burn_in - 1], 1.0, rtol=0, atol=1e-12)
    assert np.allclose(ratio[SAME_ASSET_HORIZON_H + burn_in - 1 :], 2.0)
