"""The database layer and the leases on a real PostgreSQL server (tests/support/postgres.py): the
SQLite unit tests again, plus what only a server does (concurrent migrations, a session stopped in
a transaction)."""

from __future__ import annotations

import threading
import time

import pytest

from hedger.errors import DatabaseError, LeaseLost
from hedger.execution.database import open_database
from hedger.execution.lease import Lease, open_leases, record_drill_write
from tests.unit.test_database import (  # noqa: F401  (collected again here, with `target` on PostgreSQL)
    V1,
    V2,
    test_a_newer_database_is_refused_not_misread,
    test_an_insert_returns_the_generated_id,
    test_an_older_database_is_upgraded_in_order_and_keeps_its_rows,
    test_components_are_versioned_separately_and_gaps_are_rejected,
    test_transactions_commit_or_roll_back_as_a_whole,
)
from tests.unit.test_journal_schema import (  # noqa: F401
    test_a_fenced_journal_writes_nothing_once_its_lease_is_lost,
    test_values_round_trip_exactly,
)
from tests.unit.test_lease import (  # noqa: F401
    ACCOUNT,
    pair,
    test_a_holder_that_lapsed_unnoticed_must_renew_before_it_writes,
    test_a_lease_set_serves_several_accounts_and_networks_each_by_its_own_blocks,
    test_a_stale_token_cannot_write_and_nothing_of_its_transaction_is_kept,
    test_leases_are_per_network_and_account,
    test_one_holder_the_other_stands_by_and_renewal_keeps_the_token,
    test_release_hands_over_at_once_and_tokens_never_go_down,
    test_the_standby_takes_over_after_ttl_blocks_without_renewal,
    test_wall_clock_fallback_when_blocks_do_not_advance,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def target(postgres_url):
    return postgres_url


def test_it_is_really_postgresql(target):
    with open_database(target) as db:
        assert db.dialect == "postgresql"
        (version,) = db.execute("SHOW server_version")[0]
        assert int(version.split(".")[0]) >= 14


def test_concurrent_opens_apply_each_migration_once(target):
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            open_database(target, {"notes": [V1, V2]}).close()
        except BaseException as error:  # collected and re-raised in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with open_database(target) as db:
        assert db.execute("SELECT component, version FROM schema_components") == [("notes", 2)]


def test_a_keeper_stopped_inside_a_transaction_loses_it_and_the_standby_proceeds(target):
    holder_db = open_leases(target, idle_timeout_s=0.5, lock_timeout_s=5)
    standby_db = open_leases(target, idle_timeout_s=0.5, lock_timeout_s=5)
    holder = Lease(holder_db, "local", ACCOUNT, "host-a")
    standby = Lease(standby_db, "local", ACCOUNT, "host-b")
    token = holder.acquire(100)
    with pytest.raises(DatabaseError), holder.fenced(token, block=100) as tx:
        # the row is locked; this keeper now "pauses" for longer than the idle timeout
        time.sleep(1.0)
        record_drill_write(tx, holder, token, 100)
    started = time.monotonic()
    assert standby.acquire(103) == 2  # the row lock went with the ended session: no waiting on it
    assert time.monotonic() - started < 2.0
    with pytest.raises(LeaseLost):
        holder.renew(103)  # the connection is reopened, and the lease is gone
    assert standby_db.execute("SELECT count(*) FROM lease_drill_writes") == [(0,)]
    holder_db.close()
    standby_db.close()
