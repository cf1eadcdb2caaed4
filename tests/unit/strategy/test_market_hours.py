"""Market hours: calendars, feed staleness in open seconds, reopening gaps, and a planner that places no order on
a closed market (nor halts for it) and waits for a fresh price after the reopening.

The calendar is gTrade's commodities schedule as the Gains Network SDK describes it (markets/schedules): New York
time, Sunday 18:10 to Friday 17:00 with a daily break 17:00–18:10. In December New York is UTC−5."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from hedger.errors import ConfigError
from hedger.model import Source, Verdict
from hedger.strategy import guards as g
from hedger.strategy.calendar import MarketHours
from hedger.strategy.parameters import GuardSettings, StrategySettings
from hedger.strategy.plan import build_plan
from hedger.strategy.state import PlannerState
from tests.unit.strategy import factory as f

METALS = {
    "timezone": "America/New_York",
    "weekly": ["sun 18:10-24:00", "mon-thu 00:00-17:00", "mon-thu 18:10-24:00", "fri 00:00-17:00"],
    "holidays": {"2026-12-25": [], "2026-12-24": ["00:00-12:45"]},
    "reopen_jump_rel": "0.1",
}
HOURS = MarketHours.from_mapping({"calendars": {"metals": METALS}, "assets": {"ETH": "metals"}}, "<test>")
CAL = HOURS.for_asset("ETH")
GUARDS = GuardSettings()


def ts(text: str) -> int:
    """A UTC time as unix seconds: '2026-12-04 21:59'."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp())


FRI_BEFORE_CLOSE = ts("2026-12-04 21:59")  # Friday 16:59 New York
FRI_CLOSE = ts("2026-12-04 22:00")  # 17:00
SUN_OPEN = ts("2026-12-06 23:10")  # Sunday 18:10


def at(reading, now: int, updated_at: int, previous_updated_at: int | None = None, **fields):
    source = Source(reading.source.address, 1, now)
    extra = {} if previous_updated_at is None else {"previous_updated_at": previous_updated_at}
    return replace(reading, source=source, updated_at=updated_at, started_at=updated_at, **extra, **fields)


def test_the_calendar_knows_sessions_breaks_weekends_holidays_and_daylight_saving():
    assert CAL.is_open(FRI_BEFORE_CLOSE) and not CAL.is_open(FRI_CLOSE)
    assert not CAL.is_open(ts("2026-12-05 12:00"))  # Saturday
    assert not CAL.is_open(SUN_OPEN - 60) and CAL.is_open(SUN_OPEN)
    assert not CAL.is_open(ts("2026-12-08 22:30"))  # Tuesday 17:30: the daily break
    assert CAL.is_open(ts("2026-12-24 17:44")) and not CAL.is_open(ts("2026-12-24 17:45"))  # Christmas Eve 12:45
    assert not CAL.is_open(ts("2026-12-25 15:00"))  # Christmas
    assert CAL.is_open(ts("2026-07-10 20:59")) and not CAL.is_open(ts("2026-07-10 21:00"))  # July: UTC−4
    # Friday 16:00 to Sunday 19:10 New York: an hour each side of the weekend
    assert CAL.open_seconds(ts("2026-12-04 21:00"), ts("2026-12-07 00:10")) == 7200
    assert CAL.last_open_at(ts("2026-12-07 01:00")) == SUN_OPEN  # one session from Sunday 18:10 to Monday 17:00
    assert CAL.next_open_at(FRI_CLOSE) == SUN_OPEN and CAL.next_open_at(SUN_OPEN) is None
    assert CAL.closed_between(FRI_BEFORE_CLOSE, SUN_OPEN) and not CAL.closed_between(SUN_OPEN, SUN_OPEN + 3600)


def test_bad_calendars_are_refused_with_the_key():
    for table, key in (
        ({**METALS, "timezone": "Mars/Olympus"}, "timezone"),
        ({**METALS, "weekly": ["fri-mon 00:00-17:00"]}, "weekly"),
        ({**METALS, "weekly": ["mon 17:00-09:00"]}, "weekly"),
        ({**METALS, "holidays": {"25/12/2026": []}}, "holidays"),
        ({**METALS, "reopen_jump_rel": "2"}, "reopen_jump_rel"),
    ):
        with pytest.raises(ConfigError, match=key):
            MarketHours.from_mapping({"calendars": {"metals": table}}, "<test>")
    with pytest.raises(ConfigError, match="not a calendar"):
        MarketHours.from_mapping({"calendars": {"metals": METALS}, "assets": {"XAU": "gold"}}, "<test>")
    settings = StrategySettings.from_mapping(
        {"market_hours": {"calendars": {"metals": METALS}, "assets": {"XAU": "metals"}}}
    )
    assert settings.market_hours.for_asset("XAU").name == "metals" and settings.market_hours.for_asset("ETH") is None


