"""Two processes sending for one account at once do not both send the hedge: an executing cycle holds the
account's sender lock from its snapshot to its last receipt, so the second plans from the chain the first left
(and finds nothing to do), or, with a keeper in the way, skips its block and says why."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import pytest
import tomli_w

from hedger.chain.universe import network_document
from hedger.execution.journal import Journal
from hedger.execution.lease import Lease, SenderLock
from tests.support.keeper_helpers import DEMO, cli_env, orders_of

pytestmark = pytest.mark.integration


@pytest.fixture
def environment(chain, tmp_path):
    document = network_document(chain.universe)
    document["execution"] = {**document.get("execution", {}), "sender_wait_s": 3}
    (tmp_path / "local.toml").write_text(tomli_w.dumps(document))
    return cli_env(tmp_path, HEDGER_LOG_LEVEL="WARNING")


def sender_lock(chain) -> SenderLock:
    """The lock a session on this chain takes for the demo account."""
    genesis = chain.w3.eth.get_block(0)["hash"].to_0x_hex()
    key = SenderLock.chain_key(chain.w3.eth.chain_id, genesis, network_document(chain.universe)["network"]["rpc_url"])
    return SenderLock(key, DEMO, "local")


def start(env, cwd, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hedger.app.cli", *args], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


@pytest.mark.parametrize("journals", ["one journal", "a journal each"])
def test_two_rebalances_at_once_send_the_hedge_once(chain, environment, tmp_path, journals):
    first = start(environment, tmp_path, "rebalance", "--execute", "--json")
    time.sleep(0.3)
    other = {"HEDGER_JOURNAL": str(tmp_path / "other-journal.sqlite")} if journals == "a journal each" else {}
    second = start({**environment, **other}, tmp_path, "rebalance", "--execute", "--json")
    outputs = [process.communicate(timeout=120) for process in (first, second)]
    assert [process.returncode for process in (first, second)] == [0, 0], outputs
    orders = orders_of(chain)
    assert orders, "the first process hedged"
    markets = [order["marketId"] for order in orders]
    assert len(markets) == len(set(markets)), f"one order per market, not two: {orders}"


def test_a_held_lock_makes_a_rebalance_wait_then_refuse_with_the_holder_named(chain, environment, tmp_path):
    lock = sender_lock(chain)
    lock.acquire("tests:keeper", wait_s=0)
    try:
        before = chain.w3.eth.get_transaction_count(DEMO)
        started = time.monotonic()
        refused = start(environment, tmp_path, "rebalance", "--execute")
        _, err = refused.communicate(timeout=120)
        assert refused.returncode == 1
        assert "another hedger process is sending" in err and "tests:keeper" in err and "Traceback" not in err
        assert time.monotonic() - started >= 3  # it waited for the other cycle to end first ([execution] sender_wait_s)
        assert chain.w3.eth.get_transaction_count(DEMO) == before
    finally:
        lock.release()


def test_sigterm_while_waiting_to_send_exits_130_and_says_what_to_do(chain, environment, tmp_path):
    lock = sender_lock(chain)
    lock.acquire("tests:keeper", wait_s=0)
    try:
        waiting = start(environment, tmp_path, "rebalance", "--execute")
        time.sleep(1.5)  # started, and waiting for the lock
        waiting.send_signal(signal.SIGTERM)
        _, err = waiting.communicate(timeout=30)
    finally:
        lock.release()
    assert waiting.returncode == 130
    assert "interrupted" in err and "run the same command again" in err and "Traceback" not in err


def _lease_held_by(tmp_path, holder: str) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        assert Lease(journal.db, "local", DEMO, holder).acquire(None) is not None
    finally:
        journal.close()


def test_a_keepers_lease_in_the_journal_keeps_a_rebalance_out(chain, environment, tmp_path):
    _lease_held_by(tmp_path, "tests:leased-keeper")  # a keeper under `--holder`, renewing every block
    before = chain.w3.eth.get_transaction_count(DEMO)
    refused = start(environment, tmp_path, "rebalance", "--execute")
    _, err = refused.communicate(timeout=120)
    assert refused.returncode == 1 and "tests:leased-keeper" in err and "Traceback" not in err
    assert chain.w3.eth.get_transaction_count(DEMO) == before


def test_a_lease_left_by_a_crashed_sender_of_this_host_is_released_at_once(chain, environment, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _lease_held_by(tmp_path, f"{socket.gethostname()}:{int(dead.stdout)}")
    finished = start(environment, tmp_path, "rebalance", "--execute")
    _, err = finished.communicate(timeout=120)
    assert finished.returncode == 0, err
    assert orders_of(chain), "it hedged without waiting for the dead holder's lease to lapse"
