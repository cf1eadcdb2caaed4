"""Properties of market calendars (hedger/strategy/calendar.py) over generated times, on gTrade's commodities hours:

1. open seconds add up over adjacent intervals and never exceed the interval;
2. a market is open at t exactly when the second starting at t is an open second;
3. a session open at t began at `last_open_at(t)`, and the market was open throughout since then;
4. when closed at t, it opens at `next_open_at(t)` and not a second earlier.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hedger.strategy.calendar import MarketHours

METALS = {
    "timezone": "America/New_York",
    "weekly": ["sun 18:10-24:00", "mon-thu 00:00-17:00", "mon-thu 18:10-24:00", "fri 00:00-17:00"],
    "holidays": {"2026-04-03": [], "2026-01-19": ["00:00-13:00", "18:00-24:00"]},
}
CAL = MarketHours.from_mapping({"calendars": {"metals": METALS}, "assets": {"XAU": "metals"}}, "<test>").for_asset(
    "XAU"
)
TIMES = st.integers(1_767_225_600, 1_798_761_600)  # the year 2026, UTC (both daylight-saving changes inside)
FAST = settings(max_examples=60, deadline=None)


@FAST
@given(TIMES, st.integers(0, 10 * 86_400), st.integers(0, 10 * 86_400))
def test_open_seconds_add_up_and_fit_in_the_interval(start, first, second):
    middle, end = start + first, start + first + second
    whole = CAL.open_seconds(start, end)
    assert whole == CAL.open_seconds(start, middle) + CAL.open_seconds(middle, end)
    assert 0 <= whole <= end - start


@FAST
@given(TIMES)
def test_open_means_the_next_second_is_open_and_sessions_have_bounds(t):
    assert CAL.is_open(t) == (CAL.open_seconds(t, t + 1) == 1)
    if CAL.is_open(t):
        began = CAL.last_open_at(t)
        assert began is not None and began <= t and CAL.open_seconds(began, t + 1) == t + 1 - began
        assert not CAL.is_open(began - 1)
        assert CAL.next_open_at(t) is None
    else:
        opens = CAL.next_open_at(t)
        assert opens is not None and opens > t and CAL.is_open(opens) and not CAL.is_open(opens - 1)
        assert CAL.open_seconds(t, opens) == 0
