"""The journal's schema on SQLite (tests/integration/test_fleet_postgres.py runs these on PostgreSQL too):
a journal written by an older hedger is upgraded in place and keeps its rows; one from a newer hedger
is refused, never misread; values round-trip exactly."""

from __future__ import annotations

import sqlite3

import pytest

from hedger.errors import SchemaTooNew
from hedger.execution.database import is_postgres
from hedger.execution.journal import _V2, SCHEMA_V1, SCHEMA_VERSION, IntentStatus, Journal, TxStatus
from hedger.model import Action, ActionKind, Reason

ACCOUNT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


@pytest.fixture
def target(tmp_path):
    return tmp_path / "journal.sqlite"


def _v2_file_of_an_older_hedger(path) -> None:
    """What the journal of the previous release left: v1 + v2 tables, its `schema_version` marker, one
    mined transaction."""
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V1 + _V2)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at REAL NOT NULL)")
    db.executemany("INSERT INTO schema_version VALUES (?, ?)", [(1, 1.0), (2, 2.0)])
    db.execute(
        "INSERT INTO intents VALUES ('i1', 1, 1, 'local', 31337, ?, 'reference', 'ETH', 'open', '{}', 7, 'done',"
        " NULL, NULL)",
        (ACCOUNT,),
    )
    db.execute(
        "INSERT INTO txs (intent_id, seq, purpose, to_address, nonce, tx_hash, raw_tx, max_fee_per_gas,"
        " max_priority_fee_per_gas, status, block_number, block_hash, finalized, created_at, updated_at)"
        " VALUES ('i1', 0, 'main', '0xdef', 0, '0x01', '0x', 1, 1, 'mined', 9, '0xb9', 1, 1, 1)"
    )
    db.commit()
    db.close()


def test_an_older_hedgers_journal_is_upgraded_in_place_and_keeps_its_rows(target):
    _v2_file_of_an_older_hedger(target)
    journal = Journal(target)
    assert journal.schema_version == SCHEMA_VERSION == 3
    (tx,) = journal.txs("i1")
    assert (tx.status, tx.block_number, tx.block_hash, tx.state) == (TxStatus.MINED, 9, "0xb9", "final")
    assert journal.broadcasts() == []  # the v3 table is there
    components = dict(journal.db.execute("SELECT component, version FROM schema_components"))
    assert components == {"journal": 3, "lease": 1}
    # the old marker now says 3: the previous hedger (which knows 2) refuses the file instead of misreading it
    assert journal.db.execute("SELECT MAX(version) FROM schema_version") == [(3,)]
    journal.close()
    assert Journal(target).schema_version == 3  # opening again changes nothing


def test_a_journal_from_before_any_marker_is_version_one_and_upgraded(target):
    with sqlite3.connect(target) as db:
        db.executescript(SCHEMA_V1)
    db.close()
    journal = Journal(target)
    assert journal.schema_version == 3
    assert journal.db.execute("SELECT version FROM schema_version ORDER BY version") == [(2,), (3,)]


def test_a_journal_from_a_newer_hedger_is_refused(target):
    _v2_file_of_an_older_hedger(target)
    with sqlite3.connect(target) as db:
        db.execute("INSERT INTO schema_version VALUES (9, 9.0)")  # its marker says a version we do not know
    db.close()
    with pytest.raises(SchemaTooNew, match="journal schema is at version 9"):
        Journal(target)


def test_values_round_trip_exactly(target):
    journal = Journal(target)
    action = Action(ActionKind.OPEN, "reference", "ETH", Reason("rebalance", "test"))
    intent = journal.record_intent("local", 42_161, ACCOUNT, action, 287_654_321)
    fee = 250 * 10**9  # above a 32-bit integer
    record = journal.record_signed(intent.id, "main", "0xdef", 7, "0xaa", "0x02", fee, fee // 100)
    journal.record_broadcast(record.id)
    journal.set_tx_status(record.id, TxStatus.MINED, 287_654_322, 21_000, fee, block_hash="0xbb")
    again = journal.intent(intent.id)
    assert (again.chain_id, again.plan_block, again.status.value) == (42_161, 287_654_321, "sending")
    assert abs(again.created_at - intent.created_at) < 1e-3  # a full-precision timestamp, not float4
    assert journal.gas_spent_since(ACCOUNT, 0) == 21_000 * fee
    ((row),) = journal.broadcasts()
    assert (row["tx_id"], row["account"], row["holder"], row["token"]) == (record.id, ACCOUNT, None, None)
    assert journal.db.dialect == ("postgresql" if is_postgres(target) else "sqlite")
    journal.close()


def test_a_fenced_journal_writes_nothing_once_its_lease_is_lost(target):
    from hedger.errors import LeaseLost
    from hedger.execution.lease import Lease

    journal, other = Journal(target), Journal(target)
    journal.fence = Lease(journal.db, "local", ACCOUNT, "host-a")
    standby = Lease(other.db, "local", ACCOUNT, "host-b")
    assert journal.fence.acquire(100) == 1 and standby.acquire(101) is None
    action = Action(ActionKind.OPEN, "reference", "ETH", Reason("rebalance", "test"))
    intent = journal.record_intent("local", 31337, ACCOUNT, action, 100)
    record = journal.record_signed(intent.id, "main", "0xdef", 0, "0xaa", "0x02", 1, 1)
    journal.record_broadcast(record.id)
    assert standby.acquire(103) == 2  # host-a stopped renewing: host-b takes over
    with pytest.raises(LeaseLost, match="held by host-b at token 2"):
        journal.record_broadcast(record.id)  # host-a wakes up: its next broadcast is refused
    with pytest.raises(LeaseLost):
        journal.set_intent_status(intent.id, IntentStatus.FAILED, "a stale keeper's view")
    ((row),) = other.broadcasts()
    assert (row["holder"], row["token"]) == ("host-a", 1)  # only the one made under its live token
    assert other.intent(intent.id).status is IntentStatus.SENDING
    journal.close()
    other.close()
