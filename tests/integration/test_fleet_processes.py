"""Lease contenders as real processes on a real PostgreSQL, with block numbers from a real Anvil:
exactly one holds and writes at a time; SIGSTOP → the standby takes over within ttl blocks; SIGCONT
→ the old holder's fenced write is refused; SIGKILL → takeover; 10 accounts × 2 contenders with
injected pauses (SIGSTOP/SIGCONT, and stalls inside the drill) for DRILL_BLOCKS blocks keep every
invariant."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest

from hedger.chain.nodes import DEV_ACCOUNTS, LocalNode
from hedger.execution.lease import open_leases
from tests.support.fleet import Contender, audit

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.slow]

TTL_BLOCKS = 3
DRILL_BLOCKS = 60  # the lease alone; the 300-block run is at order level (test_fleet_keepers.py)
ACCOUNT = DEV_ACCOUNTS[1][0].lower()


@pytest.fixture
def node(node: LocalNode) -> Iterator[LocalNode]:
    """The session's node, put back to its block when the test ends (the test mines blocks)."""
    snapshot = node.snapshot()
    yield node
    node.revert(snapshot)


def _mine_until(node: LocalNode, done, max_blocks: int, interval_s: float = 0.6) -> int:
    """Mine one block at a time until `done()`; returns how many were mined (max_blocks + 1: never)."""
    for mined in range(max_blocks + 1):
        deadline = time.monotonic() + interval_s
        while time.monotonic() < deadline:
            if done():
                return mined
            time.sleep(0.02)
        if mined < max_blocks:
            node.mine()
    return max_blocks + 1


def test_one_sender_stop_takeover_fenced_out_kill_takeover(node, postgres_url):
    a = Contender("host-a", postgres_url, node.url, [ACCOUNT], ttl_blocks=TTL_BLOCKS, work_s=0.4)
    b = None
    try:
        a.wait_for(lambda e: e["event"] == "acquired")
        b = Contender("host-b", postgres_url, node.url, [ACCOUNT], ttl_blocks=TTL_BLOCKS, work_s=0.4)
        b.wait_for(lambda e: e["event"] == "started")
        # both running: only A holds and writes, block after block
        _mine_until(node, lambda: False, max_blocks=5)
        assert b.count("acquired") == 0 and b.count("wrote") == 0
        assert a.count("wrote") >= 4

        # SIGSTOP A between its renewal and its write (its "work" sleep): B takes over within ttl blocks
        mark = a.mark()
        node.mine()
        a.wait_for(lambda e: e["event"] == "cycle" and e["due"] == [ACCOUNT], after=mark)
        a.pause()
        stopped_at = node.w3.eth.block_number
        blocks = _mine_until(node, lambda: b.count("acquired") > 0, max_blocks=TTL_BLOCKS + 2)
        taken = b.wait_for(lambda e: e["event"] == "acquired", timeout_s=5)
        assert blocks <= TTL_BLOCKS
        assert taken["block"] - stopped_at <= TTL_BLOCKS and taken["token"] == 2
        b.wait_for(lambda e: e["event"] == "wrote" and e["token"] == 2)

        # SIGCONT A: the write it was about to make is refused under its stale token, nothing recorded
        a_writes = a.count("wrote")
        a.resume()
        refused = a.wait_for(lambda e: e["event"] == "fenced_out", after=mark)
        assert refused["token"] == 1 and "host-b at token 2" in refused["reason"]
        _mine_until(node, lambda: False, max_blocks=2)
        assert a.count("wrote") == a_writes and a.count("acquired") == 1

        # SIGKILL B: A takes over within ttl blocks, under a new token
        b.kill()
        killed_at = node.w3.eth.block_number
        blocks = _mine_until(node, lambda: a.count("acquired") > 1, max_blocks=TTL_BLOCKS + 2)
        retaken = a.wait_for(lambda e: e["event"] == "acquired" and e["token"] == 3, timeout_s=5)
        assert blocks <= TTL_BLOCKS and retaken["block"] - killed_at <= TTL_BLOCKS
        a.wait_for(lambda e: e["event"] == "wrote" and e["token"] == 3)
    finally:
        for contender in (a, b):
            if contender:
                contender.stop()
    with open_leases(postgres_url) as db:
        result = audit(db)
    assert result.problems == []
    assert (result.acquisitions, result.takeovers) == (3, 2)
    assert result.writes == a.count("wrote") + b.count("wrote")


def test_ten_accounts_two_contenders_with_injected_pauses(node, postgres_url):
    accounts = [f"0x{index:040x}" for index in range(1, 11)]
    rng = random.Random(17)
    contenders = [
        Contender(name, postgres_url, node.url, accounts, ttl_blocks=TTL_BLOCKS, stall_probability=0.15, stall_s=1.2)
        for name in ("host-a", "host-b")
    ]
    try:
        for contender in contenders:
            contender.wait_for(lambda e: e["event"] == "started")
        paused: Contender | None = None
        for block in range(DRILL_BLOCKS):
            if paused is None and rng.random() < 0.15:
                paused = rng.choice(contenders)
                paused.pause()
                resume_at = block + rng.randint(2, 6)
            elif paused is not None and block >= resume_at:
                paused.resume()
                paused = None
            node.mine()
            time.sleep(0.2)
        if paused is not None:
            paused.resume()
        time.sleep(0.5)
    finally:
        for contender in contenders:
            contender.stop()
    with open_leases(postgres_url) as db:
        result = audit(db)
        per_account = dict(db.execute("SELECT account, count(*) FROM lease_drill_writes GROUP BY account"))
    assert result.problems == []
    assert result.duplicate_holders == 0 and result.stale_writes == 0
    assert result.takeovers >= 10  # the faults did move leases around
    assert sum(c.count("fenced_out") for c in contenders) >= 1  # and some woken holder was refused
    assert set(per_account) == set(accounts) and min(per_account.values()) >= 10
