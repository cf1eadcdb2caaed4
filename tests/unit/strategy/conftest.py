"""Real hourly history from shared/data, read once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from hedger.strategy.ratio import read_price_history

DATA_DIR = Path(os.environ.get("HEDGER_DATA_DIR", "/work/shared/data"))


def _history(name: str) -> pd.DataFrame:
    path = DATA_DIR / name
    if not path.exists():
        pytest.skip(f"{path} not found (set HEDGER_DATA_DIR)")
    return read_price_history(path)


@pytest.fixture(scope="session")
def btc() -> pd.DataFrame:
    return _history("binance_btcusdt_1h_2019_2023.csv")


@pytest.fixture(scope="session")
def eth() -> pd.DataFrame:
    return _history("binance_ethusdt_1h_2019_2023.csv")
