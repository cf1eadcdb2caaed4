"""Market history for backtests: load Binance and dYdX files, align them on UTC hours, record gaps.

Time convention
- Every row of a `HedgeHistory` is one UTC hour, stamped with its *close* time (a Binance bar opened at
  10:00 closes at 11:00, and its close prices are observed then). Decisions are taken at close times.
- Funding is stamped with its *settlement* time: Binance's 8-hour rate on the 00:00 row settles at 00:00,
  which is the close of the 23:00 bar; a dYdX hourly rate stamped 05:00 settles at 05:00.
- Rates are over the source's native interval (`funding_interval_h`: 8 for Binance, 1 for dYdX v3) and
  follow the convention *positive: longs pay shorts*, so a short hedge receives a positive rate.

Gaps are never filled: a missing or empty price leaves the hour invalid (`valid` is False), and the hour
stays on the grid so every return that would span it is NaN. Funding that settles in an invalid hour is
booked at the next valid hour (the position cannot change in between) and counted.

Basis outliers: a valid hour where the hedge perp's close and its own asset's spot close disagree by more than
`hedger.strategy.ratio.MAX_BASIS` (|ln(perp/spot)| > 5%: a listing print, an outage) is flagged
(`basis_outlier`) and counted like a gap. The book is still marked at it (the prices are what the files say),
but the ratio estimators do not learn from it: its returns are excluded from estimation.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hedger.errors import DataError
from hedger.strategy.ratio import MAX_BASIS, basis_outliers

HOUR = pd.Timedelta(hours=1)
BINANCE_FUNDING_INTERVAL_H = 8
DYDX_FUNDING_INTERVAL_H = 1
BINANCE_COLUMNS = ("timestamp_utc", "perp_close", "spot_close", "mark_close", "funding_rate")
DYDX_COLUMNS = ("Symbol", "Date", "Funding Rate")
UNREADABLE = (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError)
"""What reading a file that is missing, a directory, binary or not a CSV raises (see `unreadable`)."""


@dataclass(frozen=True)
class FundingHistory:
    """Realised funding rates of one perp, by settlement time (UTC)."""

    source: str
    asset: str
    funding_interval_h: int
    rates: pd.Series


@dataclass(frozen=True)
class MarketHistory:
    """One asset's hourly spot, perp and mark closes (indexed by close time) and its venue funding."""

    asset: str
    prices: pd.DataFrame
    funding: FundingHistory


MIN_REPORT_SPAN = pd.Timedelta(days=1)  # shorter histories get a warning in the report
MIN_VALID_SHARE = 0.5  # so do histories with fewer valid hours than this share of their grid


@dataclass(frozen=True)
class GapReport:
    """What the alignment found missing: nothing here was filled."""

    missing_spot_hours: int
    missing_perp_hours: int
    invalid_hours: int
    funding_events_deferred: int
    first_invalid_hours: tuple[str, ...]
    basis_outlier_hours: int = 0
    first_basis_outlier_hours: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "missing_spot_hours": self.missing_spot_hours,
            "missing_perp_hours": self.missing_perp_hours,
            "invalid_hours": self.invalid_hours,
            "funding_events_deferred": self.funding_events_deferred,
            "first_invalid_hours": list(self.first_invalid_hours),
            "basis_outlier_hours": self.basis_outlier_hours,
            "first_basis_outlier_hours": list(self.first_basis_outlier_hours),
        }


