"""The sweep: 200 distinct configurations; parallel runs give the same numbers as serial ones."""

from __future__ import annotations

from hedger.backtest.sweep import run_sweep, standard_sweep
from tests.unit.backtest.synthetic import random_walk, synthetic_history


def test_the_standard_sweep_has_200_distinct_configurations():
    cases = standard_sweep()
    assert len(cases) == 200
    assert len({case.label for case in cases}) == 200


def test_parallel_and_serial_sweeps_agree():
    history = synthetic_history(random_walk(24 * 30, seed=1), random_walk(24 * 30, seed=2))
    cases = standard_sweep()[::25]

    serial = run_sweep(history, cases, workers=1)
    parallel = run_sweep(history, cases, workers=2)

    assert [row["label"] for row in parallel] == [case.label for case in cases]
    assert serial == parallel
