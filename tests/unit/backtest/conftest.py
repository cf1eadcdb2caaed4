"""The real shared/data history, read once per test session."""

from __future__ import annotations

import pytest

from hedger.backtest.data import HedgeHistory, MarketHistory, align, load_binance
from tests.support.data import data_file


def _binance(name: str) -> MarketHistory:
    return load_binance(data_file(name))


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