@dataclass(frozen=True)
class HedgeHistory:
    """Spot of one asset and the perp that hedges it, on one hourly grid, as numpy arrays.

    `funding_rate[i]` is the rate (over `funding_interval_h`) settled at close time i on the position
    held into it, priced at `funding_price_usd[i]` (mark close, or perp close where the mark is absent).
    `basis_outlier[i]`: the hedge perp's close is more than `MAX_BASIS` from its own asset's spot close at i
    (None: nothing flagged); estimation leaves these closes out.
    """

    spot_asset: str
    hedge_asset: str
    funding_source: str
    funding_interval_h: int
    close_time: pd.DatetimeIndex
    spot_usd: np.ndarray
    perp_usd: np.ndarray
    funding_price_usd: np.ndarray
    funding_rate: np.ndarray
    valid: np.ndarray
    gaps: GapReport
    basis_outlier: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.close_time)

    @property
    def years(self) -> float:
        return (self.close_time[-1] - self.close_time[0]) / pd.Timedelta(days=365.25)

    @property
    def same_asset(self) -> bool:
        return self.spot_asset == self.hedge_asset

    @property
    def perp_units_per_spot_unit(self) -> np.ndarray:
        """Perp units that hedge one spot unit at ratio 1, as `hedger.strategy.sizing` converts: 1 for the
        same asset, spot price / perp price across assets (the ratio is value-for-value)."""
        if self.same_asset:
            return np.ones(len(self))
        return self.spot_usd / self.perp_usd

    def prices_frame(self) -> pd.DataFrame:
        """Spot and perp closes on the grid, NaN where the hour is invalid (for the ratio estimators)."""
        spot = np.where(self.valid, self.spot_usd, np.nan)
        perp = np.where(self.valid, self.perp_usd, np.nan)
        return pd.DataFrame({"spot": spot, "perp": perp}, index=self.close_time)

    def estimation_excluded(self) -> pd.Series:
        """The closes the ratio estimators must not use (basis outliers), as booleans on the grid."""
        flagged = np.zeros(len(self), bool) if self.basis_outlier is None else self.basis_outlier
        return pd.Series(flagged, index=self.close_time, name="excluded")

    def between(self, start: str | pd.Timestamp, end: str | pd.Timestamp) -> HedgeHistory:
        """The closes in [start, end) (UTC), with the gap counts recomputed for that span."""
        rows = (self.close_time >= pd.Timestamp(start, tz="UTC")) & (self.close_time < pd.Timestamp(end, tz="UTC"))
        if not rows.any():
            raise DataError(f"no closes between {start} and {end}")
        valid = self.valid[rows]
        outlier = None if self.basis_outlier is None else self.basis_outlier[rows]
        gaps = GapReport(
            missing_spot_hours=int((~np.isfinite(self.spot_usd[rows])).sum()),
            missing_perp_hours=int((~np.isfinite(self.perp_usd[rows])).sum()),
            invalid_hours=int((~valid).sum()),
            funding_events_deferred=0,
            first_invalid_hours=tuple(t.isoformat() for t in self.close_time[rows][~valid][:10]),
            basis_outlier_hours=0 if outlier is None else int(outlier.sum()),
        )
        return dataclasses.replace(
            self, close_time=self.close_time[rows], spot_usd=self.spot_usd[rows], perp_usd=self.perp_usd[rows],
            funding_price_usd=self.funding_price_usd[rows], funding_rate=self.funding_rate[rows], valid=valid,
            gaps=gaps, basis_outlier=outlier,
        )  # fmt: skip

    @property
    def warnings(self) -> tuple[str, ...]:
        """What makes this history too thin to judge a hedge by (shown in reports and by the CLI)."""
        span = self.close_time[-1] - self.close_time[0] if len(self) else pd.Timedelta(0)
        found = []
        if span < MIN_REPORT_SPAN:
            found.append(
                f"the history spans {span / pd.Timedelta(hours=1):g} h, less than a day: no daily return, no funding"
                " pattern and annualised figures from a few hours; give at least a day of closes (weeks to judge a"
                " hedge)"
            )
        valid = int(self.valid.sum())
        if len(self) and valid < MIN_VALID_SHARE * len(self):
            found.append(
                f"only {valid:,} of {len(self):,} hours are valid ({valid / len(self):.0%}): the returns span the gaps"
                " and the figures describe a sparse sample; check the files' coverage"
            )
        return tuple(found)

    def describe(self) -> dict[str, object]:
        return {
            "spot_asset": self.spot_asset,
            "hedge_asset": self.hedge_asset,
            "funding_source": self.funding_source,
            "funding_interval_h": self.funding_interval_h,
            "first_close_utc": self.close_time[0].isoformat(),
            "last_close_utc": self.close_time[-1].isoformat(),
            "hours": len(self),
            "valid_hours": int(self.valid.sum()),
            "gaps": self.gaps.to_json(),
            "warnings": list(self.warnings),
        }


MAX_PRICE_USD = 1e12  # no asset trades above this per unit: a larger close is a corrupt row
MAX_FUNDING_RATE = 1.0  # 100 % per interval: no venue settles more; a larger rate is a corrupt row


def _refuse_absurd(grid: pd.DatetimeIndex, valid: np.ndarray, prices: dict[str, np.ndarray], rates: pd.Series) -> None:
    """A close above MAX_PRICE_USD, or a funding rate that is not finite or above MAX_FUNDING_RATE in size, is a
    corrupt file, not a market: refused rather than run (it would overflow or dominate every figure)."""
    for name, values in prices.items():
        absurd = valid & (values > MAX_PRICE_USD)
        if absurd.any():
            at = grid[int(np.argmax(absurd))].isoformat()
            raise DataError(f"the {name} close at {at} is {values[absurd][0]:g} USD: beyond {MAX_PRICE_USD:g}, not a"
                            " price", "fix or drop that row (an empty price is a gap, and is allowed)")  # fmt: skip
    bad = ~np.isfinite(rates.to_numpy()) | (np.abs(rates.to_numpy()) > MAX_FUNDING_RATE)
    if bad.any():
        at = rates.index[int(np.argmax(bad))].isoformat()
        raise DataError(f"the funding rate at {at} is {rates.to_numpy()[bad][0]:g}: not a rate per interval",
                        "fix or drop that row (rates are fractions per funding interval, e.g. 0.0001)")  # fmt: skip


