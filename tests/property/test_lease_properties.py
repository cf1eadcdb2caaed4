"""Properties of the sender lease over generated interleavings of three keepers (each with its own
connection to one SQLite database) acquiring, writing under the token they last held (stale or
not), and blocks passing:

1. a fenced write succeeds exactly when its token is the live token, held by the writer, not lapsed;
2. no token ever has two holders, tokens only go up, and every write lies inside its token's tenure.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hedger.errors import LeaseLost
from hedger.execution.lease import Lease, lapse_reason, open_leases, record_drill_write
from tests.support.fleet import audit

TTL_BLOCKS = 3
KEEPERS = 3
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("mine"), st.integers(1, 4)),
        st.tuples(st.just("acquire"), st.integers(0, KEEPERS - 1)),
        st.tuples(st.just("write"), st.integers(0, KEEPERS - 1)),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_fenced_writes_succeed_exactly_under_the_live_token(ops):
    with tempfile.TemporaryDirectory() as directory:
        target = Path(directory) / "fleet.sqlite"
        dbs = [open_leases(target) for _ in range(KEEPERS)]
        leases = [
            Lease(db, "local", "0xabc", f"keeper-{i}", ttl_blocks=TTL_BLOCKS, ttl_s=None) for i, db in enumerate(dbs)
        ]
        remembered: list[int | None] = [None] * KEEPERS  # the last token each keeper was given
        block, tokens_seen = 100, [0]
        try:
            for op, arg in ops:
                if op == "mine":
                    block += arg
                    continue
                lease = leases[arg]
                if op == "acquire":
                    token = lease.acquire(block)
                    if token is not None:
                        remembered[arg] = token
                        assert token >= tokens_seen[-1]
                        tokens_seen.append(token)
                    continue
                if remembered[arg] is None:
                    continue
                state = lease.state()
                assert state is not None
                live = (
                    state.token == remembered[arg]
                    and state.holder == lease.holder
                    and lapse_reason(state, block, 0.0, TTL_BLOCKS, None) is None
                )
                try:
                    with lease.fenced(remembered[arg], block=block) as tx:
                        record_drill_write(tx, lease, remembered[arg], block)
                    assert live, f"a write under a dead token {remembered[arg]} went through: {state}"
                except LeaseLost:
                    assert not live, f"a write under the live token was refused: {state}"
            result = audit(dbs[0])
            assert result.problems == []
        finally:
            for db in dbs:
                db.close()
