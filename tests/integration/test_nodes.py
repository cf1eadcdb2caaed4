"""The local-node interface on the node kind of the run (--node): parallel launches, clear failures,
forks, the helpers; state dumps on Anvil, a typed refusal on Ganache."""

from __future__ import annotations

import fcntl
import stat
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hedger.chain.connect import connect
from hedger.chain.contracts import deploy
from hedger.chain.nodes import DEV_ACCOUNTS, Anvil, Ganache, LocalNode, NodeConfig
from hedger.chain.nodes.base import LOCK_DIR, port_is_free
from hedger.errors import ChainIdMismatch, NodeError, NodeUnsupported, ToolchainError

pytestmark = pytest.mark.integration

DEPLOYER, ALICE = DEV_ACCOUNTS[0][0], DEV_ACCOUNTS[2][0]
# How each kind's binary is overridden, and a stand-in for it written in what that variable runs.
OVERRIDE = {Anvil: "HEDGER_ANVIL", Ganache: "HEDGER_GANACHE"}
DIES = {
    Anvil: "#!/bin/sh\necho 'cannot bind, giving up'; exit 3\n",
    Ganache: "console.log('cannot bind, giving up');\nprocess.exit(3);\n",
}
HANGS = {Anvil: "#!/bin/sh\nexec sleep 30\n", Ganache: "setTimeout(() => {}, 30000);\n"}


def fake_binary(monkeypatch, tmp_path: Path, kind: type[LocalNode], text: str) -> None:
    script = tmp_path / "fake-node"
    script.write_text(text)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv(OVERRIDE[kind], str(script))


def test_two_nodes_launched_in_parallel_get_their_own_ports_and_state(node_kind):
    with ThreadPoolExecutor(2) as pool:
        nodes = list(pool.map(lambda _: node_kind.launch(), range(2)))
    try:
        assert nodes[0].port != nodes[1].port
        nodes[0].set_balance(ALICE, 12345)
        assert nodes[0].w3.eth.get_balance(ALICE) == 12345
        assert nodes[1].w3.eth.get_balance(ALICE) == 10_000 * 10**18
    finally:
        for node in nodes:
            node.stop()


def test_a_missing_node_binary_says_what_to_do(monkeypatch, tmp_path, node_kind):
    monkeypatch.setenv(OVERRIDE[node_kind], str(tmp_path / "nope"))
    with pytest.raises(ToolchainError, match=OVERRIDE[node_kind]):
        node_kind.launch()
    monkeypatch.delenv(OVERRIDE[node_kind])
    monkeypatch.setenv("HEDGER_PROJECT_ROOT", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path) + ":/usr/bin:/bin")
    with pytest.raises(ToolchainError) as error:
        node_kind.launch()
    assert "make setup" in str(error.value)


def test_a_node_that_dies_at_start_is_reported_with_its_output(monkeypatch, tmp_path, node_kind):
    fake_binary(monkeypatch, tmp_path, node_kind, DIES[node_kind])
    with pytest.raises(NodeError, match=r"(?s)exited with code 3.*cannot bind"):
        node_kind.launch(attempts=1)


def test_a_node_that_never_answers_times_out(monkeypatch, tmp_path, node_kind):
    fake_binary(monkeypatch, tmp_path, node_kind, HANGS[node_kind])
    with pytest.raises(NodeError, match="did not answer"):
        node_kind.launch(timeout_s=0.5, attempts=1)


