"""The plan engine: a stalled oracle halts the replay as the live guards would (parity with the fast engine on a
year of real data: tests/integration/test_plan_engine_parity.py)."""

from __future__ import annotations

import numpy as np

from hedger.backtest.plan_engine import PlanEngineConfig, run_plan_backtest
from hedger.backtest.policies import policy_from_name
from hedger.model import Verdict
from hedger.strategy.parameters import GuardSettings
from tests.unit.backtest.synthetic import random_walk, synthetic_history


def _trades(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    deltas = np.diff(np.concatenate(([0.0], sizes)))
    rows = np.flatnonzero(deltas != 0)
    return rows, deltas[rows]


def test_a_stalled_oracle_halts_the_replay_once_its_heartbeat_has_passed():
    spot, perp = random_walk(72, seed=3), random_walk(72, seed=4, start=50)
    spot[30:35] = np.nan  # the feed stops for five hours: no price, no round
    history = synthetic_history(spot, perp, hedge_asset="HED")
    replay = run_plan_backtest(history, policy_from_name("band_1"), engine=PlanEngineConfig(), keep_plans=True)
    guards = GuardSettings()
    limit_s = 3600 * (1 + guards.oracle_staleness_buffer_rel)
    last_valid = 29 * 3600  # seconds since the start of the last round before the gap
    expected = [i for i in range(30, 35) if i * 3600 - last_valid > limit_s]
    assert expected == [31, 32, 33, 34] and list(replay.halted_rows) == expected
    for row in expected:
        plan = replay.plans[row]
        assert plan.verdict is Verdict.HALT and not plan.actions
        assert "oracle_stale" in {r.code for r in plan.reasons}
    rows, _ = _trades(replay.result.perp_size)
    assert not set(rows) & set(range(30, 35))  # nothing fills without a price
    assert replay.plans[35].verdict is not Verdict.HALT  # the feed is back: the replay goes on
