"""Sender leases with fencing, on SQLite (tests/integration/test_fleet_postgres.py runs the same
tests on a real PostgreSQL; tests/integration/test_fleet_processes.py with real processes)."""

from __future__ import annotations

import json
import time

import pytest

from hedger.errors import LeaseLost
from hedger.execution.lease import Lease, all_leases, main, open_leases, record_drill_write

ACCOUNT = "0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@pytest.fixture
def target(tmp_path):
    return tmp_path / "fleet.sqlite"


@pytest.fixture
def pair(target):
    """Two keepers, each with a connection of its own, contending for one account."""
    a_db, b_db = open_leases(target), open_leases(target)
    a = Lease(a_db, "local", ACCOUNT, "host-a", ttl_blocks=3, ttl_s=60)
    b = Lease(b_db, "local", ACCOUNT, "host-b", ttl_blocks=3, ttl_s=60)
    yield a, b
    a_db.close()
    b_db.close()


def _write(lease: Lease, token: int | None, block: int, what: str) -> None:
    with lease.fenced(token, block=block) as tx:
        record_drill_write(tx, lease, token or 0, block, account=what)


def _writes(lease: Lease) -> list[tuple[str, int, str]]:
    return lease.db.execute("SELECT account, token, holder FROM lease_drill_writes ORDER BY id")


def test_one_holder_the_other_stands_by_and_renewal_keeps_the_token(pair):
    a, b = pair
    assert a.acquire(100) == 1
    assert b.acquire(100) is None
    for block in (101, 102, 103, 104, 105):  # renewed every block: never lapses
        assert a.renew(block) == 1
        assert b.acquire(block) is None
    (state,) = all_leases(a.db)
    assert (state.holder, state.token, state.acquired_block, state.renewed_block) == ("host-a", 1, 100, 105)
    assert state.account == ACCOUNT.lower()


def test_the_standby_takes_over_after_ttl_blocks_without_renewal(pair):
    a, b = pair
    a.acquire(100)
    assert b.acquire(101) is None
    assert b.acquire(102) is None
    assert b.acquire(103) == 2  # 3 blocks since the last renewal at 100: lapsed, token up by one
    with pytest.raises(LeaseLost, match="held by host-b at token 2"):
        a.renew(104)
    assert a.acquire(104) is None  # the old holder is a standby now
    events = a.db.execute("SELECT token, holder, previous_holder, event, block FROM lease_events ORDER BY id")
    assert events == [(1, "host-a", None, "acquired", 100), (2, "host-b", "host-a", "acquired", 103)]


def test_a_stale_token_cannot_write_and_nothing_of_its_transaction_is_kept(pair):
    a, b = pair
    old = a.acquire(100)
    _write(a, old, 100, "before the pause")
    new = b.acquire(104)
    assert new == 2
    with pytest.raises(LeaseLost) as lost:
        _write(a, old, 104, "after the pause")
    assert lost.value.token == 1 and "nothing was sent" in str(lost.value)
    assert a.token is None
    _write(b, new, 104, "the new holder")
    assert _writes(a) == [("before the pause", 1, "host-a"), ("the new holder", 2, "host-b")]


def test_a_holder_that_lapsed_unnoticed_must_renew_before_it_writes(pair):
    a, _ = pair
    token = a.acquire(100)
    with pytest.raises(LeaseLost, match="lapsed"):
        _write(a, token, 103, "too late")
    assert a.acquire(103) == 2  # nobody took over: it takes the lease again, under a new token
    _write(a, 2, 103, "renewed first")
    assert _writes(a) == [("renewed first", 2, "host-a")]


def test_wall_clock_fallback_when_blocks_do_not_advance(target):
    db_a, db_b = open_leases(target), open_leases(target)
    a = Lease(db_a, "local", ACCOUNT, "host-a", ttl_blocks=3, ttl_s=0.3)
    b = Lease(db_b, "local", ACCOUNT, "host-b", ttl_blocks=3, ttl_s=0.3)
    assert a.acquire(None) == 1  # no block number (the node cannot be read): time alone
    assert b.acquire(None) is None
    time.sleep(0.35)
    assert b.acquire(None) == 2
    reason = db_a.execute("SELECT reason FROM lease_events WHERE token = 2")[0][0]
    assert "s (ttl 0.3 s)" in reason
    db_a.close()
    db_b.close()


def test_release_hands_over_at_once_and_tokens_never_go_down(pair):
    a, b = pair
    tokens = []
    for round_ in range(3):
        tokens.append(a.acquire(10 * round_))
        a.release(10 * round_)
        tokens.append(b.acquire(10 * round_))
        b.release(10 * round_)
    assert tokens == [1, 2, 3, 4, 5, 6]
    with pytest.raises(LeaseLost, match="has not acquired"):
        _write(a, None, 50, "never acquired since")


def test_leases_are_per_network_and_account(target):
    db = open_leases(target)
    first = Lease(db, "local", ACCOUNT, "host-a")
    other_account = Lease(db, "local", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "host-b")
    other_network = Lease(db, "arbitrum-one", ACCOUNT, "host-b")
    assert (first.acquire(1), other_account.acquire(1), other_network.acquire(1)) == (1, 1, 1)
    assert {(s.network, s.holder) for s in all_leases(db)} == {
        ("local", "host-a"),
        ("local", "host-b"),
        ("arbitrum-one", "host-b"),
    }
    db.close()


def test_status_prints_every_lease_with_its_lapse(target, capsys):
    db = open_leases(target)
    Lease(db, "local", ACCOUNT, "host-a", ttl_blocks=3).acquire(100)
    db.close()
    assert main(["status", "--journal", str(target), "--block", "104"]) == 0
    (lease,) = json.loads(capsys.readouterr().out)["leases"]
    assert (lease["holder"], lease["token"], lease["blocks_since_renewal"]) == ("host-a", 1, 4)
    assert lease["lapsed"] == "not renewed for 4 blocks (ttl 3)"
    assert main(["status", "--journal", str(target / "nope")]) == 2
    assert "cannot open the database" in capsys.readouterr().err
