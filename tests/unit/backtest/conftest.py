"""The real shared/data history, read once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hedger.backtest.data import HedgeHistory, MarketHistory, align, load_binance

DATA_DIR = Path(os.environ.get("HEDGER_DATA_DIR", Path(__file__).resolve().parents[4] / "shared" / "data"))


def _binance(name: str) -> MarketHistory:
    path = DATA_DIR / name
    if not path.exists():
        pytest.skip(f"{path} not found (set HEDGER_DATA_DIR)")
    return load_binance(path)


@pytest.fixture(scope="session")
def btc_market() -> MarketHistory:
    return _binance("binance_btcusdt_1h_2019_2023.csv")


@pytest.fixture(scope="session")
def eth_market() -> MarketHistory:
    return _binance("binance_ethusdt_1h_2019_2023.csv")


@pytest.fixture(scope="session")
def btc_with_btc(btc_market) -> HedgeHistory:
    return align(btc_market, btc_market)


@pytest.fixture(scope="session")
def eth_with_btc(eth_market, btc_market) -> HedgeHistory:
    return align(eth_market, btc_market)