def read_price_history(path: str | Path, time_column: str = "timestamp_utc") -> pd.DataFrame:
    """A price-history CSV (one row per time, one column per price) indexed by UTC time, sorted."""
    frame = pd.read_csv(path)
    if time_column not in frame.columns:
        raise DataError(f"{path}: no time column {time_column!r} (columns: {', '.join(frame.columns)})")
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop(time_column), utc=True), name=time_column)
    return frame.sort_index()


def load_binance(path: str | Path, asset: str | None = None) -> MarketHistory:
    """A Binance hourly file: bar-open timestamps become close times; funding keeps its settlement time."""
    frame = _read_csv(path, BINANCE_COLUMNS)
    opened = times(frame, "timestamp_utc", path)
    if opened.duplicated().any():
        raise DataError(f"{path}: duplicate timestamps", "keep one row per hour")
    close_time = pd.DatetimeIndex(opened + HOUR, name="close_time_utc")
    prices = pd.DataFrame(
        {
            "spot": numbers(frame, "spot_close", path),
            "perp": numbers(frame, "perp_close", path),
            "mark": numbers(frame, "mark_close", path),
        },
        index=close_time,
    ).sort_index()
    funding_rate = numbers(frame, "funding_rate", path)
    funded = ~np.isnan(funding_rate)
    rates = pd.Series(funding_rate[funded], index=pd.DatetimeIndex(opened[funded]))
    asset = asset or _asset_from_name(path)
    funding = FundingHistory(f"binance:{asset}", asset, BINANCE_FUNDING_INTERVAL_H, rates.sort_index())
    return MarketHistory(asset, prices, funding)


def load_dydx_funding(path: str | Path) -> FundingHistory:
    """A dYdX v3 hourly funding file (`Symbol, Date, Funding Rate`): an hourly rate settled at `Date` (UTC)."""
    frame = _read_csv(path, DYDX_COLUMNS)
    symbols = frame["Symbol"].unique()
    if len(symbols) != 1:
        raise DataError(f"{path}: expected one symbol, found {list(symbols)}", "one file per market")
    settled = pd.DatetimeIndex(times(frame, "Date", path))
    if settled.duplicated().any():
        raise DataError(f"{path}: duplicate funding times", "keep one rate per settlement time")
    rates = pd.Series(numbers(frame, "Funding Rate", path), index=settled).sort_index()
    asset = str(symbols[0]).split("-")[0].upper()
    return FundingHistory(f"dydx:{symbols[0]}", asset, DYDX_FUNDING_INTERVAL_H, rates)


def align(
    spot: MarketHistory, hedge: MarketHistory, funding: FundingHistory | None = None, max_basis: float = MAX_BASIS
) -> HedgeHistory:
    """Spot from `spot`, perp (and its funding, unless `funding` is given) from `hedge`, on one hourly grid.

    The grid spans the hours both files cover (and the funding file, when one is given); hours missing
    in either file stay on the grid as invalid. Valid hours where the hedge perp is more than `max_basis`
    (log) from the hedge asset's own spot are flagged as basis outliers and counted.
    """
    funding = funding or hedge.funding
    start = max(spot.prices.index[0], hedge.prices.index[0])
    end = min(spot.prices.index[-1], hedge.prices.index[-1])
    if funding is not hedge.funding:
        start, end = max(start, funding.rates.index[0]), min(end, funding.rates.index[-1])
    if start >= end:
        raise _no_overlap(spot, hedge, funding)
    grid = pd.date_range(start, end, freq="h", name="close_time_utc")
    spot_usd = spot.prices["spot"].reindex(grid).to_numpy()
    perp_usd = hedge.prices["perp"].reindex(grid).to_numpy()
    mark_usd = hedge.prices["mark"].reindex(grid).to_numpy()
    valid = np.isfinite(spot_usd) & np.isfinite(perp_usd) & (spot_usd > 0) & (perp_usd > 0)
    _refuse_absurd(grid, valid, {"spot": spot_usd, "perp": perp_usd}, funding.rates)
    hedge_spot = hedge.prices["spot"].reindex(grid)
    outlier = valid & basis_outliers(pd.Series(perp_usd, index=grid), hedge_spot, max_basis).to_numpy()
    funding_rate, deferred = _funding_on_valid_hours(funding.rates, grid, valid)
    gaps = GapReport(
        missing_spot_hours=int((~np.isfinite(spot_usd)).sum()),
        missing_perp_hours=int((~np.isfinite(perp_usd)).sum()),
        invalid_hours=int((~valid).sum()),
        funding_events_deferred=deferred,
        first_invalid_hours=tuple(t.isoformat() for t in grid[~valid][:10]),
        basis_outlier_hours=int(outlier.sum()),
        first_basis_outlier_hours=tuple(t.isoformat() for t in grid[outlier][:10]),
    )
    return HedgeHistory(
        spot_asset=spot.asset,
        hedge_asset=hedge.asset,
        funding_source=funding.source,
        funding_interval_h=funding.funding_interval_h,
        close_time=grid,
        spot_usd=spot_usd,
        perp_usd=perp_usd,
        funding_price_usd=np.where(np.isfinite(mark_usd), mark_usd, perp_usd),
        funding_rate=funding_rate,
        valid=valid,
        gaps=gaps,
        basis_outlier=outlier,
    )