def test_stop_terminates_the_node_and_frees_its_port(node_kind):
    node = node_kind.launch()
    node.stop()
    assert not node.alive
    with open(LOCK_DIR / f"{node.port}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # would raise if still held
    assert port_is_free(node.port)


def test_a_fork_sees_the_parent_at_the_fork_block_and_not_after(node_kind):
    with node_kind.launch() as parent:
        token = deploy(parent.w3, "TestToken", "Test", "TST", 18, sender=DEPLOYER)
        parent.w3.eth.wait_for_transaction_receipt(token.functions.mint(ALICE, 1).transact({"from": DEPLOYER}))
        fork_block = parent.w3.eth.block_number
        parent.w3.eth.wait_for_transaction_receipt(token.functions.mint(ALICE, 2).transact({"from": DEPLOYER}))

        with node_kind.launch(NodeConfig(fork_url=parent.url, fork_block=fork_block, chain_id=31337)) as fork:
            forked = fork.w3.eth.contract(address=token.address, abi=token.abi)
            assert forked.functions.balanceOf(ALICE).call() == 1
            assert fork.w3.eth.block_number == fork_block + node_kind.blocks_mined_at_fork
            fork.w3.eth.wait_for_transaction_receipt(forked.functions.mint(ALICE, 100).transact({"from": DEPLOYER}))
            assert forked.functions.balanceOf(ALICE).call() == 101
        assert token.functions.balanceOf(ALICE).call() == 3  # the fork's writes stay on the fork

        with pytest.raises(ChainIdMismatch, match="expects 1, the RPC serves 31337"):
            node_kind.launch(NodeConfig(fork_url=parent.url, chain_id=1))


@pytest.mark.anvil_only("Ganache has no state dump/load")
def test_state_dumped_from_one_node_loads_into_another(tmp_path):
    with Anvil.launch() as first:
        token = deploy(first.w3, "TestToken", "Test", "TST", 6, sender=DEPLOYER)
        first.w3.eth.wait_for_transaction_receipt(token.functions.mint(ALICE, 77).transact({"from": DEPLOYER}))
        first.save_state(tmp_path / "state.json")
        dump = first.dump_state()
    with Anvil.launch(NodeConfig(load_state=tmp_path / "state.json")) as second:
        restored = second.w3.eth.contract(address=token.address, abi=token.abi)
        assert restored.functions.balanceOf(ALICE).call() == 77
    with Anvil.launch() as third:
        third.load_state(dump)
        assert third.w3.eth.contract(address=token.address, abi=token.abi).functions.balanceOf(ALICE).call() == 77


def test_ganache_refuses_state_dumps_with_a_typed_error(tmp_path):
    unreachable = Ganache("http://127.0.0.1:9")  # refused before any request is made
    for attempt in (
        unreachable.dump_state,
        lambda: unreachable.load_state("0x"),
        lambda: unreachable.save_state(tmp_path / "s"),
    ):
        with pytest.raises(NodeUnsupported, match="Ganache has no state") as error:
            attempt()
        assert "Anvil" in error.value.hint
    with pytest.raises(NodeUnsupported, match="Ganache has no state files"):
        Ganache.launch(NodeConfig(load_state=tmp_path / "state.json"))


def test_cheat_codes(node):
    w3 = node.w3
    snapshot = node.snapshot()
    try:
        start_block, start_time = w3.eth.block_number, w3.eth.get_block("latest")["timestamp"]
        node.mine(5)
        assert w3.eth.block_number == start_block + 5
        node.increase_time(3600)
        assert w3.eth.get_block("latest")["timestamp"] >= start_time + 3600
        stranger = "0x000000000000000000000000000000000000dEaD"
        node.set_balance(stranger, 10**18)
        node.impersonate(stranger)
        tx = w3.eth.send_transaction({"from": stranger, "to": ALICE, "value": 10**17})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
        node.stop_impersonating(stranger)
        node.set_code(stranger, "0x6001600055")
        assert w3.eth.get_code(stranger).hex().removeprefix("0x") == "6001600055"
        node.set_storage_at(stranger, 7, 42)
        assert int.from_bytes(w3.eth.get_storage_at(stranger, 7), "big") == 42
    finally:
        node.revert(snapshot)
    assert w3.eth.block_number == start_block


def test_the_next_block_gets_the_timestamp_set_whether_mined_or_sent(node):
    w3, snapshot = node.w3, node.snapshot()
    try:
        later = w3.eth.get_block("latest")["timestamp"] + 1000
        node.set_next_block_timestamp(later)
        node.mine()
        assert w3.eth.get_block("latest")["timestamp"] == later
        node.set_next_block_timestamp(later + 50)
        tx = w3.eth.send_transaction({"from": DEPLOYER, "to": ALICE, "value": 1})
        assert w3.eth.get_block(w3.eth.wait_for_transaction_receipt(tx)["blockNumber"])["timestamp"] == later + 50
    finally:
        node.revert(snapshot)


def test_with_automine_off_transactions_wait_for_mine(node):
    w3, snapshot = node.w3, node.snapshot()
    node.set_automine(False)
    try:
        tx = w3.eth.send_transaction({"from": DEPLOYER, "to": ALICE, "value": 1})
        assert w3.eth.get_transaction(tx)["blockNumber"] is None
        node.mine()
        assert w3.eth.get_transaction_receipt(tx)["status"] == 1
    finally:
        node.set_automine(True)
        node.revert(snapshot)


def test_connections_idle_past_the_servers_keep_alive_still_work(node):
    """Node.js servers (Ganache) drop idle keep-alive connections after ~5 s: the node's own w3 and
    hedger's connections must both carry on."""
    hedger_chain = connect(node.url, 31337)
    for w3 in (node.w3, hedger_chain.w3):
        w3.eth.get_block("latest")
    hedger_chain.rpc.request("eth_blockNumber", [])
    time.sleep(6.5)
    for w3 in (node.w3, hedger_chain.w3):
        assert w3.eth.get_block("latest")["number"] >= 0
    assert int(hedger_chain.rpc.request("eth_blockNumber", []), 16) >= 0


def test_a_fork_of_an_upstream_with_a_key_keeps_the_key_off_the_command_line(node_kind):
    """Any user of the host can read a process's command line: the node is given a loopback forwarder instead."""
    with node_kind.launch() as parent:
        upstream = f"{parent.url}/?apikey=SECRETAPIKEY123"
        with node_kind.launch(NodeConfig(fork_url=upstream, chain_id=31337)) as fork:
            command_line = Path(f"/proc/{fork.child.process.pid}/cmdline").read_bytes()
            assert b"SECRETAPIKEY123" not in command_line and b"127.0.0.1" in command_line
            assert fork.w3.eth.get_balance(DEPLOYER) == parent.w3.eth.get_balance(DEPLOYER)
            forwarder = fork.child.forwarder
            assert forwarder is not None
        with pytest.raises(OSError):  # stopped with the node
            urllib.request.urlopen(forwarder.url, data=b"{}", timeout=2)
