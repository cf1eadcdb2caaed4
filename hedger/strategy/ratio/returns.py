"""Return preparation for the ratio estimators: log returns on a time grid with gaps kept, spot/perp pairs,
overlapping multi-period sums, basis outliers, and an oracle's round history as one price per bucket.

Gaps: a missing price is never filled. `log_returns` turns it into NaN returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import pandas as pd

from hedger.errors import DataError

MAX_BASIS = 0.05
"""|ln(perp / spot)| above which a close is not a tradable price: Binance USDⓈ-M perps refuse orders more than
5% from the mark price (PERCENT_PRICE filter 0.95–1.05 on BTCUSDT and ETHUSDT), and the mark follows the spot index."""


def log_returns(prices: pd.DataFrame, horizon: str = "1h", max_gap: str | None = None) -> pd.DataFrame:
    """Log returns of each price column at `horizon`, with gaps left as NaN.

    1. Each column is resampled to `horizon` buckets (pandas offsets: "1h", "4h", "1D"); a bucket's
       price is the column's last valid price inside it, and a bucket with none is missing. Buckets are
       labelled by their start, like the hourly bars of the input.
    2. With `max_gap=None`, the return at bucket t is log(p_t / p_{t-1}) over the adjacent bucket only:
       it is NaN when either bucket is missing, so an outage produces NaN, never a filled price and never a
       zero return. Each column is treated on its own.
    3. With `max_gap` (e.g. "3h", at least `horizon`), returns are taken between consecutive buckets where
       *every* column has a price, and kept when they span at most `max_gap`: the return after a short
       outage then covers the whole outage, for all columns alike; longer spans are NaN, and so is every
       bucket where some column is missing.

    Either way, all non-NaN returns in one row span the same interval, so the legs of a hedge are always
    compared over the same time. The first row is NaN. `attrs["horizon"]` records the horizon.
    """
    _check_prices(prices)
    buckets = prices.resample(horizon).last()
    logs = cast(pd.DataFrame, np.log(buckets))
    returns = logs.diff() if max_gap is None else _bridged_returns(logs, _gap_limit(horizon, max_gap))
    returns.attrs["horizon"] = horizon
    return returns


def _check_prices(prices: pd.DataFrame) -> None:
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise DataError("prices need a DatetimeIndex (read CSVs with hedger.backtest.data.read_price_history)")
    if (prices <= 0).any().any():
        bad = prices.columns[(prices <= 0).any()].tolist()
        raise DataError(f"non-positive prices in column(s) {bad}: a log return needs prices > 0")


def _gap_limit(horizon: str, max_gap: str) -> pd.Timedelta:
    limit = pd.Timedelta(max_gap)
    if limit < pd.Timedelta(horizon):
        raise DataError(f"max_gap {max_gap} is shorter than the horizon {horizon}")
    return limit


def _bridged_returns(logs: pd.DataFrame, limit: pd.Timedelta) -> pd.DataFrame:
    complete = logs.dropna()
    returns = complete.diff()
    span = complete.index.to_series().diff()
    returns.loc[span > limit] = np.nan
    return returns.reindex(logs.index)


def paired_returns(
    spot_prices: pd.Series,
    perp_prices: pd.Series,
    horizon: str = "1h",
    max_gap: str | None = None,
    exclude: pd.Series | None = None,
) -> tuple[pd.Series, pd.Series]:
    """Spot and perp log returns on one time grid: the input of every estimator.

    The two series may come from different assets: ETH spot with the BTC perp gives the cross-asset beta
    of ETH on BTC, the ratio to hedge ETH held with a BTC perp.

    `exclude` (booleans on the price index, e.g. `basis_outliers`): prices at those times are not used, so the
    returns into and out of them are NaN, like a gap. How many prices were excluded is in `attrs["excluded"]`
    of both series (0 without `exclude`): never silent.
    """
    frame = pd.concat({"spot": spot_prices, "perp": perp_prices}, axis=1, sort=True)
    excluded = 0
    if exclude is not None:
        mask = exclude.reindex(frame.index, fill_value=False).astype(bool)
        excluded = int(mask.sum())
        frame = frame.mask(mask)
    returns = log_returns(frame, horizon, max_gap)
    spot, perp = returns["spot"], returns["perp"]
    for leg in (spot, perp):
        leg.attrs.update(horizon=horizon, excluded=excluded)
    return spot, perp


def basis_outliers(perp_prices: pd.Series, spot_prices: pd.Series, max_basis: float = MAX_BASIS) -> pd.Series:
    """True where a perp's price and the spot price *of the same asset* disagree: |ln(perp / spot)| > `max_basis`.

    Arbitrage and funding keep a perp within a fraction of a percent of its spot index; a close 5% away (the
    default, `MAX_BASIS`) is not a price anyone could trade at: a listing print, an outage. Times where either
    price is missing are not outliers (they are gaps already). Indexed like `perp_prices`.
    """
    spot = spot_prices.reindex(perp_prices.index)
    with np.errstate(invalid="ignore", divide="ignore"):
        basis = np.log(perp_prices.to_numpy(float) / spot.to_numpy(float))
    return pd.Series(np.abs(basis) > max_basis, index=perp_prices.index, name="basis_outlier")


def aggregate_returns(spot_returns: pd.Series, perp_returns: pd.Series, periods: int) -> tuple[pd.Series, pd.Series]:
    """Overlapping `periods`-period log returns: at each row, the sum of that row's return and the `periods − 1`
    before it, for both legs; NaN when any of those rows lacks either leg (a gap is never bridged).

    The input must be on a regular grid (as `log_returns` gives). `periods=1` returns the input unchanged.
    One observation per input row, so neighbouring observations overlap: see `hac_factor`.
    """
    _check_horizon(periods)
    if periods == 1:
        return spot_returns, perp_returns
    pairs = pd.concat({"spot": spot_returns, "perp": perp_returns}, axis=1, sort=True)
    complete = pairs.where(pairs.notna().all(axis=1))
    sums = complete.rolling(periods, min_periods=periods).sum()
    horizon = _times(_horizon(spot_returns), periods)
    spot, perp = sums["spot"], sums["perp"]
    for leg, source in ((spot, spot_returns), (perp, perp_returns)):
        leg.attrs.update(source.attrs)
        leg.attrs["horizon"] = horizon
    return spot, perp


def _times(horizon: str | None, periods: int) -> str | None:
    if horizon is None or periods == 1:
        return horizon
    try:
        return (pd.tseries.frequencies.to_offset(horizon) * periods).freqstr
    except ValueError:
        return f"{periods}x{horizon}"


def oracle_round_prices(
    updated_at_s: Sequence[int], answers: Sequence[int], decimals: int, heartbeat_s: int, horizon: str = "1h"
) -> pd.Series:
    """An oracle's round history (read on-chain) as one price per `horizon` bucket, for `log_returns`.

    A Chainlink answer stands until the next round, but only for a heartbeat: each bucket gets the latest
    answer updated before the bucket's end and at most `heartbeat_s` earlier; otherwise it is missing.
    This is the feed's own validity rule, not a fill across an outage.
    """
    updated = pd.DatetimeIndex(pd.to_datetime(np.asarray(updated_at_s), unit="s", utc=True))
    rounds = pd.DataFrame({"at": updated, "price": np.asarray(answers, dtype=float) / 10**decimals}).sort_values("at")
    labels = pd.date_range(updated.min().floor(horizon), updated.max(), freq=horizon)
    ends = pd.DataFrame({"label": labels, "at": labels + pd.Timedelta(horizon)})
    matched = pd.merge_asof(
        ends, rounds, on="at", direction="backward", tolerance=pd.Timedelta(heartbeat_s, "s"), allow_exact_matches=False
    )
    return pd.Series(matched["price"].to_numpy(), index=pd.DatetimeIndex(labels), name="oracle")


def _complete_pairs(spot_returns: pd.Series, perp_returns: pd.Series) -> pd.DataFrame:
    return pd.concat({"spot": spot_returns, "perp": perp_returns}, axis=1, sort=True).dropna()


def _horizon(returns: pd.Series | pd.DataFrame) -> str | None:
    if "horizon" in returns.attrs:
        return returns.attrs["horizon"]
    if isinstance(returns.index, pd.DatetimeIndex) and len(returns.index) > 1:
        step = pd.Series(returns.index).diff().median()
        return pd.tseries.frequencies.to_offset(step).freqstr
    return None


def _check_horizon(periods: int) -> None:
    if periods < 1:
        raise DataError(f"horizon must be at least 1 period, got {periods}")
