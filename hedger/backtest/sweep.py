"""Many policy configurations over one history, in parallel: local processes, or an existing Dask cluster.

Everything the configurations share is prepared once in the parent process: the history's loop arrays and
metric row sets (`PreparedHistory`) and one ratio series per estimator (vectorised). The worker processes
inherit them (fork) and run only the accounting loop and the metrics. With `scheduler` (a dask.distributed
address such as tcp://10.0.0.5:8786), the prepared history and the ratio series are scattered to every worker
once and the cases run there; the workers need hedger installed (same version). Results come back in case
order and are the same numbers as a local run.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from hedger.backtest.data import HedgeHistory
from hedger.backtest.engine import BacktestConfig, PreparedHistory, run_backtest
from hedger.backtest.metrics import compute_metrics
from hedger.backtest.policies import HedgePolicy, policy_from_name, target_ratio
from hedger.errors import HedgerError
from hedger.strategy.ratio import RatioEstimator

SWEEP_ESTIMATORS = (
    "one_to_one",
    "partial_50",
    "partial_75",
    "ols",
    "rolling_ols_168",
    "rolling_ols_720",
    "rolling_ols_2160",
    "ewma_0.99",
    "ewma_0.995",
    "ewma_0.999",
)
SWEEP_BANDS = (0.01, 0.02, 0.05, 0.10, 0.25)
SWEEP_LEVERAGES = (2.0, 3.0, 5.0, 10.0)


@dataclass(frozen=True)
class SweepCase:
    policy: HedgePolicy
    config: BacktestConfig

    @property
    def label(self) -> str:
        return f"{self.policy.name}@{self.config.margin.leverage:g}x"


def standard_sweep(base: BacktestConfig | None = None) -> list[SweepCase]:
    """10 ratio estimators × 5 rebalance bands × 4 leverages = 200 configurations."""
    base = base or BacktestConfig()
    return [
        SweepCase(policy_from_name(name).with_band(band), replace(base, margin=replace(base.margin, leverage=leverage)))
        for name, band, leverage in itertools.product(SWEEP_ESTIMATORS, SWEEP_BANDS, SWEEP_LEVERAGES)
    ]


def run_sweep(
    history: HedgeHistory, cases: Sequence[SweepCase], workers: int = 2, scheduler: str | None = None
) -> list[dict[str, object]]:
    """Metrics of every case, in order: {"label", "policy", "leverage", **metrics}."""
    ratios: dict[_RatioKey, np.ndarray] = {}
    for case in cases:  # once per estimator, not once per case
        key = _ratio_key(case.policy, history)
        if key not in ratios:
            ratios[key] = target_ratio(history, case.policy)
    prepared = PreparedHistory.of(history)
    if scheduler is not None:
        return _run_on_dask(scheduler, prepared, ratios, cases)
    _SHARED[:] = [(prepared, ratios)]
    try:
        if workers <= 1:
            return [_run_case(case) for case in cases]
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            return pool.map(_run_case, cases, chunksize=max(1, len(cases) // (4 * workers)))
    finally:
        _SHARED.clear()


_RatioKey = tuple[RatioEstimator, float]
_SHARED: list[tuple[PreparedHistory, dict[_RatioKey, np.ndarray]]] = []  # what forked workers inherit: one entry


def _ratio_key(policy: HedgePolicy, history: HedgeHistory) -> _RatioKey:
    return (policy.estimator_for(history), policy.fallback_ratio)


def _run_case(case: SweepCase) -> dict[str, object]:
    ((prepared, ratios),) = _SHARED
    ratio = ratios[_ratio_key(case.policy, prepared.history)]
    result = run_backtest(prepared, case.policy, case.config, ratio)
    return {
        "label": case.label,
        "policy": case.policy.name,
        "leverage": case.config.margin.leverage,
        **compute_metrics(result),
    }


def _run_on_dask(
    scheduler: str, prepared: PreparedHistory, ratios: dict[_RatioKey, np.ndarray], cases: Sequence[SweepCase]
) -> list[dict[str, object]]:
    from dask.distributed import Client

    try:
        client = Client(scheduler, timeout="5s", set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise HedgerError(
            f"no Dask scheduler at {scheduler} ({error})", "start one (dask scheduler) or drop --scheduler"
        ) from None
    with client:
        shared = client.scatter({"prepared": prepared, "ratios": ratios}, broadcast=True)
        futures = client.map(_run_remote, list(cases), prepared=shared["prepared"], ratios=shared["ratios"], pure=False)
        return client.gather(futures)


def _run_remote(case: SweepCase, prepared: PreparedHistory, ratios: dict[_RatioKey, np.ndarray]) -> dict[str, object]:
    _SHARED[:] = [(prepared, ratios)]
    try:
        return _run_case(case)
    finally:
        _SHARED.clear()