def test_a_feed_quiet_over_the_weekend_is_not_stale_but_one_that_stopped_before_the_close_is():
    sunday = ts("2026-12-06 17:00")
    quiet = at(f.reading("ETH"), sunday, FRI_BEFORE_CLOSE)
    result = g.oracle_stale(quiet, GUARDS, CAL)
    assert (result.verdict, result.code, result.values["open_age_s"]) == (
        Verdict.ALLOW,
        "oracle_quiet_market_closed",
        60,
    )
    assert g.oracle_stale(quiet, GUARDS).code == "oracle_stale"  # without its calendar: stale
    stopped = at(f.reading("ETH"), sunday, ts("2026-12-04 17:00"))  # five open hours before the close
    assert (g.oracle_stale(stopped, GUARDS, CAL).verdict, g.oracle_stale(stopped, GUARDS, CAL).code) == (
        Verdict.HALT, "oracle_stale",
    )  # fmt: skip


def test_closed_reopened_without_a_fresh_price_and_open():
    friday = at(f.reading("ETH"), ts("2026-12-05 12:00"), FRI_BEFORE_CLOSE)
    closed = g.market_hours("ETH", CAL, friday, friday.source.block_timestamp)
    assert (closed.verdict, closed.code, closed.values["opens_at"]) == (Verdict.ALLOW, "market_closed", SUN_OPEN)
    reopened = g.market_hours("ETH", CAL, friday, SUN_OPEN + 600)
    assert (reopened.code, reopened.values["opened_at"]) == ("awaiting_fresh_price", SUN_OPEN)
    fresh = at(f.reading("ETH"), SUN_OPEN + 600, SUN_OPEN + 300)
    assert g.market_hours("ETH", CAL, fresh, SUN_OPEN + 600).code == "market_open"


def test_a_weekend_gap_is_judged_against_the_reopening_threshold():
    strict = GuardSettings(max_round_jump_rel=D("0.05"))
    gapped = at(f.reading("ETH", 2150, previous=2000), SUN_OPEN + 60, SUN_OPEN + 30, FRI_BEFORE_CLOSE)
    ok = g.round_jump(gapped, strict, None, CAL)  # 6.98 %: above 5 % but a reopening, within 10 %
    assert (ok.verdict, ok.code) == (Verdict.ALLOW, "reopening_gap_ok")
    assert g.round_jump(gapped, strict, None).code == "oracle_jump"  # without the calendar it would halt
    too_far = at(f.reading("ETH", 2300, previous=2000), SUN_OPEN + 60, SUN_OPEN + 30, FRI_BEFORE_CLOSE)
    halted = g.round_jump(too_far, strict, None, CAL)  # 13 %
    assert (halted.verdict, halted.code) == (Verdict.HALT, "oracle_reopening_gap")
    in_session = at(f.reading("ETH", 2150, previous=2000), SUN_OPEN + 7200, SUN_OPEN + 7000, SUN_OPEN + 3400)
    assert g.round_jump(in_session, strict, None, CAL).code == "oracle_jump"  # no closure between: usual limit


def plan_at(now: int, updated_at: int, previous_updated_at: int | None = None):
    """The factory's account (10 ETH held, unhedged), its ETH market keeping metals hours, planned at `now`."""
    oracles = tuple(
        at(r, now, updated_at, previous_updated_at or updated_at - 60) if r.asset == "ETH" else at(r, now, now - 60)
        for r in f.snapshot().oracles
    )
    snapshot = f.snapshot(hedge=None, oracles=oracles, block_timestamp=now)
    snapshot = replace(snapshot, sequencer=replace(snapshot.sequencer, source=Source("0xseq", 1, now)))
    return build_plan(snapshot, StrategySettings(market_hours=HOURS), state=PlannerState())


def test_the_planner_places_no_order_while_closed_and_does_not_halt():
    plan = plan_at(ts("2026-12-05 12:00"), FRI_BEFORE_CLOSE)
    assert plan.verdict is Verdict.ALLOW and plan.actions == ()
    (closed,) = [r for r in plan.reasons if r.code == "market_closed"]
    assert closed.values["opens_at"] == SUN_OPEN and closed.values["target"] == -10
    assert "oracle_stale" not in {r.code for r in plan.reasons}


def test_after_reopening_a_fresh_price_comes_before_any_order():
    waiting = plan_at(SUN_OPEN + 600, FRI_BEFORE_CLOSE)
    assert waiting.verdict is Verdict.ALLOW and waiting.actions == ()
    assert "awaiting_fresh_price" in {r.code for r in waiting.reasons}
    fresh = plan_at(SUN_OPEN + 600, SUN_OPEN + 300, FRI_BEFORE_CLOSE)
    assert fresh.verdict is Verdict.ALLOW
    assert [a.size_delta for a in fresh.actions if a.symbol == "ETH"] == [-10]
