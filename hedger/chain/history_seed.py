"""A realistic round history for the local price feeds, written at deploy time (`hedger chain up`).

With real hourly data beside the checkout (`../shared/data`, or `HEDGER_DATA_DIR`): the last `days` of Binance
spot closes of each asset, re-dated so the last close lands on the deploy block and scaled so it equals the feed's
configured price (returns, volatility, correlation and the exchange's missing hours are the real ones). Without
the data: a small fixture, correlated log-normal hourly moves with a fixed seed, at volatilities and a correlation
measured on that data (ETH 0.92%/h, BTC 0.73%/h, ρ 0.85 over 2019–2023), so the demo's estimate is still an
estimate.

Rounds are written with phase-encoded ids in phase `phase` (roundId = phase << 64 | n, n from 1), as a Chainlink
proxy reports them after an aggregator upgrade: the feed's deploy-time round stays in phase 0 before them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from web3 import Web3

HOUR_S = 3600
ROUNDS_PER_TX = 150
"""Each round is four storage slots and two events (~100k gas): 150 rounds stay well inside a 30M-gas block."""
FIXTURE_VOL_PER_H = {"ETH": 0.0092, "BTC": 0.0073}
FIXTURE_CORRELATION = 0.85
DATA_FILES = {"ETH": "binance_ethusdt_1h_2019_2023.csv", "BTC": "binance_btcusdt_1h_2019_2023.csv"}


@dataclass(frozen=True)
class HistorySeed:
    """Hourly relative prices per asset, oldest first, the last one at deploy time (NaN: no round that hour)."""

    relative: Mapping[str, Sequence[float]]
    source: str
    phase: int = 1

    @property
    def hours(self) -> int:
        return max(len(v) for v in self.relative.values())


def default_data_dir() -> Path:
    from hedger.chain.toolchain import project_root

    return Path(os.environ.get("HEDGER_DATA_DIR", project_root().parent / "shared" / "data"))


def load_seed(days: int = 30, data_dir: Path | None = None, assets: Sequence[str] = ("ETH", "BTC")) -> HistorySeed:
    """The last `days` of real hourly spot closes when the files are there, else the fixture."""
    directory = data_dir or default_data_dir()
    paths = {a: directory / DATA_FILES[a] for a in assets if a in DATA_FILES}
    if len(paths) == len(assets) and all(p.exists() for p in paths.values()):
        return _from_files(paths, days)
    return fixture_seed(days, assets)


def _from_files(paths: Mapping[str, Path], days: int) -> HistorySeed:
    closes = {}
    for asset, path in paths.items():
        frame = pd.read_csv(path, usecols=["timestamp_utc", "spot_close"])
        closes[asset] = pd.Series(
            frame["spot_close"].to_numpy(float), index=pd.to_datetime(frame["timestamp_utc"], utc=True)
        )
    end = min(s.index.max() for s in closes.values())
    grid = pd.date_range(end - pd.Timedelta(hours=days * 24 - 1), end, freq="h")
    relative = {}
    for asset, series in closes.items():
        window = series.reindex(grid)
        last = window.dropna().iloc[-1]
        relative[asset] = list(window.to_numpy() / last)
    return HistorySeed(relative, f"binance spot closes {grid[0]:%Y-%m-%d %H:%M} → {grid[-1]:%Y-%m-%d %H:%M} UTC")


def fixture_seed(days: int = 30, assets: Sequence[str] = ("ETH", "BTC"), seed: int = 13) -> HistorySeed:
    rng = np.random.default_rng(seed)
    hours = days * 24
    common = rng.standard_normal(hours)
    relative = {}
    for asset in assets:
        vol = FIXTURE_VOL_PER_H.get(asset, 0.006)
        rho = FIXTURE_CORRELATION if asset != assets[0] else 1.0
        shocks = rho * common + np.sqrt(1 - rho * rho) * rng.standard_normal(hours)
        path = np.exp(np.cumsum(vol * shocks))
        relative[asset] = list(path / path[-1])
    return HistorySeed(relative, f"fixture: seeded log-normal hourly moves (seed {seed})")


def write_history(w3: Web3, feeds: Mapping[str, tuple[Any, str, Decimal]], seed: HistorySeed, sender: str) -> int:
    """Write the seed into each feed: `feeds` maps feed name → (contract, asset, latest price). Returns the number
    of rounds written. Assets the seed does not cover are left with their single deploy-time round."""
    now = w3.eth.get_block("latest")["timestamp"]
    written = 0
    for contract, asset, price in feeds.values():
        relative = seed.relative.get(asset)
        if relative is None:
            continue
        count = len(relative)
        hours = [(n, r) for n, r in enumerate(relative) if r == r]  # NaN: no price that hour, so no round
        rows = [
            ((seed.phase << 64) | (k + 1), round(float(price) * r * 10**8), now - (count - 1 - n) * HOUR_S)
            for k, (n, r) in enumerate(hours)
        ]
        for start in range(0, len(rows), ROUNDS_PER_TX):
            chunk = rows[start : start + ROUNDS_PER_TX]
            ids, answers, times = (list(column) for column in zip(*chunk, strict=True))
            tx = contract.functions.writeRounds(ids, answers, times).transact({"from": sender})
            w3.eth.wait_for_transaction_receipt(tx, timeout=60)
        written += len(rows)
    return written
