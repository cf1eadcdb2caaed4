"""The sender lock: one sending cycle per (chain, account) on a host, whatever journal each process writes, released
by the kernel when its holder dies; a chain is named by its id and genesis (and a development chain's endpoint)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from hedger.errors import SenderBusy
from hedger.execution.lease import SenderLock

ACCOUNT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
ARBITRUM_GENESIS = "0x7ee576b35482195fc49205cec9af72ce14f003b9ae69f6ba0faef4514be8b442"


def lock(directory, account=ACCOUNT, chain="42161-7ee576b35482195f") -> SenderLock:
    return SenderLock(chain, account, "arbitrum-one", directory)


def test_a_second_holder_waits_then_is_refused_with_the_first_named(tmp_path):
    first = lock(tmp_path)
    first.acquire("host:1", wait_s=0)
    try:
        started = time.monotonic()
        with pytest.raises(SenderBusy, match="host:1"):
            lock(tmp_path).acquire("host:2", wait_s=0.3)
        assert time.monotonic() - started >= 0.3
        with pytest.raises(SenderBusy):
            lock(tmp_path, ACCOUNT.lower()).acquire("host:2", wait_s=0)  # the address however it is spelled
        lock(tmp_path, chain="1-d4e56740f876aef8").acquire("host:3", wait_s=0)  # another chain: its own lock
    finally:
        first.release()
    second = lock(tmp_path)
    second.acquire("host:2", wait_s=0)
    second.release()


def test_a_chain_is_its_id_and_genesis_and_a_dev_chain_also_its_endpoint():
    through_one = SenderLock.chain_key(42161, ARBITRUM_GENESIS, "https://arb1.example/v2/KEY")
    assert through_one == SenderLock.chain_key(42161, ARBITRUM_GENESIS, "https://other.example/")
    assert through_one == "42161-7ee576b35482195f"
    local = SenderLock.chain_key(31337, ARBITRUM_GENESIS, "http://127.0.0.1:8545")
    assert local != SenderLock.chain_key(31337, ARBITRUM_GENESIS, "http://127.0.0.1:8546")
    assert "8545" not in local


def test_a_killed_holder_frees_the_lock_at_once(tmp_path):
    script = (
        "import sys, time; from pathlib import Path; from hedger.execution.lease import SenderLock;"
        f" lock = SenderLock('42161-7ee576b35482195f', {ACCOUNT!r}, 'arbitrum-one', Path({str(tmp_path)!r}));"
        " lock.acquire('child', 0); print('held', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(SenderBusy, match="child"):
            lock(tmp_path).acquire("parent", wait_s=0)
    finally:
        child.kill()
        child.wait()
    after = lock(tmp_path)
    after.acquire("parent", wait_s=0)
    after.release()
