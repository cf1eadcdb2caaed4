"""Helpers for the dashboard's browser tests and its benchmark: the Chromium to drive, and a backtest report."""

from __future__ import annotations

import os
from pathlib import Path

from hedger.app.cli import main
from tests.unit.backtest.synthetic import random_walk, write_binance_csv

CHROMIUM = os.environ.get("HEDGER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def write_backtest_report(directory: Path) -> Path:
    """One real `hedger backtest --out` report on 15 days of synthetic hourly prices."""
    directory.mkdir(parents=True, exist_ok=True)
    eth = random_walk(24 * 15, seed=3)
    data = write_binance_csv(directory / "binance_ethusdt_1h.csv", eth, eth)
    code = main(["backtest", "--data", str(data), "--policy", "unhedged,one_to_one", "--out", str(directory / "eth")])
    assert code == 0
    return directory
