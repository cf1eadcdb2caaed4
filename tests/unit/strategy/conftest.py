"""Real hourly history from shared/data, read once per test session."""

from __future__ import annotations

import pandas as pd
import pytest

from hedger.backtest.data import read_price_history
from tests.support.data import data_file


def _history(name: str) -> pd.DataFrame:
    return read_price_history(data_file(name))


@pytest.fixture(scope="session")
def btc() -> pd.DataFrame:
    return _history("binance_btcusdt_1h_2019_2023.csv")


@pytest.fixture(scope="session")
def eth() -> pd.DataFrame:
    return _history("binance_ethusdt_1h_2019_2023.csv")
