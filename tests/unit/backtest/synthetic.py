"""Synthetic histories with known answers, and files in the shared/data layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hedger.backtest.data import GapReport, HedgeHistory

START = pd.Timestamp("2021-01-01 01:00", tz="UTC")


def synthetic_history(
    spot: np.ndarray,
    perp: np.ndarray | None = None,
    funding_rate: np.ndarray | None = None,
    funding_interval_h: int = 8,
    hedge_asset: str = "SYN",
) -> HedgeHistory:
    """An hourly history from arrays; NaN prices make invalid hours (rates there must be 0).
    The spot asset is SYN: the same asset as the perp unless `hedge_asset` says otherwise."""
    spot = np.asarray(spot, dtype=float)
    perp = spot.copy() if perp is None else np.asarray(perp, dtype=float)
    rate = np.zeros(len(spot)) if funding_rate is None else np.asarray(funding_rate, dtype=float)
    valid = np.isfinite(spot) & np.isfinite(perp)
    gaps = GapReport(int((~np.isfinite(spot)).sum()), int((~np.isfinite(perp)).sum()), int((~valid).sum()), 0, ())
    return HedgeHistory(
        spot_asset="SYN",
        hedge_asset=hedge_asset,
        funding_source="synthetic",
        funding_interval_h=funding_interval_h,
        close_time=pd.date_range(START, periods=len(spot), freq="h", name="close_time_utc"),
        spot_usd=spot,
        perp_usd=perp,
        funding_price_usd=perp,
        funding_rate=rate,
        valid=valid,
        gaps=gaps,
    )


def random_walk(hours: int, seed: int = 7, start: float = 100.0, vol: float = 0.01) -> np.ndarray:
    steps = np.random.default_rng(seed).normal(0.0, vol, hours)
    steps[0] = 0.0
    return start * np.exp(np.cumsum(steps))


def write_binance_csv(path: Path, spot: np.ndarray, perp: np.ndarray, rate_every_8h: float = 0.0001) -> Path:
    """A file in the Binance layout: bar-open timestamps, closes, funding on the 00/08/16 rows only."""
    opened = pd.date_range("2021-01-01 00:00", periods=len(spot), freq="h", tz="UTC")
    funding = np.where(opened.hour % 8 == 0, rate_every_8h, np.nan)
    frame = pd.DataFrame(
        {"timestamp_utc": opened, "perp_close": perp, "spot_close": spot, "mark_close": perp, "funding_rate": funding}
    )
    frame.to_csv(path, index=False)
    return path