def _no_overlap(spot: MarketHistory, hedge: MarketHistory, funding: FundingHistory) -> DataError:
    spans = [(f"{spot.asset} spot", spot.prices.index), (f"{hedge.asset} perp", hedge.prices.index)]
    spans += [(f"{funding.source} funding", funding.rates.index)] if funding is not hedge.funding else []
    covered = "; ".join(f"{name} {times[0]:%Y-%m-%d %H:%M} → {times[-1]:%Y-%m-%d %H:%M}" for name, times in spans)
    return DataError(
        f"{spot.asset} spot, {hedge.asset} perp and {funding.source} funding do not overlap",
        f"give files that share hours: {covered}",
    )


def _funding_on_valid_hours(rates: pd.Series, grid: pd.DatetimeIndex, valid: np.ndarray) -> tuple[np.ndarray, int]:
    """Rates on the grid; a rate settled in an invalid hour moves to the next valid hour (counted)."""
    on_grid = rates.reindex(grid).fillna(0.0).to_numpy()
    valid_positions = np.flatnonzero(valid)
    target = np.searchsorted(valid_positions, np.arange(len(grid)))
    settled = on_grid != 0.0
    lands = settled & (target < len(valid_positions))
    moved = np.zeros(len(grid))
    np.add.at(moved, valid_positions[target[lands]], on_grid[lands])
    return moved, int((settled & ~valid).sum())


def _read_csv(path: str | Path, columns: tuple[str, ...]) -> pd.DataFrame:
    expected = f"expected a CSV whose header names {', '.join(columns)}"
    try:
        frame = pd.read_csv(path)
    except UNREADABLE as error:
        raise unreadable(path, error, expected) from error
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}", expected)
    if frame.empty:
        raise DataError(f"{path}: a header and no rows", "give a file with at least a day of hourly rows")
    return frame


def unreadable(path: str | Path, error: Exception, expected: str) -> DataError:
    """The error for a file that cannot be read as a CSV (one of `UNREADABLE`), its reason on one line."""
    if isinstance(error, FileNotFoundError):
        return DataError(f"{path}: no such file", f"check the path (read as {Path(path).absolute()})")
    reason = error.strerror if isinstance(error, OSError) else str(error).splitlines()[0]
    return DataError(f"{path}: not a readable CSV file ({reason})", expected)


def numbers(frame: pd.DataFrame, column: str, path: str | Path) -> np.ndarray:
    """A column as floats, empty cells NaN; a cell that is not a number is refused, naming its line."""
    values = pd.to_numeric(frame[column], errors="coerce")
    hint = "fix the cell, or leave it empty: an empty price is a gap (that hour is left out), an empty rate no funding"
    _refuse_first(frame[column], values.isna() & frame[column].notna(), "is not a number", hint, path)
    return values.to_numpy(float)


def times(frame: pd.DataFrame, column: str, path: str | Path, utc: bool = True) -> pd.Series:
    """A column of times (as UTC, or as written); an empty cell or one that is not a time is refused, naming its
    line."""
    parsed = pd.to_datetime(frame[column], utc=utc, errors="coerce")
    hint = f"every row needs a {'UTC time, e.g. 2021-03-01 10:00:00+00:00' if utc else 'date, e.g. 2021-03-01'}"
    _refuse_first(frame[column], parsed.isna(), "is not a time", hint, path)
    return parsed


def _refuse_first(cells: pd.Series, bad: pd.Series, problem: str, hint: str, path: str | Path) -> None:
    if bad.any():
        line = int(np.argmax(bad.to_numpy())) + 2  # the header is line 1
        count = f" ({bad.sum()} such cells)" if bad.sum() > 1 else ""
        raise DataError(f"{path}: line {line}: {cells.name} {cells.iloc[line - 2]!r} {problem}{count}", hint)


def _asset_from_name(path: str | Path) -> str:
    match = re.search(r"binance_([a-z0-9]+?)usdt", Path(path).name.lower())
    if not match:
        raise DataError(f"{path}: cannot tell the asset from the file name", "pass it as ASSET=PATH")
    return match.group(1).upper()
