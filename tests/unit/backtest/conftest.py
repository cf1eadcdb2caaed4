"""The real shared/data history, read once per test session."""

from __future__ import annotations

import pytest

from hedger.backtest.data import HedgeHistory, MarketHistory, align, load_binance, load_dydx_funding
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
def eth_with_eth(eth_market) -> HedgeHistory:
    return align(eth_market, eth_market)


@pytest.fixture(scope="session")
def btc_with_btc_dydx(btc_market) -> HedgeHistory:
    """BTC hedged with the BTC perp paying dYdX v3 hourly funding: the 2022–2023 window."""
    return align(btc_market, btc_market, load_dydx_funding(data_file("dydx_btcusd_funding_1h_2022_2023.csv")))


@pytest.fixture(scope="session")
def eth_with_btc(eth_market, btc_market) -> HedgeHistory:
    return align(eth_market, btc_market)
