"""The local-chain helpers: parallel launches, clear failures, forks, state dumps, cheat codes."""

from __future__ import annotations

import fcntl
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hedger.chain import anvil as anvil_module
from hedger.chain.anvil import DEV_ACCOUNTS, Anvil, AnvilConfig
from hedger.chain.contracts import deploy
from hedger.errors import AnvilError, ChainIdMismatch, ToolchainError

pytestmark = pytest.mark.integration

DEPLOYER, ALICE = DEV_ACCOUNTS[0][0], DEV_ACCOUNTS[2][0]


def fake_anvil(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "anvil"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_two_nodes_launched_in_parallel_get_their_own_ports_and_state():
    with ThreadPoolExecutor(2) as pool:
        nodes = list(pool.map(lambda _: Anvil.launch(), range(2)))
    try:
        assert nodes[0].port != nodes[1].port
        nodes[0].set_balance(ALICE, 12345)
        assert nodes[0].w3.eth.get_balance(ALICE) == 12345
        assert nodes[1].w3.eth.get_balance(ALICE) == 10_000 * 10**18
    finally:
        for node in nodes:
            node.stop()


def test_a_missing_anvil_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("HEDGER_ANVIL", str(tmp_path / "nope"))
    with pytest.raises(ToolchainError, match="HEDGER_ANVIL"):
        Anvil.launch()
    monkeypatch.delenv("HEDGER_ANVIL")
    monkeypatch.setenv("HEDGER_PROJECT_ROOT", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError) as error:
        Anvil.launch()
    assert "make setup" in str(error.value) and "HEDGER_ANVIL" in str(error.value)


def test_an_anvil_that_dies_at_start_is_reported_with_its_output(monkeypatch, tmp_path):
    monkeypatch.setenv("HEDGER_ANVIL", str(fake_anvil(tmp_path, "echo 'cannot bind, giving up'; exit 3")))
    with pytest.raises(AnvilError, match=r"(?s)exited with code 3.*cannot bind"):
        Anvil.launch(attempts=1)


def test_an_anvil_that_never_answers_times_out(monkeypatch, tmp_path):
    monkeypatch.setenv("HEDGER_ANVIL", str(fake_anvil(tmp_path, "exec sleep 30")))
    with pytest.raises(AnvilError, match="did not answer"):
        Anvil.launch(timeout_s=0.5, attempts=1)


def test_stop_terminates_the_node_and_frees_its_port():
    node = Anvil.launch()
    node.stop()
    assert not node.alive
    with open(anvil_module._LOCK_DIR / f"{node.port}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # would raise if still held
    assert anvil_module._port_is_free(node.port)


def test_a_fork_sees_the_parent_at_the_fork_block_and_not_after():
    with Anvil.launch() as parent:
        token = deploy(parent.w3, "TestToken", "Test", "TST", 18, sender=DEPLOYER)
        parent.w3.eth.wait_for_transaction_receipt(token.functions.mint(ALICE, 1).transact({"from": DEPLOYER}))
        fork_block = parent.w3.eth.block_number
        parent.w3.eth.wait_for_transaction_receipt(token.functions.mint(ALICE, 2).transact({"from": DEPLOYER}))

        with Anvil.launch(AnvilConfig(fork_url=parent.url, fork_block=fork_block, chain_id=31337)) as fork:
            forked = fork.w3.eth.contract(address=token.address, abi=token.abi)
            assert forked.functions.balanceOf(ALICE).call() == 1
            assert fork.w3.eth.block_number == fork_block
            fork.w3.eth.wait_for_transaction_receipt(forked.functions.mint(ALICE, 100).transact({"from": DEPLOYER}))
            assert forked.functions.balanceOf(ALICE).call() == 101
        assert token.functions.balanceOf(ALICE).call() == 3  # the fork's writes stay on the fork

        with pytest.raises(ChainIdMismatch, match="expects 1, the RPC serves 31337"):
            Anvil.launch(AnvilConfig(fork_url=parent.url, chain_id=1))


def test_state_dumped_from_one_node_loads_into_another(tmp_path):
    with Anvil.launch() as first:
        token = deploy(first.w3, "TestToken", "Test", "TST", 6, sender=DEPLOYER)
        first.w3.eth.wait_for_transaction_receipt(token.functions.mint(ALICE, 77).transact({"from": DEPLOYER}))
        first.save_state(tmp_path / "state.json")
        dump = first.dump_state()
    with Anvil.launch(AnvilConfig(load_state=tmp_path / "state.json")) as second:
        restored = second.w3.eth.contract(address=token.address, abi=token.abi)
        assert restored.functions.balanceOf(ALICE).call() == 77
    with Anvil.launch() as third:
        third.load_state(dump)
        assert third.w3.eth.contract(address=token.address, abi=token.abi).functions.balanceOf(ALICE).call() == 77


def test_cheat_codes(anvil):
    w3 = anvil.w3
    snapshot = anvil.snapshot()
    try:
        start_block, start_time = w3.eth.block_number, w3.eth.get_block("latest")["timestamp"]
        anvil.mine(5)
        assert w3.eth.block_number == start_block + 5
        anvil.increase_time(3600)
        assert w3.eth.get_block("latest")["timestamp"] >= start_time + 3600
        stranger = "0x000000000000000000000000000000000000dEaD"
        anvil.set_balance(stranger, 10**18)
        anvil.impersonate(stranger)
        tx = w3.eth.send_transaction({"from": stranger, "to": ALICE, "value": 10**17})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
        anvil.stop_impersonating(stranger)
        anvil.set_code(stranger, "0x6001600055")
        assert w3.eth.get_code(stranger).hex().removeprefix("0x") == "6001600055"
        anvil.set_storage_at(stranger, 7, 42)
        assert int.from_bytes(w3.eth.get_storage_at(stranger, 7), "big") == 42
    finally:
        anvil.revert(snapshot)
    assert w3.eth.block_number == start_block
