"""Sweeps on a real dask.distributed cluster (a local one with two worker processes) match the local run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from dask.distributed import LocalCluster

from hedger.backtest.sweep import run_sweep, standard_sweep
from hedger.errors import HedgerError
from tests.unit.backtest.synthetic import random_walk, synthetic_history

pytestmark = pytest.mark.slow


def test_a_sweep_on_a_dask_cluster_matches_the_local_run():
    history = synthetic_history(random_walk(24 * 20, seed=3), random_walk(24 * 20, seed=4))
    cases = standard_sweep()[::40]
    local = run_sweep(history, cases, workers=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = run_sweep(history, cases, scheduler=cluster.scheduler_address)
    assert remote == local and [row["label"] for row in remote] == [case.label for case in cases]


def test_an_unreachable_scheduler_is_a_clear_error():
    history = synthetic_history(random_walk(48, seed=3), random_walk(48, seed=4))
    with pytest.raises(HedgerError, match=r"no Dask scheduler at tcp://127\.0\.0\.1:9"):
        run_sweep(history, standard_sweep()[:1], scheduler="tcp://127.0.0.1:9")


def test_the_cli_sweep_on_a_scheduler_writes_the_same_runs_as_local_processes(tmp_path, capsys):
    from hedger.app.cli import main

    hours = 24 * 15
    rng = np.random.default_rng(5)
    spot = 2000 * np.exp(np.cumsum(rng.normal(0, 0.01, hours)))
    frame = pd.DataFrame({
        "timestamp_utc": pd.date_range("2023-01-01", periods=hours, freq="h", tz="UTC").astype(str),
        "perp_close": spot * (1 + rng.normal(0, 0.0005, hours)), "spot_close": spot, "mark_close": spot,
        "funding_rate": [0.0001 if h % 8 == 0 else np.nan for h in range(hours)],
    })  # fmt: skip
    data = tmp_path / "binance_ethusdt_1h_test.csv"
    frame.to_csv(data, index=False)
    base = ["backtest", "--data", str(data), "--sweep", "standard"]
    assert main([*base, "--out", str(tmp_path / "local"), "--workers", "1"]) == 0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert main([*base, "--out", str(tmp_path / "dask"), "--scheduler", cluster.scheduler_address]) == 0
    local = json.loads((tmp_path / "local" / "sweep.json").read_text())["runs"]
    remote = json.loads((tmp_path / "dask" / "sweep.json").read_text())["runs"]
    assert len(local) == 200 and remote == local
    assert "200 runs on tcp://" in capsys.readouterr().out
