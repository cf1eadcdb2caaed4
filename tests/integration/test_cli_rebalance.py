"""`hedger plan`, `hedger rebalance` (a dry run on a fork: nothing sent) and `hedger chain up`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from hedger.app.cli import EXIT_ERROR, EXIT_HALTED, EXIT_OK, main
from hedger.chain.nodes import DEV_ACCOUNTS, reserve_port
from hedger.chain.universe import write_network_file
from hedger.settings import load_network

pytestmark = pytest.mark.integration


@pytest.fixture
def network_file(chain, tmp_path, monkeypatch):
    write_network_file(chain.universe, tmp_path / "local.toml")
    for variable in ("HEDGER_ACCOUNT", "HEDGER_KEYSTORE", "HEDGER_RPC_LOCAL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HEDGER_PRIVATE_KEY", DEV_ACCOUNTS[1][1])
    monkeypatch.setenv("HEDGER_JOURNAL", str(tmp_path / "journal.sqlite"))
    monkeypatch.chdir(tmp_path)
    return str(tmp_path / "local.toml")


def test_plan_json_names_actions_and_reasons(network_file, capsys):
    assert main(["plan", "--network", network_file, "--json", "--ratio", "ETH=0.5"]) == EXIT_OK
    plan = json.loads(capsys.readouterr().out)
    assert plan["verdict"] == "allow"
    eth = next(a for a in plan["actions"] if a["symbol"] == "ETH" and a["kind"] == "open")
    assert Decimal(eth["size_delta"]) == Decimal("-5.5")  # half of 11 ETH held
    assert eth["reason"]["code"] == "rebalance" and Decimal(eth["acceptable_price"]) < 3000


def test_a_dry_run_sends_nothing_and_shows_the_exposure_after(chain, network_file, capsys):
    demo = chain.universe.demo_account
    nonce, block = chain.w3.eth.get_transaction_count(demo), chain.w3.eth.block_number
    assert main(["rebalance", "--network", network_file, "--json"]) == EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert out["mode"].startswith("dry run: executed on an Anvil fork of block")
    assert {o["status"] for o in out["report"]["outcomes"]} == {"done"}
    after = {e["asset"]: e for e in out["exposure_after"]}
    assert Decimal(after["ETH"]["perp"]) == Decimal(-11) and Decimal(after["BTC"]["perp"]) == Decimal("-0.5")
    assert chain.w3.eth.get_transaction_count(demo) == nonce and chain.w3.eth.block_number == block
    assert chain.perp.functions.openMarkets(demo).call() == []


def test_a_halted_plan_exits_3_and_sends_nothing(chain, network_file, capsys):
    chain.transact(chain.feed("ETH/USD").functions.setReverting(True))
    chain.transact(chain.feed("ETH/USD-2").functions.setReverting(True))
    nonce = chain.w3.eth.get_transaction_count(chain.universe.demo_account)
    assert main(["rebalance", "--network", network_file, "--execute"]) == EXIT_HALTED
    out = capsys.readouterr().out
    assert "verdict halt" in out
    assert "Execution (halted by the guards)" in out and "executed on chain" not in out
    assert chain.w3.eth.get_transaction_count(chain.universe.demo_account) == nonce


def test_chain_up_deploys_writes_the_network_file_and_stops_on_ctrl_c(tmp_path, node_kind):
    port, lock = reserve_port()
    lock.close()  # hand the port to the child
    path = tmp_path / "local.toml"
    command = [sys.executable, "-m", "hedger.app.cli", "chain", "up", "--node", node_kind.name.lower()]
    command += ["--port", str(port), "--network-file", str(path), "--history-days", "5"]  # Ganache seeds slowly
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        started = time.monotonic()
        while not path.exists() and time.monotonic() - started < 60 and proc.poll() is None:
            time.sleep(0.05)
        network = load_network(str(path))
        assert network.chain_id == 31337 and network.rpc_url() == f"http://127.0.0.1:{port}"
        assert set(network.venues["reference"].markets) == {"ETH", "BTC"}
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.startswith(f"{node_kind.name} http://127.0.0.1:{port}") and "HEDGER_PRIVATE_KEY=" in out
    assert "ready with the reference universe" in out
    assert "Feeds seeded with 120 hourly rounds" in out


def test_chain_up_names_the_node_kinds_when_given_another(capsys):
    assert main(["chain", "up", "--node", "hardhat"]) == EXIT_ERROR
    assert "unknown node kind 'hardhat'" in capsys.readouterr().err
