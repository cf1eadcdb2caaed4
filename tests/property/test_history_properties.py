"""Properties of round history as prices: over generated round times and answers,

1. every priced bucket carries the answer of a real round, updated before the bucket's end and at most one
   heartbeat earlier (an answer never stands past its heartbeat: gaps are never filled);
2. a bucket is NaN exactly when no round qualifies;
3. no bucket after the read's time is priced, and the last one is complete.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from hedger.oracles.history import FeedHistory, Round, make_round_id

START = 1_700_000_000 - 1_700_000_000 % 3600
HEARTBEAT = 3600

offsets = st.lists(st.integers(min_value=0, max_value=40 * 3600), min_size=1, max_size=60, unique=True)


@settings(max_examples=50, deadline=None)
@given(offsets, st.integers(min_value=0, max_value=3 * 3600))
def test_prices_carry_real_answers_within_their_heartbeat_and_nothing_else(times, extra_s):
    times = sorted(times)
    rounds = tuple(Round(make_round_id(1, n + 1), (100 + n) * 10**8, START + t, START + t) for n, t in enumerate(times))
    as_of = START + times[-1] + extra_s
    history = FeedHistory("X/USD", "X", "0x0", 8, HEARTBEAT, START, as_of, rounds, False, "generated")
    prices = history.prices("1h")
    answers = [(r.updated_at, r.answer / 10**8) for r in rounds]
    for label, price in prices.items():
        end = int(label.timestamp()) + 3600
        assert end <= as_of  # only complete buckets
        standing = [a for at, a in answers if at < end and end - at <= HEARTBEAT]
        latest = max(((at, a) for at, a in answers if at < end), default=None)
        if latest is not None and end - latest[0] <= HEARTBEAT:
            assert math.isclose(price, latest[1], rel_tol=1e-12)
        else:
            assert math.isnan(price) and not standing
