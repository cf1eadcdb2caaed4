"""Market hours: when a non-24/7 market (forex, metals, energy, indices, stocks) is open, per calendar.

A calendar is weekly sessions in a time zone, plus holidays (closed all day, or open only in the windows
given). Its feeds stop updating while the market is closed, so the guards measure a feed's age in open
seconds (`open_seconds`), not wall-clock seconds; they see a reopening (`last_open_at`) and a closure
between two rounds (`closed_between`). Configured in the network file:

    [strategy.market_hours.calendars.metals]
    timezone = "America/New_York"
    weekly = ["sun 18:10-24:00", "mon-thu 00:00-17:00", "mon-thu 18:10-24:00", "fri 00:00-17:00"]
    holidays = { "2026-04-03" = [], "2026-01-19" = ["00:00-13:00", "18:00-24:00"] }
    reopen_jump_rel = "0.1"   # a gap across a closure is a jump fault only beyond this

    [strategy.market_hours.assets]
    XAU = "metals"

Pure: time zones come from the standard library (zoneinfo), nothing is read at run time but the tz database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hedger.errors import ConfigError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_SCAN_DAYS = 15  # how far back or forward the calendar looks for a session boundary

Window = tuple[int, int]  # minutes from local midnight: [start, end), end ≤ 1440


@dataclass(frozen=True)
class MarketCalendar:
    name: str
    timezone: str
    weekly: Mapping[int, tuple[Window, ...]]  # weekday (0 = Monday) → open windows
    holidays: Mapping[date, tuple[Window, ...]] = field(default_factory=dict)  # replace that day's windows
    reopen_jump_rel: Decimal = Decimal("0.1")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def windows_on(self, day: date) -> tuple[Window, ...]:
        if day in self.holidays:
            return self.holidays[day]
        return self.weekly.get(day.weekday(), ())

    def _intervals(self, start: int, end: int) -> list[tuple[int, int]]:
        """Open intervals (unix seconds) that touch [start, end], merged where one ends as the next begins."""
        zone = self.zone
        first = datetime.fromtimestamp(start, UTC).astimezone(zone).date() - timedelta(days=1)
        last = datetime.fromtimestamp(end, UTC).astimezone(zone).date() + timedelta(days=1)
        out: list[tuple[int, int]] = []
        day = first
        while day <= last:
            midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
            for a, b in self.windows_on(day):
                lo = int((midnight + timedelta(minutes=a)).timestamp())
                hi = int((midnight + timedelta(minutes=b)).timestamp())
                if out and out[-1][1] == lo:
                    out[-1] = (out[-1][0], hi)
                else:
                    out.append((lo, hi))
            day += timedelta(days=1)
        return out

    def is_open(self, ts: int) -> bool:
        return any(lo <= ts < hi for lo, hi in self._intervals(ts, ts))

    def open_seconds(self, start: int, end: int) -> int:
        """Seconds the market was open in [start, end)."""
        if end <= start:
            return 0
        return sum(max(0, min(hi, end) - max(lo, start)) for lo, hi in self._intervals(start, end))

    def last_open_at(self, ts: int) -> int | None:
        """When the session open at `ts` began (None when closed at `ts`)."""
        for lo, hi in self._intervals(ts - _SCAN_DAYS * 86400, ts):
            if lo <= ts < hi:
                return lo
        return None

    def next_open_at(self, ts: int) -> int | None:
        """When the market next opens after `ts` (None when open, or no session within the scan)."""
        if self.is_open(ts):
            return None
        return next((lo for lo, _ in self._intervals(ts, ts + _SCAN_DAYS * 86400) if lo > ts), None)

    def closed_between(self, start: int, end: int) -> bool:
        """Whether the market was closed at some moment in [start, end]."""
        return self.open_seconds(start, end) < end - start


@dataclass(frozen=True)
class MarketHours:
    """Calendars by name and the assets they govern (assets without one trade around the clock)."""

    calendars: Mapping[str, MarketCalendar] = field(default_factory=dict)
    assets: Mapping[str, str] = field(default_factory=dict)

    def for_asset(self, asset: str) -> MarketCalendar | None:
        name = self.assets.get(asset)
        return None if name is None else self.calendars[name]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, file: str) -> MarketHours:
        data = data or {}
        where = "strategy.market_hours"
        unknown = set(data) - {"calendars", "assets"}
        if unknown:
            raise ConfigError(file, f"{where}.{sorted(unknown)[0]}", "unknown key", "use calendars and assets")
        calendars = {
            name: _calendar(name, table, file, f"{where}.calendars.{name}")
            for name, table in dict(data.get("calendars", {})).items()
        }
        assets = dict(data.get("assets", {}))
        for asset, name in assets.items():
            if name not in calendars:
                raise ConfigError(
                    file, f"{where}.assets.{asset}", f"names {name!r}, not a calendar", f"{sorted(calendars)}"
                )
        return cls(calendars, assets)


def _calendar(name: str, table: Any, file: str, where: str) -> MarketCalendar:
    if not isinstance(table, Mapping):
        raise ConfigError(file, where, "must be a table")
    timezone = str(table.get("timezone", "UTC"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigError(
            file, f"{where}.timezone", f"{timezone!r} is not a time zone", "e.g. America/New_York"
        ) from error
    weekly: dict[int, list[Window]] = {}
    for entry in table.get("weekly", []):
        days, window = _weekly_entry(str(entry), file, f"{where}.weekly")
        for day in days:
            weekly.setdefault(day, []).append(window)
    holidays: dict[date, tuple[Window, ...]] = {}
    for day_text, windows in dict(table.get("holidays", {})).items():
        try:
            holiday = date.fromisoformat(str(day_text))
        except ValueError as error:
            raise ConfigError(file, f"{where}.holidays", f"{day_text!r} is not a YYYY-MM-DD date") from error
        holidays[holiday] = tuple(sorted(_window(str(w), file, f"{where}.holidays.{day_text}") for w in windows))
    try:
        jump = Decimal(str(table.get("reopen_jump_rel", "0.1")))
    except InvalidOperation as error:
        raise ConfigError(file, f"{where}.reopen_jump_rel", "must be a number") from error
    if not jump.is_finite() or not 0 < jump <= 1:
        raise ConfigError(file, f"{where}.reopen_jump_rel", "must be in (0, 1]")
    return MarketCalendar(name, timezone, {d: tuple(sorted(w)) for d, w in weekly.items()}, holidays, jump)


def _weekly_entry(text: str, file: str, where: str) -> tuple[list[int], Window]:
    """ "mon-fri 09:35-16:00" or "sun 18:10-24:00"."""
    parts = text.split()
    if len(parts) != 2:
        raise ConfigError(file, where, f"{text!r} is not 'day[-day] HH:MM-HH:MM'", "e.g. 'mon-fri 09:35-16:00'")
    first, _, last = parts[0].lower().partition("-")
    if first not in DAYS or (last and last not in DAYS):
        raise ConfigError(file, where, f"{text!r}: days are {', '.join(DAYS)}")
    a, b = DAYS.index(first), DAYS.index(last or first)
    if b < a:
        raise ConfigError(file, where, f"{text!r}: a day range runs forward within one week (mon-fri)")
    return list(range(a, b + 1)), _window(parts[1], file, where)


def _window(text: str, file: str, where: str) -> Window:
    match = _WINDOW.match(text)
    if not match:
        raise ConfigError(file, where, f"{text!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or not 0 <= start < end <= 24 * 60:
        raise ConfigError(file, where, f"{text!r}: a window runs forward within one day, up to 24:00")
    return start, end
